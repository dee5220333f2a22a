"""Reading a bundle for verification, a directory or a tar, without extracting anything.

Every regular file is hashed where it lies (a directory) or as its tar member streams past
(a tar); links, devices, FIFOs, unsafe names and duplicate tar members are reported, never
followed or written. The three signature files are kept in memory (bounded).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mamori.forensics.errors import ForensicsError
from mamori.forensics.paths import MANIFEST, RESERVED, check_rel

MAX_MANIFEST = 64 * 1024 * 1024
MAX_SMALL = 64 * 1024
MAX_MEMBERS = 1_000_000
BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class Seen:
    sha256: str
    size: int


@dataclass
class BundleContents:
    files: dict[str, Seen] = field(default_factory=dict)  # every regular file but the reserved three
    special: dict[str, bytes] = field(default_factory=dict)  # manifest.json, manifest.sig, signer.pem
    oversized: list[str] = field(default_factory=list)  # reserved files over their bound
    unexpected: list[tuple[str, str]] = field(default_factory=list)  # (name, why): links, devices, bad names


def _limit(name: str) -> int:
    return MAX_MANIFEST if name == MANIFEST else MAX_SMALL


def _take(out: BundleContents, name: str, fh: IO[bytes]) -> None:
    if name in RESERVED:
        data = fh.read(_limit(name) + 1)
        if len(data) > _limit(name):
            out.oversized.append(name)
        else:
            out.special[name] = data
        return
    h = hashlib.sha256()
    size = 0
    for block in iter(lambda: fh.read(BLOCK), b""):
        h.update(block)
        size += len(block)
    out.files[name] = Seen(h.hexdigest(), size)


def read_dir(root: Path) -> BundleContents:
    out = BundleContents()
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=_raise):
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            full = base / name
            rel = full.relative_to(root).as_posix()
            st = full.lstat()
            if stat.S_ISDIR(st.st_mode):
                continue
            count += 1
            if count > MAX_MEMBERS:
                raise ForensicsError(f"{root} holds more than {MAX_MEMBERS} files")
            if not stat.S_ISREG(st.st_mode):
                out.unexpected.append((rel, "not a regular file (link, device, FIFO or socket)"))
                continue
            why = check_rel(rel)
            if why:
                out.unexpected.append((rel, f"unsafe name: {why}"))
                continue
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as fh:
                _take(out, rel, fh)
    return out


def _raise(exc: OSError) -> None:
    raise ForensicsError(f"cannot read {exc.filename}: {exc.strerror or exc}")


def read_tar(path: Path) -> BundleContents:
    out = BundleContents()
    try:
        with tarfile.open(path, mode="r|*") as tar:
            count = 0
            for m in tar:
                count += 1
                if count > MAX_MEMBERS:
                    raise ForensicsError(f"{path} holds more than {MAX_MEMBERS} members")
                name = m.name[2:] if m.name.startswith("./") else m.name
                name = name.rstrip("/") if m.isdir() else name
                if m.isdir():
                    if name in ("", ".") or not check_rel(name):
                        continue
                    out.unexpected.append((m.name, "directory with an unsafe name"))
                    continue
                if not m.isreg():
                    out.unexpected.append((m.name, "not a regular file (link, device, FIFO)"))
                    continue
                why = check_rel(name)
                if why:
                    out.unexpected.append((m.name, f"unsafe name: {why}"))
                    continue
                if name in out.files or name in out.special:
                    out.unexpected.append((name, "duplicate tar member (extraction would keep the last copy)"))
                    continue
                fh = tar.extractfile(m)
                if fh is None:
                    out.unexpected.append((name, "unreadable member"))
                    continue
                _take(out, name, fh)
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise ForensicsError(f"{path} is not a readable tar: {exc}") from None
    return out


def read_bundle(path: str) -> BundleContents:
    p = Path(path)
    if p.is_symlink():
        raise ForensicsError(f"{path} is a symbolic link; give the bundle itself")
    if p.is_dir():
        return read_dir(p)
    if p.is_file():
        return read_tar(p)
    raise ForensicsError(f"{path}: no such bundle (a directory or a tar file)")
