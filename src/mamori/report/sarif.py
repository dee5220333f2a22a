"""SARIF 2.1.0 for GitHub code scanning and other SARIF consumers.

Choices that follow from GitHub's reading of SARIF:

* ``level`` follows severity (error / warning / note) instead of marking everything an
  error, and each rule carries ``properties.security-severity`` so GitHub shows
  critical / high / medium / low; that property needs the ``security`` tag.
* ``partialFingerprints`` hash what identifies a finding but not its line, so an alert
  survives edits above it; equal hashes get an occurrence suffix (``:2``) as CodeQL does.
* Paths stay relative to ``%SRCROOT%`` with forward slashes; absolute paths become
  ``file://`` URIs. Unknown lines (0) become line 1: GitHub needs a region.
* Suppressed findings are results with ``suppressions`` so they show as dismissed rather
  than vanish; input errors are tool execution notifications and make the invocation
  unsuccessful.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mamori import __version__
from mamori.model import Finding, Severity
from mamori.policy.decision import Decision
from mamori.report.common import (
    bound,
    files_scanned,
    rules_evaluated,
    sorted_errors,
    sorted_findings,
    sorted_notices,
    sorted_suppressed,
)
from mamori.rules.registry import Rule

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "mamoriFindingHash/v1"
MAX_TAGS = 20  # GitHub reads at most 20 tags per rule

SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
LEVEL: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# Where a suppression is written: in the scanned file itself, or in a policy file.
_IN_SOURCE = frozenset({"inline", "annotation"})
_DRIVE = re.compile(r"^[A-Za-z]:/")


@dataclass(frozen=True, slots=True)
class _RuleInfo:
    """What a SARIF rule descriptor needs; from a Rule, or from a finding whose rule was not passed."""

    id: str
    title: str
    severity: Severity
    controls: tuple[str, ...]
    refs: tuple[str, ...]
    remediation: str
    description: str


def _rule_infos(rules: Sequence[Rule], findings: Iterable[Finding]) -> list[_RuleInfo]:
    infos = {
        r.id: _RuleInfo(r.id, r.title, r.severity, r.controls, r.refs, r.remediation, r.description)
        for r in rules
    }
    for f in findings:
        if f.rule_id not in infos:
            infos[f.rule_id] = _RuleInfo(f.rule_id, f.title, f.severity, f.controls, f.refs, f.remediation, "")
    return [infos[k] for k in sorted(infos)]


def artifact_location(path: str) -> dict[str, str]:
    """A SARIF artifactLocation: relative to ``%SRCROOT%``, or a ``file://`` URI when absolute."""
    p = bound(path, 4096).replace("\\", "/") or "<unknown>"
    while p.startswith("./"):
        p = p[2:]
    if _DRIVE.match(p):
        return {"uri": "file:///" + quote(p, safe="/:")}
    if p.startswith("/"):
        return {"uri": "file://" + quote(p, safe="/")}
    return {"uri": quote(p, safe="/"), "uriBaseId": SRCROOT}


def _pascal(title: str, fallback: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(w[:1].upper() + w[1:] for w in words) or fallback


def _descriptor(info: _RuleInfo) -> dict[str, Any]:
    controls = ", ".join(info.controls) or "none"
    description = info.description or info.title
    text = [description, "", f"Remediation: {info.remediation}", f"CSA controls: {controls}"]
    md = [description, "", "**Remediation:** " + info.remediation, "", f"**CSA controls:** {controls}"]
    if info.refs:
        text.append("Equivalent checks: " + ", ".join(info.refs))
        md += ["", "**Equivalent checks:** " + ", ".join(f"`{r}`" for r in info.refs)]
    tags = list(dict.fromkeys(["security", *info.controls]))[:MAX_TAGS]
    return {
        "id": info.id,
        "name": _pascal(info.title, info.id),
        "shortDescription": {"text": bound(info.title, 1000)},
        "fullDescription": {"text": bound(description)},
        "help": {"text": bound("\n".join(text)), "markdown": bound("\n".join(md))},
        "defaultConfiguration": {"level": LEVEL[info.severity]},
        "properties": {
            "tags": tags,
            "security-severity": SECURITY_SEVERITY[info.severity],
            "severity": info.severity.name.lower(),
            "refs": list(info.refs),
        },
    }


def _fingerprint(f: Finding) -> str:
    loc = f.location
    parts = [f.rule_id, artifact_location(loc.file)["uri"], loc.resource, loc.container or "", f.message]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "replace")).hexdigest()


def _logical(f: Finding) -> list[dict[str, str]]:
    loc = f.location
    out = [{"name": bound(loc.name), "fullyQualifiedName": bound(loc.resource), "kind": "resource"}]
    if loc.container:
        out.append(
            {"name": bound(loc.container), "fullyQualifiedName": bound(f"{loc.resource}/{loc.container}"),
             "kind": "object"}
        )
    return out


def _region_location(file: str, line: int) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": artifact_location(file), "region": {"startLine": max(line, 1)}}}


def _result(f: Finding, index: int, fingerprint: str) -> dict[str, Any]:
    loc = f.location
    who = loc.resource + (f" (container {loc.container})" if loc.container else "")
    location = _region_location(loc.file, loc.line)
    location["logicalLocations"] = _logical(f)
    props: dict[str, Any] = {"severity": f.severity.name.lower(), "controls": list(f.controls), "source": f.source}
    if loc.path:
        props["path"] = bound(loc.path)
    return {
        "ruleId": f.rule_id,
        "ruleIndex": index,
        "level": LEVEL[f.severity],
        "message": {"text": bound(f"{who}: {f.message}" if who else f.message) or bound(f.title) or f.rule_id},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
        "properties": props,
    }


def _notification(file: str, line: int, message: str, level: str) -> dict[str, Any]:
    where = (f"{file}:{line}" if line > 0 else file) if file else ""
    note: dict[str, Any] = {"level": level, "message": {"text": bound(f"{where}: {message}" if where else message)}}
    if file:
        phys: dict[str, Any] = {"artifactLocation": artifact_location(file)}
        if line > 0:
            phys["region"] = {"startLine": line}
        note["locations"] = [{"physicalLocation": phys}]
    return note


def report(decision: Decision, rules: Sequence[Rule]) -> dict[str, Any]:
    """The SARIF log as plain data."""
    findings = sorted_findings(decision.findings)
    suppressed = sorted_suppressed(decision.suppressed)
    infos = _rule_infos(rules, [*findings, *(s.finding for s in suppressed)])
    index = {info.id: i for i, info in enumerate(infos)}
    seen: dict[str, int] = {}

    def fingerprint(f: Finding) -> str:
        h = _fingerprint(f)
        seen[h] = seen.get(h, 0) + 1
        return f"{h}:{seen[h]}"

    results = [_result(f, index[f.rule_id], fingerprint(f)) for f in findings]
    for s in suppressed:
        res = _result(s.finding, index[s.finding.rule_id], fingerprint(s.finding))
        sup: dict[str, Any] = {
            "kind": "inSource" if s.via in _IN_SOURCE else "external",
            "status": "accepted",
            "justification": bound(s.reason),
            "properties": {"via": s.via},
        }
        if s.expires:
            sup["properties"]["expires"] = s.expires
        res["suppressions"] = [sup]
        results.append(res)

    notes = [_notification(e.file, e.line, e.message, "error") for e in sorted_errors(decision.errors)]
    notes += [_notification(n.file, n.line, n.message, "note") for n in sorted_notices(decision.notices)]
    invocation: dict[str, Any] = {"executionSuccessful": not decision.errors}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    driver = {
        "name": "mamori",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": [_descriptor(i) for i in infos],
    }
    run = {
        "tool": {"driver": driver},
        "invocations": [invocation],
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {
            "filesScanned": len(files_scanned(decision)),
            "rulesEvaluated": rules_evaluated(decision, rules),
            "skipped": len(decision.skipped),
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render(decision: Decision, rules: Sequence[Rule], *, color: bool = False) -> str:
    """Compact SARIF JSON ending in a newline; ``color`` is accepted and ignored.

    Compact because SARIF is read by machines, GitHub caps upload size, and indenting
    makes Python's encoder several times slower on large scans.
    """
    return json.dumps(report(decision, rules), ensure_ascii=False, separators=(",", ":")) + "\n"
