"""Contents of the files ``docker diff`` reports as added or changed, through the archive API.

The daemon's path stat (``X-Docker-Container-Path-Stat``) decides first: directories, links,
devices, FIFOs and sockets are recorded (mode, link target) without reading their tar. A regular
file's tar is read in stream mode and only its single regular member is kept, bounded, and
written under ``container/fs/`` by the bundle writer; a tar that holds anything else (a link
swapped in after the stat, a name that is not the requested one, a traversal) is refused.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mamori.forensics.bundle import BINARY, BundleWriter
from mamori.forensics.errors import ForensicsError
from mamori.forensics.paths import container_rel

KINDS = {0: "modified", 1: "added", 2: "deleted"}
# Go's fs.FileMode type bits, as the daemon reports them in the path stat
_TYPE_BITS = {1 << 31: "directory", 1 << 27: "symlink", 1 << 26: "device", 1 << 25: "fifo", 1 << 24: "socket",
              1 << 21: "char-device", 1 << 19: "irregular"}


@dataclass(frozen=True, slots=True)
class FileLimits:
    max_entries: int = 100_000  # diff entries looked at
    max_file: int = 8 << 20  # bytes of one file kept
    max_total: int = 256 << 20  # bytes of all files kept


def kind_of(value: object) -> str:
    """``docker diff``'s Kind as a word (a daemon sending anything else gets "unknown")."""
    return KINDS.get(value, "unknown") if isinstance(value, int) and not isinstance(value, bool) else "unknown"


def file_type(mode: int) -> str:
    for bit, name in _TYPE_BITS.items():
        if mode & bit:
            return name
    return "file"


class _ChunkReader(io.RawIOBase):
    """A file object over the archive API's chunk iterator (tarfile's stream mode reads from it)."""

    def __init__(self, chunks: Iterator[bytes], limit: int) -> None:
        self._it, self._buf, self._limit, self.total = chunks, b"", limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
            self.total += len(self._buf)
            if self.total > self._limit:
                raise ForensicsError(f"archive stream larger than {self._limit} bytes")
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _read_member(chunks: Iterator[bytes], want: str, limit: int) -> bytes:
    """The single regular member named ``want`` (the path's base name), at most ``limit`` bytes."""
    reader = _ChunkReader(chunks, limit + 64 * 1024)
    data: bytes | None = None
    with tarfile.open(fileobj=io.BufferedReader(reader), mode="r|") as tar:
        for m in tar:
            name = m.name.rstrip("/")
            if posixpath.normpath(name) != want or name.startswith("/") or ".." in name.split("/"):
                raise ForensicsError(f"archive holds an unexpected member {m.name[:200]!r}")
            if not m.isreg():
                raise ForensicsError("archive member is not a regular file (changed since its stat?)")
            if data is not None:
                raise ForensicsError("archive holds the file twice")
            if m.size > limit:
                raise ForensicsError(f"larger than {limit} bytes")
            fh = tar.extractfile(m)
            data = fh.read(limit + 1) if fh is not None else b""
    if data is None:
        raise ForensicsError("archive holds no member")
    return data


def collect_files(api: Any, cid: str, changes: list[dict[str, Any]], bundle: BundleWriter,
                  limits: FileLimits) -> list[dict[str, Any]]:
    """One index row per diff entry: what it is and whether (and where) its content was kept."""
    index: list[dict[str, Any]] = []
    total = 0
    for n, ch in enumerate(changes):
        path, kind = ch.get("Path"), kind_of(ch.get("Kind"))
        if not isinstance(path, str):
            continue
        row: dict[str, Any] = {"path": path, "change": kind}
        index.append(row)
        if n >= limits.max_entries:
            row["status"] = f"not examined: more than {limits.max_entries} changes"
            continue
        if kind not in ("added", "modified"):
            row["status"] = kind
            continue
        rel = container_rel(path)
        if rel is None:
            row["status"] = "refused: unsafe path"
            continue
        try:
            st = _stat(api, cid, path)
        except Exception as exc:  # noqa: BLE001 - the file may have gone since the diff; record why
            row["status"] = f"unavailable: {_short(exc)}"
            continue
        mode = int(st.get("mode", 0))
        ftype = file_type(mode)
        row.update(type=ftype, mode=oct(mode & 0o7777), size=st.get("size"), mtime=st.get("mtime"))
        if ftype == "symlink":
            row["link_target"] = str(st.get("linkTarget", ""))[:4096]
        if ftype != "file":
            row["status"] = "metadata only"
            continue
        size = int(st.get("size", 0))
        if size > limits.max_file:
            row["status"] = f"omitted: {size} bytes is over the per-file limit of {limits.max_file}"
            continue
        if total + size > limits.max_total:
            row["status"] = f"omitted: the total limit of {limits.max_total} bytes is reached"
            continue
        stream = None
        try:
            stream, _ = api.get_archive(cid, path, chunk_size=256 * 1024)
            data = _read_member(iter(stream), posixpath.basename(path), min(limits.max_file, limits.max_total - total))
            total += len(data)
            art = bundle.put_bytes(rel, data, BINARY, "file", {
                "endpoint": "GET /containers/{id}/archive", "container_path": path, "change": kind})
            row.update(status="stored", artifact=art.path, sha256=art.sha256)
        except ForensicsError as exc:
            row["status"] = f"refused: {exc}"
        except Exception as exc:  # noqa: BLE001 - a daemon error or a broken tar: recorded for this file
            row["status"] = f"refused: unreadable archive ({_short(exc)})"
        finally:
            close = getattr(stream, "close", None)
            if callable(close):
                close()
    return index


def _stat(api: Any, cid: str, path: str) -> dict[str, Any]:
    """The daemon's stat of ``path`` (HEAD on the archive endpoint: no tar is sent)."""
    import base64
    import json

    res = api.head(api._url("/containers/{0}/archive", cid), params={"path": path})
    api._raise_for_status(res)
    header = res.headers.get("X-Docker-Container-Path-Stat", "")
    if not header or len(header) > 64 * 1024:
        raise ForensicsError("the daemon sent no path stat")
    st = json.loads(base64.b64decode(header))
    if not isinstance(st, dict) or not all(isinstance(st.get(k, 0), int) for k in ("mode", "size")):
        raise ForensicsError("the daemon sent a malformed path stat")
    return st


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]
