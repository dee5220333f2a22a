"""Go binaries: the build information behind the ``\\xff Go buildinf:`` magic (Go ≥ 1.18 inline form).

Older binaries store pointers instead of inline strings; they are reported as not read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

from mamori.image.catalog import purl
from mamori.image.catalog.model import Package
from mamori.image.fsview import FsView, Probe

MAGIC = b"\xff Go buildinf:"
ELF = b"\x7fELF"
NAME = "go-buildinfo"
MAX_STRING = 1 << 20
BUILDINFO_READ = 64 * 1024  # what Go's debug/buildinfo reads from the section start
MAX_SECTIONS = 1 << 20  # bytes of section table or section names


@dataclass(frozen=True, slots=True)
class BuildInfo:
    go_version: str
    main: tuple[str, str] | None  # module path, version
    deps: tuple[tuple[str, str], ...]
    legacy: bool = False  # pre-1.18 pointer format: not decoded


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 64:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
    raise ValueError("bad uvarint")


def parse(data: bytes) -> BuildInfo | None:
    """Find the 16-byte-aligned magic and decode the inline version and module info."""
    pos = data.find(MAGIC)
    while pos >= 0 and pos % 16:
        pos = data.find(MAGIC, pos + 1)
    if pos < 0 or pos + 32 > len(data):
        return None
    flags = data[pos + 15]
    if not flags & 2:
        return BuildInfo("", None, (), legacy=True)
    cur = pos + 32
    strings: list[str] = []
    for _ in range(2):
        n, cur = _uvarint(data, cur)
        if n > MAX_STRING or cur + n > len(data):
            raise ValueError("build info string out of range")
        strings.append(data[cur:cur + n].decode("utf-8", "replace"))
        cur += n
    version, mod = strings
    if len(mod) >= 33 and mod[-17] == "\n":
        mod = mod[16:-16]
    main: tuple[str, str] | None = None
    deps: list[tuple[str, str]] = []
    for line in mod.splitlines():
        f = line.split("\t")
        if f[0] == "mod" and len(f) >= 3:
            main = (f[1], f[2])
        elif f[0] == "dep" and len(f) >= 3:
            deps.append((f[1], f[2]))
        elif f[0] == "=>" and len(f) >= 3 and deps:
            deps[-1] = (f[1], f[2])
    return BuildInfo(version, main, tuple(deps))


def _wants(path: str, size: int, mode: int) -> bool:
    return bool(mode & 0o111) and size >= 1024


def _run(path: str, fh: IO[bytes], size: int) -> object | None:
    head = fh.read(64)
    if head[:4] != ELF:
        return None
    at = _section(fh, head, size, b".go.buildinfo")
    if at is None:  # no section table (or an unreadable one): search the whole file
        fh.seek(0)
        return parse(fh.read())
    if at < 0:
        return None  # an ELF with sections but no build info: not a Go binary
    fh.seek(at)
    return parse(fh.read(BUILDINFO_READ))


def _section(fh: IO[bytes], head: bytes, size: int, name: bytes) -> int | None:
    """File offset of ELF section ``name``; -1 if absent; None if the section table cannot be used.

    As Go's debug/buildinfo does, only the section start is needed: the header and the inline
    strings (Go >= 1.18) follow it. Reading the section table instead of the whole binary keeps
    a Go-less image's executables (30 MB in a Debian rootfs) off the read path.
    """
    if len(head) < 64 or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
    shoff, shentsize, shnum, shstrndx = (struct.unpack_from(order + "Q10xHHH", head, 0x28) if wide
                                         else struct.unpack_from(order + "I10xHHH", head, 0x20))
    entry = struct.Struct(order + ("IIQQQQ" if wide else "IIIIII"))
    if not shoff or not shnum or shstrndx >= shnum or shentsize < entry.size or shnum * shentsize > MAX_SECTIONS \
            or shoff + shnum * shentsize > size:
        return None
    fh.seek(shoff)
    table = fh.read(shnum * shentsize)
    if len(table) < shnum * shentsize:
        return None
    headers = [entry.unpack_from(table, i * shentsize) for i in range(shnum)]
    _, _, _, _, str_off, str_size = headers[shstrndx]
    if str_off + str_size > size or str_size > MAX_SECTIONS:
        return None
    fh.seek(str_off)
    names = fh.read(str_size)
    want = name + b"\0"
    for sh_name, sh_type, _, _, offset, _length in headers:
        if names[sh_name:sh_name + len(want)] == want and sh_type != 8 and 0 < offset < size:  # 8: SHT_NOBITS
            return int(offset)
    return -1


PROBE = Probe(NAME, _wants, _run)


def _purl(module: str, version: str) -> str:
    ns, _, name = module.rpartition("/")
    return purl.make("golang", name, version, ns or None)


def catalog(view: FsView, notes: list[str]) -> list[Package]:
    out: list[Package] = []
    for path, info in sorted(view.summaries(NAME).items()):
        if not isinstance(info, BuildInfo):
            continue
        layer = view.entries[path].layer if path in view.entries else None
        if info.legacy:
            notes.append(f"go: {path} is a Go binary older than 1.18; its build info is not read")
            continue
        if info.go_version:
            v = info.go_version.split()[0]
            out.append(Package("golang", "stdlib", v, purl.make("golang", "stdlib", v), path, layer))
        if info.main and info.main[1] not in ("", "(devel)"):
            out.append(Package("golang", info.main[0], info.main[1], _purl(*info.main), path, layer))
        for mod, ver in info.deps:
            out.append(Package("golang", mod, ver, _purl(mod, ver), path, layer))
    return out
