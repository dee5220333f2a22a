"""What to match: packages from a mamori inventory or any CycloneDX/SPDX JSON SBOM, as purl targets.

Other tools' SBOMs differ in where they put the source package and the distro release (Syft: purl
``upstream``/``distro`` qualifiers; Trivy: ``aquasecurity:trivy:Src*`` properties and an
operating-system component), so all of them are read here into one :class:`Target` shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from mamori.vuln.ecosystems import (
    PURL_ECOSYSTEM,
    canonical_package,
    distro_ecosystem,
    parse_distro_qualifier,
)

MAX_SBOM_BYTES = 256 << 20
MAX_COMPONENTS = 500_000
MAX_DEPTH = 64


class SbomError(ValueError):
    pass


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


def _walk_cdx(components: Any, out: list[dict[str, Any]], depth: int = 0) -> None:
    if not isinstance(components, list) or depth > MAX_DEPTH:
        return
    for c in components:
        if not isinstance(c, dict):
            continue
        if len(out) >= MAX_COMPONENTS:
            raise SbomError(f"more than {MAX_COMPONENTS} components")
        out.append(c)
        _walk_cdx(c.get("components"), out, depth + 1)


def _props(c: dict[str, Any]) -> dict[str, str]:
    return {str(p.get("name")): str(p.get("value")) for p in c.get("properties") or [] if isinstance(p, dict)}


def targets_from_sbom(path: str | Path) -> list[Target]:
    """Targets from a CycloneDX (1.4 to 1.6) or SPDX 2.x JSON SBOM, by purl."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_SBOM_BYTES:
            raise SbomError(f"{p}: larger than {MAX_SBOM_BYTES} bytes")
        doc = json.loads(p.read_bytes())
    except OSError as e:
        raise SbomError(f"{p}: {e.strerror or e}") from None
    except (ValueError, RecursionError):
        raise SbomError(f"{p}: not JSON") from None
    if not isinstance(doc, dict):
        raise SbomError(f"{p}: not an SBOM")
    out: list[Target] = []
    if doc.get("bomFormat") == "CycloneDX":
        comps: list[dict[str, Any]] = []
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        if isinstance(meta, dict) and isinstance(meta.get("component"), dict):
            _walk_cdx([meta["component"]], comps)
        _walk_cdx(doc.get("components"), comps)
        hint = None
        for c in comps:
            if c.get("type") == "operating-system" and isinstance(c.get("name"), str):
                hint = (c["name"], str(c.get("version") or ""), "")
        for c in comps:
            purl = c.get("purl")
            if not isinstance(purl, str):
                continue
            pr = _props(c)
            src = pr.get("aquasecurity:trivy:SrcName") or pr.get("syft:metadata:source")
            src_ver = pr.get("aquasecurity:trivy:SrcVersion") or pr.get("syft:metadata:sourceVersion")
            if src_ver and pr.get("aquasecurity:trivy:SrcRelease"):
                src_ver = f"{src_ver}-{pr['aquasecurity:trivy:SrcRelease']}"
            if src_ver and pr.get("aquasecurity:trivy:SrcEpoch") not in (None, "", "0"):
                src_ver = f"{pr['aquasecurity:trivy:SrcEpoch']}:{src_ver}"
            t = target_from_purl(purl, src, src_ver, hint)
            if t is not None:
                out.append(t)
        return out
    if isinstance(doc.get("spdxVersion"), str):
        pkgs = doc.get("packages") or []
        if not isinstance(pkgs, list) or len(pkgs) > MAX_COMPONENTS:
            raise SbomError(f"{p}: bad or oversized 'packages'")
        hint = None
        for pk in pkgs:
            if isinstance(pk, dict) and pk.get("primaryPackagePurpose") == "OPERATING-SYSTEM":
                hint = (str(pk.get("name") or ""), str(pk.get("versionInfo") or ""), "")
        for pk in pkgs:
            if not isinstance(pk, dict):
                continue
            for ref in pk.get("externalRefs") or []:
                if isinstance(ref, dict) and ref.get("referenceType") == "purl" and isinstance(
                        ref.get("referenceLocator"), str):
                    t = target_from_purl(ref["referenceLocator"], None, None, hint)
                    if t is not None:
                        out.append(t)
                    break
        return out
    raise SbomError(f"{p}: neither CycloneDX nor SPDX JSON")
