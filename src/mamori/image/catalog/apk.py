"""apk: ``/lib/apk/db/installed`` (``X:value`` lines, a blank line between packages)."""

from __future__ import annotations

from mamori.image.catalog import purl
from mamori.image.catalog.model import OsRelease, Package
from mamori.image.fsview import FsView

DB = "/lib/apk/db/installed"


def wants(path: str) -> bool:
    return path == DB


def catalog(view: FsView, os: OsRelease | None) -> list[Package]:
    data = view.read(DB)
    if data is None:
        return []
    db_entry = view.get(DB)
    out: list[Package] = []
    for block in data.decode("utf-8", "replace").split("\n\n"):
        fields: dict[str, str] = {}
        files: list[str] = []
        cur_dir = ""
        for line in block.splitlines():
            if len(line) < 2 or line[1] != ":":
                continue
            key, value = line[0], line[2:]
            if key == "F":
                cur_dir = value
            elif key == "R":
                files.append(f"/{cur_dir}/{value}" if cur_dir else f"/{value}")
            elif key not in fields:
                fields[key] = value
        name, version = fields.get("P"), fields.get("V")
        if not name or not version:
            continue
        layer = next((view.entries[f].layer for f in files if f in view.entries), None)
        if layer is None and db_entry is not None:
            layer = db_entry.layer
        arch = fields.get("A") or None
        origin = fields.get("o") or name
        q = purl.os_qualifiers(os, arch, upstream=None if origin == name else origin)
        vendor = os.id if os and os.id in ("alpine", "openwrt", "wolfi", "chainguard") else "alpine"
        lic = tuple(fields["L"].split()) if fields.get("L") else ()
        out.append(Package("apk", name, version, purl.make("apk", name, version, vendor, q), DB, layer,
                           origin, version, arch, (" ".join(lic),) if lic else (), tuple(files)))
    return out
