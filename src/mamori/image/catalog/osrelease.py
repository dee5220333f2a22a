"""``/etc/os-release`` (falling back to ``/usr/lib/os-release``), shell-style KEY=value lines."""

from __future__ import annotations

import shlex

from mamori.image.catalog.model import OsRelease
from mamori.image.fsview import FsView

PATHS = ("/etc/os-release", "/usr/lib/os-release")


def parse(text: str, path: str = "") -> OsRelease | None:
    values: dict[str, str] = {}
    for line in text.splitlines()[:500]:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            continue
        values[key.strip()] = parts[0] if parts else ""
    if "ID" not in values:
        return None
    return OsRelease(values["ID"].lower(), values.get("VERSION_ID", ""), values.get("PRETTY_NAME", ""),
                     values.get("VERSION_CODENAME", ""), tuple(values.get("ID_LIKE", "").split()), path)


def find(view: FsView) -> OsRelease | None:
    for p in PATHS:
        data = view.read(p)
        if data is not None:
            return parse(data.decode("utf-8", "replace"), p)
    return None
