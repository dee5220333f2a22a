"""What to match: packages from a mamori inventory or any CycloneDX/SPDX JSON SBOM, as purl targets.

Other tools' SBOMs differ in where they put the source package and the distro release (Syft: purl
``upstream``/``distro`` qualifiers; Trivy: ``aquasecurity:trivy:Src*`` properties and an
operating-system component), so all of them are read here into one :class:`Target` shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from mamori.sources.sbom import Sbom, SbomError, read_sbom
from mamori.vuln.ecosystems import (
    PURL_ECOSYSTEM,
    canonical_package,
    distro_ecosystem,
    parse_distro_qualifier,
)

__all__ = ["SbomError", "Target", "target_from_purl", "targets_from_inventory", "targets_from_sbom", "targets_of"]


@dataclass(frozen=True, slots=True)
class Target:
    """One package to match: ``ecosystem``/``key`` is the database key, ``version`` the one compared."""

    name: str  # as installed (binary package name)
    version: str  # installed version (as shown)
    ecosystem: str | None  # None: the release could not be determined; never guessed
    key: str  # advisory package name: the source package for distros
    match_version: str  # the version compared against advisories (the source version for distros)
    purl: str
    owner: str | None = None  # OS package owning a language package's files (distro-patched?)


def _purl_name(p: PackageURL) -> str:
    if p.type == "maven" and p.namespace:
        return f"{p.namespace}:{p.name}"
    if p.namespace and p.type in ("npm", "golang", "composer", "swift"):
        return f"{p.namespace}/{p.name}"
    return str(p.name)


def target_from_purl(purl: str, source_name: str | None = None, source_version: str | None = None,
                     os_hint: tuple[str, str, str] | None = None, owner: str | None = None) -> Target | None:
    """A target, or None when the purl is not something advisories are keyed by."""
    try:
        p = PackageURL.from_string(purl)
    except ValueError:
        return None
    if not p.version:
        return None
    q = p.qualifiers if isinstance(p.qualifiers, dict) else {}
    version = str(p.version)
    if q.get("epoch") and ":" not in version:
        version = f"{q['epoch']}:{version}"
    name = str(p.name)
    if p.type in ("deb", "apk", "rpm"):
        up = q.get("upstream") or ""
        up_name, _, up_ver = up.partition("@")
        src = source_name or up_name or (name if p.type != "rpm" else None)
        src_ver = source_version or up_ver or version
        if p.type == "rpm" and src and src.endswith(".src.rpm"):
            src = None  # a source rpm file name, not a package name
        eco = None
        if q.get("distro"):
            did, dver = parse_distro_qualifier(q["distro"])
            if not dver and did[:1].isdigit() and p.namespace:  # Trivy's apk purls: distro=3.19.1
                did, dver = str(p.namespace), did
            eco = distro_ecosystem(did, dver)
        if eco is None and os_hint:
            eco = distro_ecosystem(*os_hint)
        return Target(name, version, eco, src or name, src_ver, purl, owner)
    eco = PURL_ECOSYSTEM.get(p.type)
    if eco is None:
        return None
    if eco == "Go" and not version.startswith("v") and version[:1].isdigit():
        version = "v" + version
    key = canonical_package(eco, _purl_name(p))
    return Target(_purl_name(p), version, eco, key, version, purl, owner)


def targets_from_inventory(inventory: Any) -> list[Target]:
    """Targets from a :class:`mamori.image.catalog.model.Inventory`."""
    os_ = inventory.os
    hint = (os_.id, os_.version_id, os_.codename) if os_ is not None else None
    out = []
    for pk in inventory.packages:
        t = target_from_purl(pk.purl, pk.source_name, pk.source_version, hint, pk.owner)
        if t is not None:
            out.append(t)
    return out


def targets_of(sbom: Sbom) -> list[Target]:
    """Targets from a parsed SBOM: its packages by purl, the SBOM's one operating system as the release hint."""
    hint = (sbom.os[0], sbom.os[1], "") if sbom.os else None
    out = []
    for pk in sbom.packages:
        t = target_from_purl(pk.purl, pk.source_name, pk.source_version, hint)
        if t is not None:
            out.append(t)
    return out


def targets_from_sbom(path: str | Path) -> list[Target]:
    """Targets from a CycloneDX (1.2 to 1.7) or SPDX 2.x JSON SBOM; raises :class:`SbomError`."""
    return targets_of(read_sbom(path))
