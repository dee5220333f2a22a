"""One vulnerability report for every entry point (``vuln scan``, ``image scan --vulns``, ``scan SBOM``).

Matching, ``--ignore-unfixed``, ignore rules, the ``--fail-on`` gate and the text / JSON / SARIF
renderings live here once, so that the three commands cannot drift apart in what they hide or fail on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from mamori import __version__
from mamori.vuln.ignore import Ignore, apply_ignores
from mamori.vuln.match import SEVERITIES, VulnFinding, match_targets
from mamori.vuln.targets import Target

FAIL_ON = ("negligible", "low", "medium", "high", "critical")
_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning"}
_SARIF_SCORE = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "negligible": "1.0", "unknown": "5.5"}
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


class EmptyDatabase(RuntimeError):
    """No advisories are loaded: a scan would pass every image, so it is refused instead (fail closed)."""


@dataclass(frozen=True, slots=True)
class VulnReport:
    target: str
    packages: int
    findings: tuple[VulnFinding, ...]  # after --ignore-unfixed and the ignore rules
    ignored: tuple[tuple[VulnFinding, Ignore], ...]
    expired: tuple[Ignore, ...]
    unmatched_release: tuple[str, ...]
    notes: tuple[str, ...]
    db: tuple[dict[str, Any], ...]  # the database snapshot the scan used

    def blocking(self, fail_on: str | None) -> bool:
        """A finding at or above ``fail_on`` remains (``info`` of the policy scale counts as negligible)."""
        if not fail_on:
            return False
        floor = SEVERITIES.index("negligible" if fail_on == "info" else fail_on)
        return any(SEVERITIES.index(f.severity) >= floor for f in self.findings)

    def warnings(self) -> list[str]:
        """Lines for stderr: expired ignores, packages left unmatched, matcher notes."""
        out = [f"ignore for {r.id} expired on {r.expires}; it no longer applies" for r in self.expired]
        if self.unmatched_release:
            out.append(f"{len(self.unmatched_release)} OS package(s) without a known distro release were not matched "
                       f"(first: {self.unmatched_release[0]})")
        out.extend(f"note: {n}" for n in self.notes[:20])
        return out


def loaded_sources(engine: Engine) -> list[Any]:
    """The database's sources; raises :class:`EmptyDatabase` when no advisory is loaded."""
    from mamori.vuln.db import status

    srcs, _ = status(engine)
    if not any(s.records for s in srcs):
        raise EmptyDatabase("the advisory database is empty: import advisories first (mamori vuln db import PATH)")
    return list(srcs)


def build(engine: Engine, target: str, targets: Sequence[Target], ignores: Sequence[Ignore] = (),
          ignore_unfixed: bool = False) -> VulnReport:
    """Match ``targets`` and apply the filters. Raises :class:`EmptyDatabase` when nothing is imported."""
    srcs = loaded_sources(engine)
    report = match_targets(engine, targets)
    findings = [f for f in report.findings if not (ignore_unfixed and f.state != "fixed")]
    kept, ignored, expired = apply_ignores(findings, list(ignores))
    db = tuple({"source": s.source, "records": s.records, "last_import": s.last_import,
                "newest_data": s.newest_modified} for s in srcs)
    return VulnReport(target, len(targets), tuple(kept), tuple(ignored), tuple(expired),
                      tuple(report.unmatched_release), tuple(report.notes), db)


def as_json(r: VulnReport) -> dict[str, Any]:
    return {
        "target": r.target, "packages": r.packages, "db": list(r.db),
        "findings": [f.as_dict() for f in r.findings],
        "ignored": [{"id": f.id, "package": f.package, "reason": rule.reason} for f, rule in r.ignored],
        "unmatched_release": list(r.unmatched_release),
        "summary": summary(r),
    }


def summary(r: VulnReport) -> dict[str, Any]:
    by_state: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    for f in r.findings:
        by_state[f.state] = by_state.get(f.state, 0) + 1
        by_severity[f.severity] = by_severity.get(f.severity, 0) + 1
    return {"packages": r.packages, "findings": len(r.findings), "ignored": len(r.ignored),
            "by_state": dict(sorted(by_state.items())),
            "by_severity": {s: by_severity[s] for s in reversed(SEVERITIES) if s in by_severity}}


def _cell(text: str, width: int) -> str:
    """Terminal-safe and bounded: package names and versions come from the scanned input."""
    clean = "".join(c if c.isprintable() else "?" for c in text)[:200]
    return f"{clean:<{width}}"


def line(f: VulnFinding) -> str:
    ids = f.id + (f" ({', '.join(f.aliases[:4])}{', ...' if len(f.aliases) > 4 else ''})" if f.aliases else "")
    sev = f.severity + (f" {f.score}" if f.score is not None else "")
    if f.source_rating and f.source_rating != f.severity:  # the source's own word, next to the computed one
        sev += f" [{f.source_rating[:16]}]"
    return (f"{_cell(f.package, 28)} {_cell(f.installed, 24)} {_cell(f.fixed or '-', 24)} {f.state:<12} "
            f"{_cell(sev, 22)} {_cell(ids, 0)}").rstrip()


def as_text(r: VulnReport) -> str:
    rows = [f"{'PACKAGE':<28} {'INSTALLED':<24} {'FIXED':<24} {'STATE':<12} {'SEVERITY [SOURCE]':<22} ID (ALIASES)"]
    rows.extend(line(f) for f in r.findings)
    s = summary(r)
    states = ", ".join(f"{n} {k}" for k, n in s["by_state"].items()) or "none"
    rows.append(f"{r.packages} packages, {len(r.findings)} findings ({states}), {len(r.ignored)} ignored")
    return "\n".join(rows) + "\n"


def sarif_run(r: VulnReport) -> dict[str, Any]:
    """One SARIF run: a rule per vulnerability id, a result per (vulnerability, package); ignored ones suppressed."""
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for f, reason in [(f, None) for f in r.findings] + [(f, rule.reason) for f, rule in r.ignored]:
        if f.id not in rules:
            rules[f.id] = {
                "id": f.id, "name": f.id, "shortDescription": {"text": (f.summary or f.id)[:1000]},
                "helpUri": f"https://osv.dev/vulnerability/{f.id}",
                "properties": {"tags": ["security", "vulnerability"],
                               "security-severity": str(f.score) if f.score is not None else _SARIF_SCORE[f.severity],
                               "aliases": list(f.aliases)}}
        res: dict[str, Any] = {
            "ruleId": f.id, "level": _SARIF_LEVEL.get(f.severity, "note"),
            "message": {"text": f"{f.package} {f.installed}: {f.id} ({f.severity}, {f.state}"
                                + (f", fixed in {f.fixed})" if f.fixed else ")")},
            "locations": [{"logicalLocations": [{"name": f.purl or f.package, "kind": "package"}]}],
            "partialFingerprints": {"mamoriVuln/v1": f"{f.id}|{f.purl or f.package}"},
            "properties": {"package": f.package, "installed": f.installed, "fixed": f.fixed, "state": f.state,
                           "severity": f.severity, "score": f.score, "vector": f.vector,
                           "source_rating": f.source_rating, "ecosystem": f.ecosystem},
        }
        if reason is not None:
            res["suppressions"] = [{"kind": "external", "justification": reason[:1000]}]
        results.append(res)
    return {"tool": {"driver": {"name": "mamori-vuln", "version": __version__, "rules": list(rules.values())}},
            "results": results, "properties": {"target": r.target, "db": list(r.db)}}


def as_sarif(r: VulnReport) -> str:
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [sarif_run(r)]}, indent=2) + "\n"


def junit_suite(r: VulnReport) -> Any:
    """A ``<testsuite name="mamori-vuln">``: one failing case per finding, one skipped per ignored one."""
    import xml.etree.ElementTree as ET

    suite = ET.Element("testsuite", {"name": "mamori-vuln"})
    for f, reason in [(f, None) for f in r.findings] + [(f, rule.reason) for f, rule in r.ignored]:
        case = ET.SubElement(suite, "testcase", {"classname": f"mamori-vuln.{f.package}", "name": f.id})
        if reason is None:
            fail = ET.SubElement(case, "failure", {"type": f.severity, "message": _cell(line(f), 0).strip()[:1000]})
            fail.text = f"{f.summary[:2000]}\nfixed: {f.fixed or '-'}\nids: {', '.join(f.ids)}"
        else:
            ET.SubElement(case, "skipped", {"message": f"ignored: {reason[:1000]}"})
    if not r.findings and not r.ignored:
        ET.SubElement(suite, "testcase", {"classname": "mamori-vuln", "name": f"{r.packages} packages"})
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(len(r.findings)))
    suite.set("errors", "0")
    suite.set("skipped", str(len(r.ignored)))
    return suite


def as_junit(r: VulnReport) -> str:
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", {"name": "mamori-vuln"})
    suite = junit_suite(r)
    root.append(suite)
    for k in ("tests", "failures"):
        root.set(k, suite.get(k) or "0")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def with_policy_report(fmt: str, policy_text: str, r: VulnReport) -> str:
    """The policy report of ``mamori image scan`` in ``fmt`` with this report added in the same format."""
    if fmt == "json":
        doc = json.loads(policy_text)
        doc["vulnerabilities"] = as_json(r)
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "sarif":
        doc = json.loads(policy_text)
        doc.setdefault("runs", []).append(sarif_run(r))
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "junit":
        import xml.etree.ElementTree as ET

        root = ET.fromstring(policy_text)  # mamori's own output, not input
        suite = junit_suite(r)
        root.append(suite)
        for k in ("tests", "failures"):
            if root.get(k) is not None:
                root.set(k, str(int(root.get(k) or 0) + int(suite.get(k) or 0)))
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    return policy_text.rstrip("\n") + "\n\nVulnerabilities\n" + as_text(r)
