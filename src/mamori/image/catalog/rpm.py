"""rpm: the SQLite rpmdb (``/var/lib/rpm/rpmdb.sqlite``), header blobs parsed here.

Berkeley DB (``/var/lib/rpm/Packages``) and NDB (``/usr/lib/sysimage/rpm/Packages.db``) databases
are detected and reported as not read.
"""

from __future__ import annotations

import sqlite3
import struct
from dataclasses import dataclass

from mamori.image.catalog import purl
from mamori.image.catalog.model import OsRelease, Package
from mamori.image.fsview import FsView

SQLITE = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
LEGACY = {"/var/lib/rpm/Packages": "Berkeley DB", "/usr/lib/sysimage/rpm/Packages.db": "NDB"}
NAME, VERSION, RELEASE, EPOCH, LICENSE, ARCH, SOURCERPM = 1000, 1001, 1002, 1003, 1014, 1022, 1044
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118
INT32, STRING, STRING_ARRAY, I18NSTRING = 4, 6, 8, 9
MAX_INDEX = 100_000
MAX_DATA = 64 << 20
MAX_PACKAGES = 100_000


class HeaderError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Header:
    tags: dict[int, str | list[str] | list[int]]

    def text(self, tag: int) -> str:
        v = self.tags.get(tag)
        if isinstance(v, str):
            return v
        if isinstance(v, list) and v and isinstance(v[0], str):
            return v[0]
        return ""

    def ints(self, tag: int) -> list[int]:
        v = self.tags.get(tag)
        return [i for i in v if isinstance(i, int)] if isinstance(v, list) else []

    def strs(self, tag: int) -> list[str]:
        v = self.tags.get(tag)
        return [s for s in v if isinstance(s, str)] if isinstance(v, list) else []


def parse_header(blob: bytes) -> Header:
    """Big-endian ``il, dl``, ``il`` 16-byte index entries, then ``dl`` bytes of data."""
    if len(blob) < 8:
        raise HeaderError("header shorter than 8 bytes")
    il, dl = struct.unpack(">ii", blob[:8])
    if not 0 < il <= MAX_INDEX or not 0 <= dl <= MAX_DATA or 8 + il * 16 + dl > len(blob):
        raise HeaderError(f"header sizes out of range (il={il}, dl={dl}, blob={len(blob)})")
    data = blob[8 + il * 16: 8 + il * 16 + dl]
    wanted = {NAME, VERSION, RELEASE, EPOCH, LICENSE, ARCH, SOURCERPM, DIRINDEXES, BASENAMES, DIRNAMES}
    tags: dict[int, str | list[str] | list[int]] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack(">iIiI", blob[8 + i * 16: 24 + i * 16])
        if tag not in wanted:
            continue
        if not 0 <= off < dl or count > MAX_INDEX:
            raise HeaderError(f"tag {tag}: offset or count out of range")
        if typ == INT32:
            if off + 4 * count > dl:
                raise HeaderError(f"tag {tag}: data past the end")
            tags[tag] = list(struct.unpack(f">{count}i", data[off: off + 4 * count]))
        elif typ in (STRING, STRING_ARRAY, I18NSTRING):
            items: list[str] = []
            pos = off
            for _ in range(count if typ != STRING else 1):
                end = data.find(b"\x00", pos)
                if end < 0:
                    raise HeaderError(f"tag {tag}: unterminated string")
                items.append(data[pos:end].decode("utf-8", "replace"))
                pos = end + 1
            tags[tag] = items[0] if typ == STRING else items
    return Header(tags)


def catalog(view: FsView, os: OsRelease | None, notes: list[str]) -> list[Package]:
    out: list[Package] = []
    for legacy, kind in LEGACY.items():
        if legacy in view.entries:
            notes.append(f"rpm: {legacy} is a {kind} rpm database; mamori reads only the SQLite rpmdb, "
                         "so these packages are NOT listed")
    for path in SQLITE:
        entry = view.get(path)
        if entry is None:
            continue
        data = view.read(path)
        if data is None:
            notes.append(f"rpm: {path} found but not read (over the content bound)")
            continue
        out += _sqlite(data, path, entry.layer, os, notes)
    return out


def _sqlite(data: bytes, path: str, layer: int, os: OsRelease | None, notes: list[str]) -> list[Package]:
    out: list[Package] = []
    try:
        conn = sqlite3.connect(":memory:")
        try:
            conn.deserialize(data)
            rows = conn.execute("SELECT blob FROM Packages LIMIT ?", (MAX_PACKAGES,)).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        notes.append(f"rpm: {path} is not a readable rpmdb.sqlite: {exc}")
        return out
    bad = 0
    for (blob,) in rows:
        if not isinstance(blob, bytes):
            bad += 1
            continue
        try:
            h = parse_header(blob)
        except HeaderError:
            bad += 1
            continue
        name = h.text(NAME)
        if not name or name == "gpg-pubkey":
            continue
        version = f"{h.text(VERSION)}-{h.text(RELEASE)}"
        epoch = h.ints(EPOCH)
        arch = h.text(ARCH) or None
        src = h.text(SOURCERPM)
        vendor = os.id if os else "redhat"
        q = purl.os_qualifiers(os, arch, epoch=str(epoch[0]) if epoch else None, upstream=src or None)
        full = f"{epoch[0]}:{version}" if epoch else version
        dirs, bases, idx = h.strs(DIRNAMES), h.strs(BASENAMES), h.ints(DIRINDEXES)
        files = tuple(dirs[i] + b for i, b in zip(idx, bases, strict=False) if 0 <= i < len(dirs))
        lic = h.text(LICENSE)
        out.append(Package("rpm", name, full, purl.make("rpm", name, version, vendor, q), path, layer,
                           _src_name(src) if src else name, None, arch, (lic,) if lic else (), files))
    if bad:
        notes.append(f"rpm: {bad} unreadable header blob(s) in {path}")
    return out


def _src_name(sourcerpm: str) -> str:
    """``bash-5.1.8-6.el9.src.rpm`` → ``bash`` (name-version-release.src.rpm)."""
    base = sourcerpm.removesuffix(".rpm").removesuffix(".src").removesuffix(".nosrc")
    parts = base.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else base
