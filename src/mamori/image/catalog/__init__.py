"""Catalogers: what to keep while layers stream past, and the inventory read from the merged view."""

from __future__ import annotations

from mamori.image.catalog import apk, dpkg, golang, java, npm, osrelease, python, rpm
from mamori.image.catalog.model import Inventory, OsRelease, Package
from mamori.image.fsview import Capture, FsView


def _keep(path: str, size: int) -> bool:
    return (path in osrelease.PATHS or path in rpm.SQLITE or dpkg.wants(path) or apk.wants(path)
            or python.wants(path) or npm.wants(path))


CAPTURE = Capture(keep=_keep, probes=(golang.PROBE, java.PROBE))


def catalog(view: FsView) -> Inventory:
    inv = Inventory(os=osrelease.find(view))
    inv.packages += dpkg.catalog(view, inv.os)
    inv.packages += apk.catalog(view, inv.os)
    inv.packages += rpm.catalog(view, inv.os, inv.notes)
    inv.packages += python.catalog(view)
    inv.packages += npm.catalog(view)
    inv.packages += golang.catalog(view, inv.notes)
    inv.packages += java.catalog(view)
    inv.notes += view.notes
    return inv


__all__ = ["CAPTURE", "Inventory", "OsRelease", "Package", "catalog"]
