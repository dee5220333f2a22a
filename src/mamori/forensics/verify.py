"""Verify a bundle offline: the signature over the manifest, then every artifact against the manifest.

Each problem names its file: ``changed`` (hash or size differs), ``missing``, ``added`` (a file the
manifest does not list), ``unexpected`` (a link, device or unsafe name), ``signature`` and
``manifest`` (unreadable or malformed). Problems are collected, not stopped at, so one run tells
the examiner everything that is wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from mamori.forensics.errors import ForensicsError
from mamori.forensics.paths import MANIFEST, RESERVED, SIGNATURE, SIGNER, check_rel
from mamori.forensics.reader import read_bundle
from mamori.forensics.signing import Trust, check_signature

SCHEMA = "mamori.forensics/v1"
MAX_ARTIFACTS = 1_000_000


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # changed | missing | added | unexpected | signature | manifest
    path: str
    detail: str

    def line(self) -> str:
        return f"{self.kind}: {self.path}: {self.detail}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    manifest_sha256: str | None = None
    checked: int = 0  # artifacts whose hash matched

    @property
    def ok(self) -> bool:
        return not self.problems

    def public(self) -> dict[str, Any]:
        m = self.manifest or {}
        return {"ok": self.ok, "bundle_id": m.get("bundle_id"), "manifest_sha256": self.manifest_sha256,
                "artifacts": len(m.get("artifacts", []) if isinstance(m.get("artifacts"), list) else []),
                "verified": self.checked, "signer": m.get("signer"),
                "problems": [{"kind": p.kind, "path": p.path, "detail": p.detail} for p in self.problems]}


def _capture_time(manifest: dict[str, Any]) -> dt.datetime | None:
    try:
        t = manifest["captured"]["finished"]
        return dt.datetime.fromisoformat(str(t).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None


def verify_bundle(path: str, trust: Trust) -> Report:
    """Raises ForensicsError only when ``path`` is not a bundle at all (nothing readable to check)."""
    contents = read_bundle(path)
    rep = Report()
    for name in contents.oversized:
        rep.problems.append(Problem("unexpected", name, "larger than the bound for this file"))
    raw = contents.special.get(MANIFEST)
    if raw is None:
        if not contents.files and MANIFEST not in contents.oversized:
            raise ForensicsError(f"{path} holds no manifest.json and no artifacts: not a bundle")
        rep.problems.append(Problem("missing", MANIFEST, "the bundle has no manifest"))
        return rep
    rep.manifest_sha256 = hashlib.sha256(raw).hexdigest()
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        rep.problems.append(Problem("manifest", MANIFEST, f"not valid JSON ({str(exc)[:120] or 'nested too deep'})"))
        manifest = None
    if not isinstance(manifest, dict):
        if manifest is not None:
            rep.problems.append(Problem("manifest", MANIFEST, "not a JSON object"))
        manifest = {}
    rep.manifest = manifest
    if manifest and manifest.get("schema") != SCHEMA:
        rep.problems.append(Problem("manifest", MANIFEST, f"schema is not {SCHEMA}"))
    declared = manifest.get("signer") if isinstance(manifest.get("signer"), dict) else None
    for why in check_signature(raw, contents.special.get(SIGNATURE), contents.special.get(SIGNER), declared, trust,
                               _capture_time(manifest)):
        rep.problems.append(Problem("signature", SIGNATURE, why))
    pem = contents.special.get(SIGNER)
    want_pem = declared.get("signer_pem_sha256") if declared else None
    if pem is None and SIGNER not in contents.oversized:
        rep.problems.append(Problem("missing", SIGNER, "the signer's certificate or public key is gone"))
    elif pem is not None and want_pem is not None and hashlib.sha256(pem).hexdigest() != want_pem:
        rep.problems.append(Problem("changed", SIGNER, "differs from the one the manifest names"))
    _artifacts(manifest, contents.files, rep)
    for name, why in contents.unexpected:
        rep.problems.append(Problem("unexpected", name, why))
    return rep


def _artifacts(manifest: dict[str, Any], files: dict[str, Any], rep: Report) -> None:
    arts = manifest.get("artifacts")
    if not isinstance(arts, list) or len(arts) > MAX_ARTIFACTS:
        rep.problems.append(Problem("manifest", MANIFEST, "no artifact list"))
        arts = []
    listed: set[str] = set()
    for i, a in enumerate(arts):
        p = a.get("path") if isinstance(a, dict) else None
        why = check_rel(p)
        if why or not isinstance(a, dict) or not isinstance(p, str):
            rep.problems.append(Problem("manifest", f"{MANIFEST}#artifacts[{i}]", f"bad path: {why or 'missing'}"))
            continue
        if p in listed or p in RESERVED:
            rep.problems.append(Problem("manifest", p, "listed twice or a reserved name"))
            continue
        listed.add(p)
        seen = files.get(p)
        if seen is None:
            rep.problems.append(Problem("missing", p, "listed in the manifest, absent from the bundle"))
        elif seen.sha256 != a.get("sha256") or seen.size != a.get("size"):
            rep.problems.append(Problem("changed", p, f"sha256 {seen.sha256[:16]}... size {seen.size}, manifest "
                                                      f"says {str(a.get('sha256'))[:16]}... size {a.get('size')}"))
        else:
            rep.checked += 1
    for p in sorted(set(files) - listed):
        rep.problems.append(Problem("added", p, "not listed in the manifest"))
