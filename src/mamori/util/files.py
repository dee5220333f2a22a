"""Reading small files (keys, secrets, certificates) that may be hostile or huge."""

from __future__ import annotations

from pathlib import Path


def read_bounded(path: str | Path, limit: int, what: str, error: type[Exception] = ValueError) -> bytes:
    """At most ``limit`` bytes of ``path``; ``error`` says which file and why, never its contents."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{what} {path} is larger than {limit} bytes")
    return data
