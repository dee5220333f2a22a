"""Python distributions: ``*.dist-info/METADATA`` and ``*.egg-info/PKG-INFO`` (or an egg-info file)."""

from __future__ import annotations

import csv
import io
import posixpath

from mamori.image.catalog import purl
from mamori.image.catalog.model import Package
from mamori.image.fsview import FsView

MAX_RECORD_FILES = 50_000


def wants(path: str) -> bool:
    if "-info" not in path:  # .dist-info/, .egg-info(/): one substring test rejects nearly every path
        return False
    parent = posixpath.basename(posixpath.dirname(path))
    base = posixpath.basename(path)
    if parent.endswith(".dist-info"):
        return base in ("METADATA", "RECORD")
    if parent.endswith(".egg-info"):
        return base == "PKG-INFO"
    return base.endswith(".egg-info") and ("site-packages" in path or "dist-packages" in path)


def catalog(view: FsView) -> list[Package]:
    out: list[Package] = []
    for path in sorted(view.content):
        base = posixpath.basename(path)
        parent = posixpath.dirname(path)
        if base == "METADATA" and parent.endswith(".dist-info"):
            pkg = _metadata(view, path, posixpath.join(parent, "RECORD"))
        elif (base == "PKG-INFO" and parent.endswith(".egg-info")) or \
                (base.endswith(".egg-info") and view.entries[path].kind == "file"):
            pkg = _metadata(view, path, None)
        else:
            continue
        if pkg is not None:
            out.append(pkg)
    return out


def _metadata(view: FsView, path: str, record: str | None) -> Package | None:
    from email.parser import HeaderParser  # ~17 ms to import: only for images with Python packages

    msg = HeaderParser().parsestr(view.content[path][:1 << 20].decode("utf-8", "replace"), headersonly=True)
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        return None
    lic = msg.get("License-Expression") or msg.get("License") or ""
    licenses = (lic.strip(),) if lic.strip() and len(lic) <= 200 and lic.strip() != "UNKNOWN" else ()
    files: tuple[str, ...] = ()
    if record and record in view.content:
        site = posixpath.dirname(posixpath.dirname(record))
        rows = csv.reader(io.StringIO(view.content[record].decode("utf-8", "replace")))
        files = tuple(posixpath.normpath(posixpath.join(site, r[0]))
                      for _, r in zip(range(MAX_RECORD_FILES), rows, strict=False) if r and r[0])
    return Package("pypi", str(name), str(version), purl.make("pypi", purl.pep503(str(name)), str(version)), path,
                   view.entries[path].layer, licenses=licenses, files=files)
