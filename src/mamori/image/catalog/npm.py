"""npm: every ``node_modules/[@scope/]name/package.json``; nested node_modules are separate packages."""

from __future__ import annotations

import json
import re

from mamori.image.catalog import purl
from mamori.image.catalog.model import Package
from mamori.image.fsview import FsView

_PATH = re.compile(r"/node_modules/(?:@[^/]+/)?[^/@][^/]*/package\.json$")


def wants(path: str) -> bool:
    return path.endswith("/package.json") and bool(_PATH.search(path))


def catalog(view: FsView) -> list[Package]:
    out: list[Package] = []
    for path in sorted(p for p in view.content if _PATH.search(p)):
        try:
            doc = json.loads(view.content[path])
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(doc, dict):
            continue
        name, version = doc.get("name"), doc.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            continue
        scope, _, short = name.rpartition("/") if name.startswith("@") else ("", "", name)
        lic = doc.get("license")
        if isinstance(lic, dict):
            lic = lic.get("type")
        licenses = (lic,) if isinstance(lic, str) and lic and len(lic) <= 200 else ()
        out.append(Package("npm", name, version, purl.make("npm", short, version, scope or None), path,
                           view.entries[path].layer, licenses=licenses))
    return out
