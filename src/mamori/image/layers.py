"""Open a layer blob as a verified, decompressed, bounded tar stream.

The blob digest is checked on the compressed bytes and the config's diff_id on the uncompressed
ones; both only at the end of the stream, so callers must call ``LayerStream.finish``.

Speed: tarfile reads 512-byte headers and skips member data; through ``gzip.GzipFile`` and
stream-mode tarfile that was ~40k small reads per Debian layer. ``_Uncompressed`` instead
decompresses 1 MiB of input at a time into one buffer and serves tarfile's reads and (forward-only)
seeks from it, so tarfile runs in its plain "r:" mode without the stream-mode double buffering.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zlib
from collections.abc import Callable
from typing import IO, cast

from mamori.image.digest import VerifyingReader, parse
from mamori.image.errors import ImageError
from mamori.image.limits import Limits

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20  # compressed bytes read at a time
MAX_OUT = 4 << 20  # uncompressed bytes produced per step (bounds memory against bombs)


class _Gunzip:
    """Multi-member gzip (as ``gzip.GzipFile`` reads it, zero padding between members allowed)."""

    def __init__(self, src: Callable[[int], bytes]) -> None:
        self._src = src
        self._d = zlib.decompressobj(wbits=31)
        self._pending = b""  # compressed input not yet given to the decompressor
        self._eof = False

    def __call__(self) -> bytes:
        """The next block of uncompressed bytes (at most MAX_OUT), b"" at the end."""
        while not self._eof:
            if self._d.eof:
                rest = self._d.unused_data + self._pending
                self._pending = b""
                rest = rest.lstrip(b"\x00")
                while not rest:
                    more = self._src(CHUNK)
                    if not more:
                        self._eof = True
                        return b""
                    rest = more.lstrip(b"\x00")
                if rest[:1] != GZIP_MAGIC[:1] or (len(rest) > 1 and rest[:2] != GZIP_MAGIC):
                    raise OSError("Not a gzipped file (trailing garbage after a gzip member)")
                self._d = zlib.decompressobj(wbits=31)
                self._pending = rest
            data = self._d.unconsumed_tail or self._pending
            self._pending = b""
            if not data:
                data = self._src(CHUNK)
                if not data:  # input ended inside a member: zlib may still hold output, then it is truncated
                    out = self._d.decompress(b"", MAX_OUT)
                    if out:
                        return out
                    if self._d.eof:
                        continue
                    raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            out = self._d.decompress(data, MAX_OUT)
            if out:
                return out
        return b""


class _Uncompressed(io.RawIOBase):
    """The uncompressed layer as a forward-only stream: counts, bounds and hashes every byte produced.

    ``seek`` accepts only positions at or after the current one (tarfile in "r:" mode only skips
    forward when every member is read in order); skipped bytes are still decompressed and hashed.
    """

    def __init__(self, produce: Callable[[], bytes], compressed: VerifyingReader | None, diff_id: str | None,
                 limits: Limits, what: str) -> None:
        super().__init__()
        self._produce, self._compressed, self._limits, self._what = produce, compressed, limits, what
        self._diff_id = diff_id
        self._hash = hashlib.new(parse(diff_id)[0]) if diff_id else None
        self._buf = b""
        self._off = 0  # read position inside _buf
        self._pos = 0  # absolute position of the reader
        self._eof = False
        self.count = 0  # uncompressed bytes produced so far

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def _fill(self) -> bool:
        """Produce the next block into the buffer; False at the end of the stream."""
        if self._eof:
            return False
        data = self._produce()
        if not data:
            self._eof = True
            return False
        self.count += len(data)
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
        rest = len(self._buf) - self._off
        self._buf = self._buf[self._off:] + data if rest else data
        self._off = 0
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            parts = [self._buf[self._off:]]
            self._buf, self._off = b"", 0
            while self._fill():
                parts.append(self._buf)
                self._buf = b""
            out = b"".join(parts)
            self._pos += len(out)
            return out
        while len(self._buf) - self._off < n and self._fill():
            pass
        out = self._buf[self._off:self._off + n]
        self._off += len(out)
        self._pos += len(out)
        return out

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self._pos
        elif whence != io.SEEK_SET:
            raise OSError("layer stream: only forward seeks are supported")
        if pos < self._pos:
            raise OSError("layer stream: backward seek (members must be read in order)")
        skip = pos - self._pos
        while skip:
            avail = len(self._buf) - self._off
            if avail == 0:
                if not self._fill():
                    break  # past the end, like a file: later reads return b""
                continue
            step = min(avail, skip)
            self._off += step
            skip -= step
        if self._off == len(self._buf):
            self._buf, self._off = b"", 0
        self._pos = pos
        return pos

    def drain(self) -> None:
        self._buf, self._off = b"", 0
        while self._fill():
            self._buf, self._off = b"", 0

    def check_diff_id(self) -> None:
        if self._hash is None or self._diff_id is None:
            return
        got = f"{self._hash.name}:{self._hash.hexdigest()}"
        if got != self._diff_id:
            raise ImageError(f"{self._what}: uncompressed digest {got} does not match the config's diff_id "
                             f"{self._diff_id}")


class LayerStream:
    """``tar`` is a TarFile over the layer, read strictly in order; ``finish`` drains and verifies it."""

    def __init__(self, raw: IO[bytes], digest: str | None, size: int | None, diff_id: str | None,
                 limits: Limits, what: str) -> None:
        self._verifier = VerifyingReader(raw, digest, size, what) if digest else None
        src: IO[bytes] = self._verifier if self._verifier is not None else raw  # type: ignore[assignment]
        try:
            head = src.read(4)
            while 0 < len(head) < 4:  # a raw stream may return short reads
                more = src.read(4 - len(head))
                if not more:
                    break
                head += more
        except OSError as exc:
            raise ImageError(f"{what}: cannot read: {exc}") from None
        first = [head]

        def read(n: int) -> bytes:
            if first:
                return first.pop() + src.read(n)
            return src.read(n)

        produce: Callable[[], bytes]
        if head[:2] == GZIP_MAGIC:
            produce = _Gunzip(read)
            self.compression = "gzip"
        elif head == ZSTD_MAGIC:
            produce = _zstd(read, what)
            self.compression = "zstd"
        else:
            produce = lambda: read(CHUNK)  # noqa: E731
            self.compression = "none"
        ratio_src = self._verifier if self.compression != "none" else None
        self._bounded = _Uncompressed(produce, ratio_src, diff_id, limits, what)
        try:
            self.tar = tarfile.open(fileobj=self._bounded, mode="r:")  # noqa: SIM115
        except tarfile.TarError as exc:
            if isinstance(exc.__context__, zlib.error):  # tarfile wraps a zlib error of a small, whole-read layer
                raise ImageError(f"{what}: corrupt compressed stream: {exc}") from None
            raise ImageError(f"{what}: not a tar layer: {exc}") from None
        except (OSError, EOFError, zlib.error) as exc:  # a small layer is decompressed whole right here
            raise ImageError(f"{what}: corrupt compressed stream: {exc}") from None
        except Exception as exc:
            if type(exc).__name__ == "ZstdError":
                raise ImageError(f"{what}: corrupt zstd stream: {exc}") from None
            raise
        self.what = what

    def member_data(self, m: tarfile.TarInfo) -> bytes:
        """The current member's bytes, read straight from the buffer (tarfile's ExFileObject is ~8 KiB reads).

        Sparse members, or a member that is not the one just read, go through ``extractfile``.
        """
        if m.sparse is None and self._bounded.tell() == m.offset_data:
            data = self._bounded.read(m.size)
            if len(data) != m.size:
                raise tarfile.ReadError("unexpected end of data")
            return data
        fh = self.tar.extractfile(m)
        return fh.read() if fh is not None else b""

    @property
    def uncompressed(self) -> int:
        return self._bounded.count

    def finish(self) -> None:
        try:
            self._bounded.drain()
        except (OSError, EOFError, zlib.error) as exc:
            raise ImageError(f"{self.what}: corrupt compressed stream: {exc}") from None
        except Exception as exc:
            if type(exc).__name__ == "ZstdError":
                raise ImageError(f"{self.what}: corrupt zstd stream: {exc}") from None
            raise
        self._bounded.check_diff_id()
        if self._verifier is not None:
            self._verifier.finish()


class _ReadAdapter(io.RawIOBase):
    """A ``read(n)`` function as a raw stream (what zstandard's stream_reader wants)."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        super().__init__()
        self._read = read

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        return self._read(CHUNK if n is None or n < 0 else n)

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._read(len(buf))
        buf[:len(data)] = data
        return len(data)


def _zstd(read: Callable[[int], bytes], what: str) -> Callable[[], bytes]:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - pinned dependency
        raise ImageError(f"{what} is zstd-compressed and the zstandard module is not installed") from None
    reader = zstandard.ZstdDecompressor().stream_reader(cast(IO[bytes], _ReadAdapter(read)), read_across_frames=True)
    return lambda: reader.read(MAX_OUT)
