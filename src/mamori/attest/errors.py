"""One exception type for attestations, so the CLI prints one clear line."""

from __future__ import annotations


class AttestError(Exception):
    """An envelope, statement, predicate or ``.att`` object is unusable or does not verify."""
