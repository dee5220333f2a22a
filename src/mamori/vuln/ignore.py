"""Ignore rules for findings: each needs a reason and may expire; OpenVEX documents are read too.

An ignore without a reason is refused (like the waivers of ``mamori scan``): an unexplained
suppression is how real findings disappear. An expired entry no longer applies and is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from mamori.vuln.match import VulnFinding

MAX_IGNORE_BYTES = 8 << 20


class IgnoreError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Ignore:
    id: str
    reason: str
    package: str | None = None  # a package name or a purl prefix; None = every package
    expires: date | None = None

    def expired(self, today: date) -> bool:
        return self.expires is not None and today > self.expires

    def applies(self, f: VulnFinding) -> bool:
        if self.id not in f.ids and self.id not in f.related:
            return False
        if self.package is None:
            return True
        return self.package in (f.package, f.source_package) or f.purl.startswith(self.package)


def _date(x: Any, where: str) -> date | None:
    if x is None or x == "":
        return None
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    try:
        return datetime.fromisoformat(str(x).replace("Z", "+00:00")).date()
    except ValueError:
        raise IgnoreError(f"{where}: 'expires' is not a date: {str(x)[:40]!r}") from None


def _openvex(doc: dict[str, Any]) -> list[Ignore]:
    out = []
    for n, st in enumerate(doc.get("statements") or []):
        if not isinstance(st, dict) or st.get("status") not in ("not_affected", "fixed"):
            continue
        vuln = st.get("vulnerability")
        vid = vuln.get("name") if isinstance(vuln, dict) else vuln
        reason = st.get("justification") or st.get("impact_statement") or st.get("status")
        if not isinstance(vid, str):
            raise IgnoreError(f"OpenVEX statement {n}: no vulnerability name")
        products = [p.get("@id") if isinstance(p, dict) else p for p in st.get("products") or []]
        for prod in products or [None]:
            out.append(Ignore(vid, f"VEX {st['status']}: {reason}", prod if isinstance(prod, str) else None))
    return out


def load_ignores(path: str | Path) -> list[Ignore]:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_IGNORE_BYTES:
            raise IgnoreError(f"{p}: larger than {MAX_IGNORE_BYTES} bytes")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise IgnoreError(f"{p}: cannot read ({e})") from None
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise IgnoreError(f"{p}: not YAML/JSON ({str(e)[:120]})") from None
    if isinstance(doc, dict) and "openvex" in str(doc.get("@context", "")):
        return _openvex(doc)
    entries = doc.get("ignore") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise IgnoreError(f"{p}: expected a list under 'ignore:'")
    out = []
    for n, ent in enumerate(entries):
        where = f"{p}: entry {n + 1}"
        if not isinstance(ent, dict) or not isinstance(ent.get("id"), str) or not ent["id"].strip():
            raise IgnoreError(f"{where}: needs an 'id'")
        reason = ent.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise IgnoreError(f"{where} ({ent['id']}): needs a 'reason'")
        pkg = ent.get("package")
        out.append(Ignore(ent["id"].strip(), reason.strip(), str(pkg) if pkg else None,
                          _date(ent.get("expires"), where)))
    return out


def apply_ignores(findings: list[VulnFinding], ignores: list[Ignore], today: date | None = None) -> tuple[
        list[VulnFinding], list[tuple[VulnFinding, Ignore]], list[Ignore]]:
    """(kept, ignored with the rule that matched, expired rules)."""
    today = today or datetime.now(UTC).date()
    live = [i for i in ignores if not i.expired(today)]
    expired = [i for i in ignores if i.expired(today)]
    kept, dropped = [], []
    for f in findings:
        rule = next((i for i in live if i.applies(f)), None)
        if rule is None:
            kept.append(f)
        else:
            dropped.append((f, rule))
    return kept, dropped, expired
