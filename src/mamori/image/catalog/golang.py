"""Go binaries: the build information behind the ``\\xff Go buildinf:`` magic (Go ≥ 1.18 inline form).

Older binaries store pointers instead of inline strings; they are reported as not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from mamori.image.catalog import purl
from mamori.image.catalog.model import Package
from mamori.image.fsview import FsView, Probe

MAGIC = b"\xff Go buildinf:"
ELF = b"\x7fELF"
NAME = "go-buildinfo"
MAX_STRING = 1 << 20


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
    if fh.read(4) != ELF:
        return None
    fh.seek(0)
    return parse(fh.read())


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
