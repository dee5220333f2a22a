"""Errors of sealing and unsealing: one clear message each, never a key or plaintext."""

from __future__ import annotations


class SealError(Exception):
    """Base class: anything that stops a seal, unseal or rewrap."""


class FormatError(SealError):
    """Not a sealed file, an unsupported version, or a malformed header."""


class IntegrityError(SealError):
    """Authentication failed: the file was damaged, truncated, reordered or tampered with."""


class KeyUnavailable(SealError):
    """No configured key can unwrap the data key (wrong key, wrong passphrase, no access)."""


class ContextMismatch(SealError):
    """The file's encryption context is not the one the caller expects."""
