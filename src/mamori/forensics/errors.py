"""The one error type of the forensics package: its message is safe to print as is."""

from __future__ import annotations


class ForensicsError(Exception):
    """A capture or verification that cannot proceed (bad input, unreachable daemon, unreadable bundle)."""
