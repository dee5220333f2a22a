"""One exception type for signing and verification, so the CLI prints one clear line."""

from __future__ import annotations


class SignError(Exception):
    """A key, payload, signature or registry object is unusable or does not verify."""
