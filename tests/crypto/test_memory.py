"""Streaming keeps memory bounded: 50 MiB sealed and unsealed with a peak of a few segments."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

from mamori.crypto import seal_stream, unseal_stream
from mamori.crypto.keyring import Keyring

SIZE = 50 << 20
BOUND = 2 << 20  # peak Python allocations while streaming: a few 64 KiB segments, far below the 50 MiB


class Generated:
    """A readable stream of SIZE pseudo-random bytes that is never held in memory at once."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        chunk = os.urandom(n)
        self.left -= len(chunk)
        self.digest.update(chunk)
        return chunk


class HashSink:
    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def test_fifty_mib_with_bounded_peak_memory(ring: Keyring, tmp_path: Path) -> None:
    wrapper = ring.wrapper()
    sealed = tmp_path / "big.sealed"
    src = Generated(SIZE)
    tracemalloc.start()
    try:
        with sealed.open("wb") as dst:
            seal_stream(src, dst, [wrapper])  # type: ignore[arg-type]
        _, seal_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sink = HashSink()
        with sealed.open("rb") as fh:
            unseal_stream(fh, sink, [wrapper])  # type: ignore[arg-type]
        _, unseal_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sealed.stat().st_size > SIZE
    assert sink.size == SIZE and sink.digest.digest() == src.digest.digest()
    assert seal_peak < BOUND, f"seal peak {seal_peak} bytes"
    assert unseal_peak < BOUND, f"unseal peak {unseal_peak} bytes"
