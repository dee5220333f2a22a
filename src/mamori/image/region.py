"""A byte range of an open file, read with ``pread``: how plain layers on disk are read fast.

A ``docker save`` archive, a spooled daemon export and an OCI layout keep uncompressed layers as
plain byte ranges of a local file. Streaming those through a buffer copies every byte twice and
walks each member's data in Python; reading headers and wanted members at their offsets touches
only what the catalogers need, while ``PlainLayer``'s thread hashes the whole range on the other
core (``pread`` and ``hashlib`` release the GIL). Nothing is trusted before that hash is checked.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from typing import IO

from mamori.image.digest import parse
from mamori.image.errors import ImageError

HASH_BLOCK = 16 << 20
READ_AHEAD = 32 << 10  # most members of a layer are smaller: one pread serves several headers


class FileRegion(io.RawIOBase):
    """``size`` bytes of ``fh`` from ``offset``; also a plain forward stream for any other reader.

    ``pread`` leaves the file's own position alone, so an enclosing reader (tarfile over the whole
    archive) is not disturbed. ``owned``: closing the region closes ``fh``.
    """

    def __init__(self, fh: IO[bytes], offset: int, size: int, owned: bool = False) -> None:
        super().__init__()
        self.fh, self.fd, self.offset, self.size, self._owned = fh, fh.fileno(), offset, size, owned
        self._pos = 0

    @classmethod
    def of_file(cls, fh: IO[bytes]) -> FileRegion:
        """The whole of a regular file just opened (closed with the region)."""
        return cls(fh, 0, os.fstat(fh.fileno()).st_size, owned=True)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}.get(whence)
        if base is None or base + pos < 0:
            raise OSError(f"invalid seek ({pos}, {whence})")
        self._pos = base + pos
        return self._pos

    def tell(self) -> int:
        return self._pos

    def part(self, offset: int, size: int) -> FileRegion:
        """``size`` bytes from ``offset`` inside this region (same file, not owned), clipped to the region."""
        offset = max(0, min(offset, self.size))
        return FileRegion(self.fh, self.offset + offset, max(0, min(size, self.size - offset)))

    def pread(self, n: int, at: int) -> bytes:
        """Up to ``n`` bytes at ``at`` (relative to the region); short only at its end (or a truncated file)."""
        n = max(0, min(n, self.size - at))
        if n == 0:
            return b""
        out = os.pread(self.fd, n, self.offset + at)
        while len(out) < n:  # pread may return short on some file systems; b"" means the file shrank
            more = os.pread(self.fd, n - len(out), self.offset + at + len(out))
            if not more:
                break
            out += more
        return out

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.pread(len(buf), self._pos)
        buf[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        if self._owned and not self.closed:
            self.fh.close()
        super().close()


class PlainLayer:
    """An uncompressed layer region: random reads for the tar parser, a hashing thread for the digests.

    The bytes must hash to the blob ``digest`` and to the config's ``diff_id`` (for a plain layer
    both name the same bytes, so each algorithm is computed once). ``finish`` waits for the thread
    and raises on any mismatch; ``close`` stops it early.
    """

    def __init__(self, region: FileRegion, digest: str | None, diff_id: str | None, what: str) -> None:
        self.region, self.what, self.count = region, what, region.size
        self._digest, self._diff_id = digest, diff_id
        self._hashes = {alg: hashlib.new(alg) for alg in {parse(d)[0] for d in (digest, diff_id) if d}}
        self._pos = 0
        self._buf, self._buf_at = b"", 0
        self._stop = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._hash_all, name="mamori-layer-hash", daemon=True)
        if self._hashes:
            self._thread.start()

    def _hash_all(self) -> None:
        buf = bytearray(HASH_BLOCK)
        view = memoryview(buf)
        at, end, fd, base = 0, self.region.size, self.region.fd, self.region.offset
        hashes = list(self._hashes.values())
        try:
            while at < end and not self._stop.is_set():
                n = os.preadv(fd, [view[:min(HASH_BLOCK, end - at)]], base + at)
                if n <= 0:
                    self._error = f"{self.what}: the file ends {end - at} bytes before the layer's end"
                    return
                for h in hashes:
                    h.update(view[:n])
                at += n
        except OSError as exc:
            self._error = f"{self.what}: cannot read: {exc.strerror or exc}"

    # the tar parser's view: read forward, skip, tell
    def read(self, n: int) -> bytes:
        """``n`` bytes forward; small reads (headers, small files) come from one read-ahead block."""
        off = self._pos - self._buf_at
        if off >= 0 and off + n <= len(self._buf):
            data = self._buf[off:off + n]
        elif n >= READ_AHEAD:
            data = self.region.pread(n, self._pos)
        else:
            self._buf, self._buf_at = self.region.pread(READ_AHEAD, self._pos), self._pos
            data = self._buf[:n]
        self._pos += len(data)
        return data

    def skip(self, n: int) -> bool:
        self._pos += n
        return self._pos <= self.region.size

    def tell(self) -> int:
        return self._pos

    def finish(self) -> None:
        """Wait for the hash of the whole range; raise unless every expected digest matches."""
        self._join()
        if self._error:
            raise ImageError(self._error)
        if self._diff_id and self._diff_id != self._digest and (got := self._got(self._diff_id)) != self._diff_id:
            raise ImageError(f"{self.what}: uncompressed digest {got} does not match the config's diff_id "
                             f"{self._diff_id}")
        if self._digest and (got := self._got(self._digest)) != self._digest:
            raise ImageError(f"digest mismatch for {self.what}: expected {self._digest}, got {got}")

    def _got(self, expected: str) -> str:
        alg = parse(expected)[0]
        return f"{alg}:{self._hashes[alg].hexdigest()}"

    def close(self) -> None:
        """Stop hashing (idempotent); the verdict is then unknown, so only call it to give up."""
        self._stop.set()
        self._join()

    def _join(self) -> None:
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join()
