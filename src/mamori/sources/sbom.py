"""CycloneDX and SPDX JSON SBOMs (mamori's, Trivy's, Syft's, ...) -> the packages they list.

Tools put the facts a vulnerability match needs in different places, so each is read here:

* the **distro release**: a purl ``distro=`` qualifier (``debian-12``, Trivy's bare ``3.19.1`` for apk),
  else an ``operating-system`` component (CycloneDX, also inside ``metadata.component``) or an SPDX
  package with ``primaryPackagePurpose: OPERATING-SYSTEM`` (or ``OPERATING_SYSTEM``);
* the **source package**: Trivy's ``aquasecurity:trivy:Src*`` properties, Syft's purl ``upstream=``
  qualifier or ``syft:metadata:source*`` properties, mamori's ``mamori:package:source``, and the
  SPDX ``sourceInfo`` sentence of Trivy and mamori.

A malformed SBOM is an :class:`SbomError` naming the file and the problem, never a traceback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_SBOM_BYTES = 256 << 20
MAX_COMPONENTS = 500_000
MAX_DEPTH = 64
SNIFF_BYTES = 64 << 10
CYCLONEDX_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6", "1.7")  # JSON exists from 1.2; Trivy writes 1.7
_SNIFF = re.compile(rb'"(?:bomFormat"\s*:\s*"CycloneDX"|spdxVersion"\s*:\s*"SPDX-)')
_SPDX_SOURCE = re.compile(r"built (?:package from|from source package):?\s+(\S+)\s+(\S+)")


class SbomError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SbomPackage:
    name: str
    purl: str
    source_name: str | None = None
    source_version: str | None = None


@dataclass(frozen=True, slots=True)
class Sbom:
    path: str
    format: str  # "CycloneDX 1.6", "SPDX-2.3"
    os: tuple[str, str] | None  # (id, version) of the one operating system the SBOM names
    packages: tuple[SbomPackage, ...]
    notes: tuple[str, ...] = ()


def looks_like_sbom(path: str | Path) -> bool:
    """A cheap test on the first 64 KiB: a JSON file that says it is CycloneDX or SPDX."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    return head.lstrip()[:1] == b"{" and bool(_SNIFF.search(head))


def _str(x: Any, limit: int = 4096) -> str | None:
    return x[:limit] if isinstance(x, str) and x else None


def _props(c: dict[str, Any]) -> dict[str, str]:
    props = c.get("properties")
    if not isinstance(props, list):
        return {}
    return {str(p.get("name")): str(p.get("value")) for p in props[:1000] if isinstance(p, dict)}


def _walk_cdx(components: Any, out: list[dict[str, Any]], where: str, depth: int = 0) -> None:
    if components is None:
        return
    if not isinstance(components, list):
        raise SbomError(f"{where}: 'components' is not a list")
    if depth > MAX_DEPTH:
        raise SbomError(f"{where}: components nested deeper than {MAX_DEPTH}")
    for c in components:
        if not isinstance(c, dict):
            continue
        if len(out) >= MAX_COMPONENTS:
            raise SbomError(f"{where}: more than {MAX_COMPONENTS} components")
        out.append(c)
        _walk_cdx(c.get("components"), out, where, depth + 1)


def _os_id(name: str, version: str) -> tuple[str, str]:
    """("Debian GNU/Linux", "12 (bookworm)") -> ("debian", "12"): tools spell the os-release ID differently."""
    os_id = (name.strip().split() or [""])[0].lower()[:64]
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", version)
    return os_id, m.group(1) if m else version.strip()[:64]


def _one_os(found: list[tuple[str, str]], notes: list[str]) -> tuple[str, str] | None:
    """The operating system, when the SBOM names exactly one (several: none is guessed)."""
    distinct = sorted(set(found))
    if len(distinct) > 1:
        notes.append(f"several operating systems ({', '.join(' '.join(o) for o in distinct[:4])}): "
                     "packages without a distro= qualifier are not matched")
        return None
    return distinct[0] if distinct else None


def _cyclonedx(doc: dict[str, Any], where: str) -> Sbom:
    spec = doc.get("specVersion")
    if not isinstance(spec, str):
        raise SbomError(f"{where}: CycloneDX without a specVersion")
    if spec not in CYCLONEDX_VERSIONS:
        raise SbomError(f"{where}: CycloneDX specVersion {spec[:20]!r} is not supported "
                        f"(JSON {CYCLONEDX_VERSIONS[0]} to {CYCLONEDX_VERSIONS[-1]})")
    meta = doc.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise SbomError(f"{where}: 'metadata' is not an object")
    comps: list[dict[str, Any]] = []
    if isinstance(meta, dict) and isinstance(meta.get("component"), dict):
        _walk_cdx([meta["component"]], comps, where)
    _walk_cdx(doc.get("components"), comps, where)
    notes: list[str] = []
    os_found = [_os_id(_props(c).get("syft:distro:id") or str(c.get("name")),
                       _props(c).get("syft:distro:versionID") or str(c.get("version") or ""))
                for c in comps if c.get("type") == "operating-system" and _str(c.get("name"))]
    pkgs = []
    for c in comps:
        purl = _str(c.get("purl"))
        if purl is None:
            continue
        pr = _props(c)
        src = pr.get("aquasecurity:trivy:SrcName") or pr.get("syft:metadata:source") or pr.get("mamori:package:source")
        src_ver = pr.get("aquasecurity:trivy:SrcVersion") or pr.get("syft:metadata:sourceVersion")
        if src_ver and pr.get("aquasecurity:trivy:SrcRelease"):
            src_ver = f"{src_ver}-{pr['aquasecurity:trivy:SrcRelease']}"
        if src_ver and pr.get("aquasecurity:trivy:SrcEpoch") not in (None, "", "0"):
            src_ver = f"{pr['aquasecurity:trivy:SrcEpoch']}:{src_ver}"
        pkgs.append(SbomPackage(_str(c.get("name"), 512) or "", purl, src, src_ver))
    return Sbom(where, f"CycloneDX {spec}", _one_os(os_found, notes), tuple(pkgs), tuple(notes))


# The SPDX 2.3 text spells it OPERATING-SYSTEM; its JSON schema's enum and spdx-tools' writer OPERATING_SYSTEM
_OS_PURPOSE = ("OPERATING-SYSTEM", "OPERATING_SYSTEM")


def _spdx(doc: dict[str, Any], where: str) -> Sbom:
    ver = str(doc.get("spdxVersion"))
    if not re.fullmatch(r"SPDX-2\.[0-9]+", ver):
        raise SbomError(f"{where}: {ver[:20]} is not supported (SPDX 2.x JSON)")
    pkgs_in = doc.get("packages", [])
    if not isinstance(pkgs_in, list):
        raise SbomError(f"{where}: 'packages' is not a list")
    if len(pkgs_in) > MAX_COMPONENTS:
        raise SbomError(f"{where}: more than {MAX_COMPONENTS} packages")
    notes: list[str] = []
    os_found = [_os_id(str(p.get("name")), str(p.get("versionInfo") or "")) for p in pkgs_in
                if isinstance(p, dict) and p.get("primaryPackagePurpose") in _OS_PURPOSE and _str(p.get("name"))]
    pkgs = []
    for p in pkgs_in:
        if not isinstance(p, dict) or not isinstance(p.get("externalRefs"), list):
            continue
        purl = next((r["referenceLocator"] for r in p["externalRefs"][:100] if isinstance(r, dict)
                     and r.get("referenceType") == "purl" and _str(r.get("referenceLocator"))), None)
        if purl is None:
            continue
        m = _SPDX_SOURCE.search(_str(p.get("sourceInfo")) or "")
        pkgs.append(SbomPackage(_str(p.get("name"), 512) or "", purl[:4096], m.group(1) if m else None,
                                m.group(2) if m else None))
    return Sbom(where, ver, _one_os(os_found, notes), tuple(pkgs), tuple(notes))


def parse_sbom(doc: Any, where: str) -> Sbom:
    """A parsed JSON document as an SBOM; raises :class:`SbomError` when it is none or malformed."""
    if not isinstance(doc, dict):
        raise SbomError(f"{where}: not an SBOM (the JSON is not an object)")
    if doc.get("bomFormat") == "CycloneDX":
        return _cyclonedx(doc, where)
    if isinstance(doc.get("spdxVersion"), str):
        return _spdx(doc, where)
    if "@context" in doc and "spdx" in str(doc.get("@context")).lower():
        raise SbomError(f"{where}: SPDX 3 (JSON-LD) is not supported: use SPDX 2.3 or CycloneDX JSON")
    raise SbomError(f"{where}: neither CycloneDX JSON (bomFormat) nor SPDX 2.x JSON (spdxVersion)")


def read_sbom(path: str | Path) -> Sbom:
    """Read and parse an SBOM file, bounded in size."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_SBOM_BYTES:
            raise SbomError(f"{p}: {size} bytes, over the {MAX_SBOM_BYTES} byte limit for an SBOM")
        with open(p, "rb") as fh:
            data = fh.read(MAX_SBOM_BYTES + 1)
    except OSError as e:
        raise SbomError(f"{p}: {e.strerror or e}") from None
    if len(data) > MAX_SBOM_BYTES:
        raise SbomError(f"{p}: over the {MAX_SBOM_BYTES} byte limit for an SBOM")
    try:
        doc = json.loads(data)
    except UnicodeDecodeError:
        raise SbomError(f"{p}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise SbomError(f"{p}: not JSON (line {e.lineno}: {e.msg})") from None
    except (ValueError, RecursionError):
        raise SbomError(f"{p}: not JSON (nested too deeply or malformed)") from None
    return parse_sbom(doc, str(p))
