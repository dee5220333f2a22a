"""Catalogers: what to keep while layers stream past, and the inventory read from the merged view."""

from __future__ import annotations

from mamori.image.catalog import apk, dpkg, golang, java, npm, osrelease, python, rpm
from mamori.image.catalog.model import Inventory, OsRelease, Package
from mamori.image.fsview import Capture, FsView


def _keep(path: str, size: int) -> bool:
    return (path in osrelease.PATHS or path in rpm.SQLITE or dpkg.wants(path) or apk.wants(path)
            or python.wants(path) or npm.wants(path))


CAPTURE = Capture(keep=_keep, probes=(golang.PROBE, java.PROBE))


def prepare() -> None:
    """Import what the catalogers import lazily (while there is time to spare: a daemon's save)."""
    import debian.deb822  # noqa: F401


def catalog(view: FsView) -> Inventory:
    inv = Inventory(os=osrelease.find(view))
    inv.packages += dpkg.catalog(view, inv.os)
    inv.packages += apk.catalog(view, inv.os)
    inv.packages += rpm.catalog(view, inv.os, inv.notes)
    inv.packages += python.catalog(view)
    inv.packages += npm.catalog(view)
    inv.packages += golang.catalog(view, inv.notes)
    inv.packages += java.catalog(view)
    inv.packages = _owners(inv.packages)
    inv.notes += view.notes
    return inv


def _owners(packages: list[Package]) -> list[Package]:
    """Mark language packages installed by the OS package manager (distro-patched, distro-versioned)."""
    from dataclasses import replace

    owned: dict[str, str] = {}
    for p in packages:
        if p.type in ("deb", "apk", "rpm"):
            for f in p.files:
                owned.setdefault(f, f"{p.type}:{p.name}")
    if not owned:
        return packages
    return [replace(p, owner=owned.get(p.location.split("!/")[0]))
            if p.type not in ("deb", "apk", "rpm") and p.location.split("!/")[0] in owned else p for p in packages]


__all__ = ["CAPTURE", "Inventory", "OsRelease", "Package", "catalog"]
