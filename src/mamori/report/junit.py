"""JUnit XML for CI test report views (GitLab, Jenkins, Azure DevOps).

One ``<testsuite>`` per rule, so a CI view reads like a checklist of controls. Inside it:
a failing ``<testcase>`` per finding (``type`` is the severity), a skipped one per
suppressed finding, and a passing one per scanned file the rule found nothing in, so
that the totals say how much was checked. When rules x files would make the report huge,
the passing cases of a rule fold into one. Input errors are ``<error>`` cases in a
separate ``mamori inputs`` suite: a CI view must not show an incomplete scan as green.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from mamori.model import Finding, Severity, Suppressed
from mamori.policy.decision import Decision
from mamori.report.common import (
    files_scanned,
    sorted_errors,
    sorted_findings,
    sorted_notices,
    sorted_suppressed,
    xml_safe,
)
from mamori.rules.registry import Rule

MAX_PASSING = 20_000
"""Above this many passing cases in total, each rule gets one summary case instead of one per file."""

INPUT_SUITE = "mamori inputs"


@dataclass(slots=True)
class _Suite:
    rule_id: str
    title: str
    severity: Severity
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)


def _suites(decision: Decision, rules: Sequence[Rule]) -> list[_Suite]:
    suites = {r.id: _Suite(r.id, r.title, r.severity) for r in rules}
    for f in sorted_findings(decision.findings):
        suites.setdefault(f.rule_id, _Suite(f.rule_id, f.title, f.severity)).findings.append(f)
    for s in sorted_suppressed(decision.suppressed):
        f = s.finding
        suites.setdefault(f.rule_id, _Suite(f.rule_id, f.title, f.severity)).suppressed.append(s)
    return [suites[k] for k in sorted(suites)]


def _where(file: str, line: int) -> str:
    return f"{file}:{line}" if line > 0 else (file or "<unknown file>")


def _case_name(f: Finding) -> str:
    loc = f.location
    container = f" (container {loc.container})" if loc.container else ""
    return f"[{f.severity.name}] {f.title}: {loc.resource}{container} at {_where(loc.file, loc.line)}"


def _details(f: Finding) -> str:
    loc = f.location
    lines = [
        f"{f.rule_id} {f.title}",
        f"severity: {f.severity.name.lower()}",
        f"location: {_where(loc.file, loc.line)}",
        f"resource: {loc.resource}",
    ]
    if loc.container:
        lines.append(f"container: {loc.container}")
    if loc.path:
        lines.append(f"path: {loc.path}")
    lines += [f"message: {f.message}", f"remediation: {f.remediation}"]
    if f.controls:
        lines.append("CSA controls: " + ", ".join(f.controls))
    if f.refs:
        lines.append("equivalent checks: " + ", ".join(f.refs))
    return "\n".join(lines)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: xml_safe(v) for k, v in attrs.items()})
    if text is not None:
        el.text = xml_safe(text)
    return el


def _case(suite: ET.Element, classname: str, name: str, file: str = "", line: int = 0) -> ET.Element:
    attrs = {"classname": classname, "name": name, "time": "0"}
    if file:
        attrs["file"] = file
    if line > 0:
        attrs["line"] = str(line)
    return _sub(suite, "testcase", **attrs)


def _set_counts(el: ET.Element, tests: int, failures: int, errors: int, skipped: int) -> None:
    el.set("tests", str(tests))
    el.set("failures", str(failures))
    el.set("errors", str(errors))
    el.set("skipped", str(skipped))
    el.set("time", "0")


def _rule_suite(root: ET.Element, s: _Suite, files: list[str], fold: bool) -> tuple[int, int, int]:
    """The rule's suite; ``files`` are those a passing case may name (read without error)."""
    el = _sub(root, "testsuite", name=f"{s.rule_id} {s.title}")
    for f in s.findings:
        case = _case(el, s.rule_id, _case_name(f), f.location.file, f.location.line)
        _sub(case, "failure", _details(f), message=f.message, type=f.severity.name.lower())
    for sup in s.suppressed:
        f = sup.finding
        case = _case(el, s.rule_id, _case_name(f), f.location.file, f.location.line)
        expires = f", expires {sup.expires}" if sup.expires else ""
        _sub(case, "skipped", message=f"suppressed ({sup.via}{expires}): {sup.reason}")
    touched = {f.location.file for f in s.findings} | {x.finding.location.file for x in s.suppressed}
    clean = [f for f in files if f not in touched]
    passing = 0
    if fold or (not files and not touched):
        if clean or not touched:
            what = f"no findings in {len(clean)} of {len(files)} files read" if files else "no findings"
            _case(el, s.rule_id, what)
            passing = 1
    else:
        for file in clean:
            _case(el, s.rule_id, f"{file}: no findings", file)
        passing = len(clean)
    tests = len(s.findings) + len(s.suppressed) + passing
    _set_counts(el, tests, len(s.findings), 0, len(s.suppressed))
    return tests, len(s.findings), len(s.suppressed)


def _input_suite(root: ET.Element, decision: Decision) -> tuple[int, int]:
    errors = sorted_errors(decision.errors)
    notices = sorted_notices(decision.notices)
    if not errors and not notices:
        return 0, 0
    el = _sub(root, "testsuite", name=INPUT_SUITE)
    for e in errors:
        case = _case(el, "input", f"{_where(e.file, e.line)}: could not be read completely", e.file, e.line)
        _sub(case, "error", str(e), message=e.message, type="InputError")
    if notices:
        _sub(el, "system-out", "\n".join(f"{_where(n.file, n.line)}: {n.message}" for n in notices))
    _set_counts(el, len(errors), 0, len(errors), 0)
    return len(errors), len(errors)


def render(decision: Decision, rules: Sequence[Rule], *, color: bool = False) -> str:
    """JUnit XML (UTF-8) ending in a newline; ``color`` is accepted and ignored."""
    unreadable = {e.file for e in decision.errors}
    files = [f for f in files_scanned(decision) if f not in unreadable]
    suites = _suites(decision, rules)
    fold = len(files) * len(suites) > MAX_PASSING
    root = ET.Element("testsuites", {"name": "mamori"})
    totals: defaultdict[str, int] = defaultdict(int)
    for s in suites:
        tests, failures, skipped = _rule_suite(root, s, files, fold)
        totals["tests"] += tests
        totals["failures"] += failures
        totals["skipped"] += skipped
    tests, errors = _input_suite(root, decision)
    totals["tests"] += tests
    _set_counts(root, totals["tests"], totals["failures"], errors, totals["skipped"])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
