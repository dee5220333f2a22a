"""Open a layer blob as a verified, decompressed, bounded tar stream.

The blob digest is checked on the compressed bytes and the config's diff_id on the uncompressed
ones; both only at the end of the stream, so callers must call ``LayerStream.finish``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zlib
from typing import IO

from mamori.image.digest import VerifyingReader, parse
from mamori.image.errors import ImageError
from mamori.image.limits import Limits

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class _Bounded(io.RawIOBase):
    """Counts uncompressed bytes, enforces the absolute and ratio bounds, hashes for the diff_id."""

    def __init__(self, inner: IO[bytes], compressed: VerifyingReader | None, diff_id: str | None,
                 limits: Limits, what: str) -> None:
        super().__init__()
        self._inner, self._compressed, self._limits, self._what = inner, compressed, limits, what
        self._diff_id = diff_id
        self._hash = hashlib.new(parse(diff_id)[0]) if diff_id else None
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buf))
        n = len(data)
        buf[:n] = data
        self.count += n
        if self._hash is not None:
            self._hash.update(data)
        lim = self._limits
        if self.count > lim.max_layer_bytes:
            raise ImageError(f"{self._what}: more than {lim.max_layer_bytes} bytes uncompressed "
                             "(decompression bomb or oversized layer); refused")
        if self._compressed is not None and self.count > lim.ratio_floor:
            ratio = self.count / max(self._compressed.count, 1)
            if ratio > lim.max_ratio:
                raise ImageError(f"{self._what}: compression ratio above {lim.max_ratio}:1 "
                                 "(decompression bomb); refused")
        return n

    def check_diff_id(self) -> None:
        if self._hash is None or self._diff_id is None:
            return
        got = f"{self._hash.name}:{self._hash.hexdigest()}"
        if got != self._diff_id:
            raise ImageError(f"{self._what}: uncompressed digest {got} does not match the config's diff_id "
                             f"{self._diff_id}")


class LayerStream:
    """``tar`` is a stream-mode TarFile over the layer; ``finish`` drains and verifies it."""

    def __init__(self, raw: IO[bytes], digest: str | None, size: int | None, diff_id: str | None,
                 limits: Limits, what: str) -> None:
        self._verifier = VerifyingReader(raw, digest, size, what) if digest else None
        src: IO[bytes] = self._verifier if self._verifier is not None else raw  # type: ignore[assignment]
        buffered = io.BufferedReader(src, 1 << 16)  # type: ignore[type-var]
        try:
            head = buffered.peek(4)[:4]
        except OSError as exc:
            raise ImageError(f"{what}: cannot read: {exc}") from None
        inner: IO[bytes]
        if head[:2] == GZIP_MAGIC:
            inner = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
            self.compression = "gzip"
        elif head == ZSTD_MAGIC:
            inner = _zstd(buffered, what)
            self.compression = "zstd"
        else:
            inner = buffered
            self.compression = "none"
        ratio_src = self._verifier if self.compression != "none" else None
        self._bounded = _Bounded(inner, ratio_src, diff_id, limits, what)
        try:
            self.tar = tarfile.open(fileobj=io.BufferedReader(self._bounded, 1 << 16), mode="r|")  # noqa: SIM115
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ImageError(f"{what}: not a tar layer: {exc}") from None
        self.what = what

    @property
    def uncompressed(self) -> int:
        return self._bounded.count

    def finish(self) -> None:
        try:
            while self._bounded.read(1 << 20):
                pass
        except (OSError, EOFError, zlib.error) as exc:
            raise ImageError(f"{self.what}: corrupt compressed stream: {exc}") from None
        except Exception as exc:
            if type(exc).__name__ == "ZstdError":
                raise ImageError(f"{self.what}: corrupt zstd stream: {exc}") from None
            raise
        self._bounded.check_diff_id()
        if self._verifier is not None:
            self._verifier.finish()


def _zstd(src: IO[bytes], what: str) -> IO[bytes]:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - pinned dependency
        raise ImageError(f"{what} is zstd-compressed and the zstandard module is not installed") from None
    reader: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(src, read_across_frames=True)
    return reader
