"""dpkg: ``/var/lib/dpkg/status`` and distroless ``/var/lib/dpkg/status.d/*`` (one stanza per file)."""

from __future__ import annotations

import posixpath
import re

from mamori.image.catalog import purl
from mamori.image.catalog.model import OsRelease, Package
from mamori.image.fsview import FsView

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d/"
INFO = "/var/lib/dpkg/info/"
_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?$")
MAX_LIST_FILES = 100_000


DOC = "/usr/share/doc/"
MAX_LICENSES = 20


def wants(path: str) -> bool:
    if path == STATUS:
        return True
    if path.startswith(DOC) and path.endswith("/copyright") and path.count("/") == 5:
        return True
    if path.startswith(STATUS_D):
        return not path.endswith(".md5sums")
    return path.startswith(INFO) and path.endswith(".list")


def catalog(view: FsView, os: OsRelease | None) -> list[Package]:
    out: list[Package] = []
    data = view.read(STATUS)
    if data is not None:
        entry = view.get(STATUS)
        out += _stanzas(view, data, STATUS, entry.layer if entry else None, os, need_status=True)
    for path in sorted(p for p in view.entries if p.startswith(STATUS_D) and p in view.content):
        e = view.entries[path]
        out += _stanzas(view, view.content[path], path, e.layer, os, need_status=False)
    return out


def _stanzas(view: FsView, data: bytes, path: str, layer: int | None, os: OsRelease | None,
             need_status: bool) -> list[Package]:
    out: list[Package] = []
    from debian.deb822 import Deb822  # ~50 ms to import: only when an image has a dpkg database

    for para in Deb822.iter_paragraphs(data.decode("utf-8", "replace").splitlines(keepends=True),
                                       use_apt_pkg=False):
        name, version = para.get("Package"), para.get("Version")
        if not name or not version:
            continue
        status = para.get("Status", "")
        if need_status and not status.endswith(" installed"):
            continue
        arch = para.get("Architecture") or None
        src_name, src_version = name, version
        m = _SOURCE.match(para.get("Source", "").strip())
        if m:
            src_name, src_version = m.group(1), m.group(2) or version
        files, file_layer = _files(view, name, arch)
        vendor = os.id if os and os.id in ("debian", "ubuntu") else "debian"
        q = purl.os_qualifiers(os, arch, upstream=None if src_name == name else src_name)
        out.append(Package("deb", name, version, purl.make("deb", name, version, vendor, q), path,
                           file_layer if file_layer is not None else layer, src_name, src_version, arch,
                           licenses(view, name), files))
    return out


def _files(view: FsView, name: str, arch: str | None) -> tuple[tuple[str, ...], int | None]:
    for candidate in (f"{INFO}{name}:{arch}.list", f"{INFO}{name}.list"):
        data = view.content.get(candidate)
        if data is not None:
            lines = [ln for ln in data.decode("utf-8", "replace").splitlines()[:MAX_LIST_FILES]
                     if ln.startswith("/") and ln != "/."]
            entry = view.entries.get(candidate)
            return tuple(posixpath.normpath(ln) for ln in lines), entry.layer if entry else None
    return (), None


def licenses(view: FsView, name: str) -> tuple[str, ...]:
    """Short licence names from a machine-readable (DEP-5) ``/usr/share/doc/<pkg>/copyright``."""
    data = view.read(f"{DOC}{name}/copyright")
    if data is None or not data.startswith(b"Format:"):
        return ()
    found: list[str] = []
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("License:"):
            value = line[len("License:"):].strip()
            if value and len(value) <= 100 and value not in found:
                found.append(value)
            if len(found) >= MAX_LICENSES:
                break
    return tuple(found)
