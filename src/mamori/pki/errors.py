"""One exception type for the PKI, so the CLI prints one clear line."""

from __future__ import annotations


class PkiError(Exception):
    """The PKI directory, a key, a certificate or a chain is unusable or does not verify."""
