"""Continuous rescans (CSA-3.1.6.5): match known images again after each advisory update.

An image is downloaded once, when its digest is first seen; its inventory is stored by digest and
re-matched on every later run. Findings are keyed by (id, package, installed version); a finding
whose key was not in the image's previous result is *new*. The previous result is replaced only
after the image's notification (if any) was delivered, so a failed delivery is reported again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from mamori.image.catalog.model import Inventory, OsRelease, Package
from mamori.store import rescan as store
from mamori.vuln.match import SEVERITIES, VulnFinding, match_targets
from mamori.vuln.targets import targets_from_inventory
from mamori.vuln.walk import Subject

MAX_STORED_PACKAGES = 200_000
Loader = Callable[[str], Inventory]
Notifier = Callable[["ImageResult"], None]


@dataclass
class ImageResult:
    subject: Subject
    downloaded: bool = False
    findings: list[VulnFinding] = field(default_factory=list)
    new: list[VulnFinding] = field(default_factory=list)
    first_scan: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        s = self.subject
        return {"digest": s.digest, "ref": s.ref, "names": s.names, "containers": s.containers,
                "downloaded": self.downloaded, "first_scan": self.first_scan, "error": self.error,
                "findings": len(self.findings), "new": [f.as_dict() for f in self.new]}


def finding_key(f: VulnFinding) -> str:
    return f"{f.id}|{f.package}|{f.installed}"


def inventory_to_json(inv: Inventory) -> dict[str, Any]:
    """What matching needs: the OS release and packages (file lists left out to bound the row)."""
    pkgs = [{k: v for k, v in dataclasses.asdict(p).items() if k != "files"}
            for p in inv.packages[:MAX_STORED_PACKAGES]]
    return {"os": dataclasses.asdict(inv.os) if inv.os else None, "packages": pkgs}


def inventory_from_json(doc: dict[str, Any]) -> Inventory:
    os_doc = doc.get("os")
    os_ = OsRelease(**{**os_doc, "id_like": tuple(os_doc.get("id_like") or ())}) if isinstance(os_doc, dict) else None
    pkgs = [Package(**{**p, "licenses": tuple(p.get("licenses") or ())}) for p in doc.get("packages") or []]
    return Inventory(os_, pkgs)


def rescan_one(engine: Engine, subject: Subject, load: Loader, notify: Notifier | None = None) -> ImageResult:
    """Match one image (from the store when its digest is known); never raises for a bad image."""
    res = ImageResult(subject)
    try:
        stored = store.get(engine, subject.key)
        inv: Inventory | None = None
        if stored is not None:
            try:
                inv = inventory_from_json(stored.inventory)
            except (TypeError, ValueError, AttributeError):
                inv = None  # stored by another version of mamori: read the image again
        if inv is None:
            inv = load(subject.ref)
            res.downloaded = True
            store.save_inventory(engine, subject.key, subject.ref, inventory_to_json(inv))
        keys = stored.keys if stored is not None else None
        previous = keys or frozenset()
        res.first_scan = keys is None
        res.findings = match_targets(engine, targets_from_inventory(inv)).findings
        res.new = [f for f in res.findings if finding_key(f) not in previous]
        if notify is not None and res.new:
            notify(res)
        store.save_result(engine, subject.key, subject.ref, {finding_key(f) for f in res.findings})
    except Exception as exc:  # noqa: BLE001 - one bad image is reported on its line, the others go on
        res.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}" if str(exc) else type(exc).__name__
    return res


def reaches(f: VulnFinding, threshold: str) -> bool:
    return SEVERITIES.index(f.severity) >= SEVERITIES.index(threshold)


def notification(res: ImageResult, created: str) -> bytes:
    """The webhook body for one image's new findings."""
    s = res.subject
    return json.dumps({"kind": "vuln.rescan.new", "created": created, "image": s.ref, "digest": s.digest,
                       "names": s.names, "containers": s.containers,
                       "findings": [f.as_dict() for f in res.new]}, sort_keys=True).encode()


def event_id(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
