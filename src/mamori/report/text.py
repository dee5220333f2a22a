"""Human-readable report for terminals and CI logs, grouped by file and then by resource.

Every string from the input passes through :func:`terminal_safe`, so a hostile manifest
cannot inject escape sequences; colour is added only around text mamori itself writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from mamori.model import Finding, Severity
from mamori.policy.decision import Decision
from mamori.report.common import (
    SEVERITIES,
    files_scanned,
    one_line,
    rules_evaluated,
    severity_counts,
    sorted_errors,
    sorted_findings,
    sorted_notices,
    sorted_skipped,
    sorted_suppressed,
    terminal_safe,
)
from mamori.rules.registry import Rule

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_COLOURS: dict[Severity, str] = {
    Severity.CRITICAL: "\x1b[1;35m",  # bold magenta
    Severity.HIGH: "\x1b[1;31m",  # bold red
    Severity.MEDIUM: "\x1b[33m",  # yellow
    Severity.LOW: "\x1b[34m",  # blue
    Severity.INFO: "\x1b[36m",  # cyan
}
_SEV_WIDTH = max(len(s.name) for s in Severity)
_INDENT = "    "
_UNKNOWN_FILE = "<unknown file>"


class _Style:
    """Applies ANSI styles only when colour was asked for."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self.color and text else text

    def severity(self, sev: Severity, width: int = 0) -> str:
        return self(sev.name, _COLOURS[sev]) + " " * (width - len(sev.name))


def _where(file: str, line: int) -> str:
    name = one_line(file) if file else _UNKNOWN_FILE
    return f"{name}:{line}" if line > 0 else name


def _block(label: str, text: str, pad: str) -> list[str]:
    """``label`` then ``text``, continuation lines indented to stay under the text."""
    lines = terminal_safe(text).splitlines() or [""]
    out = [f"{pad}{label}{lines[0]}"]
    out.extend(f"{pad}{' ' * len(label)}{rest}" for rest in lines[1:])
    return out


def _finding(f: Finding, id_width: int, style: _Style) -> list[str]:
    pad = _INDENT * 2 + " " * (_SEV_WIDTH + 2)
    head = (
        f"{_INDENT * 2}{style.severity(f.severity, _SEV_WIDTH)}  "
        f"{one_line(f.rule_id).ljust(id_width)}  {style(one_line(f.title), _BOLD)}"
    )
    where = _where(f.location.file, f.location.line)
    if f.location.container:
        where += f"  (container {one_line(f.location.container)})"
    if f.location.template:
        where += f"  (rendered from {one_line(f.location.template)})"
    out = [head, f"{pad}{style(where, _DIM)}"]
    out += _block("", f.message, pad)
    if f.controls:
        out.append(f"{pad}controls: {one_line(', '.join(f.controls))}")
    if f.remediation:
        out += _block("fix: ", f.remediation, pad)
    return out


def _findings(findings: list[Finding], style: _Style) -> list[str]:
    if not findings:
        return ["No findings."]
    id_width = max(len(one_line(f.rule_id)) for f in findings)
    out: list[str] = []
    for file, in_file in groupby(findings, key=lambda f: f.location.file):
        if out:
            out.append("")
        items = list(in_file)
        noun = "finding" if len(items) == 1 else "findings"
        out.append(f"{style(one_line(file) if file else _UNKNOWN_FILE, _BOLD)} ({len(items)} {noun})")
        # Resources in the order their first finding appears in the file.
        order: dict[str, list[Finding]] = {}
        for f in items:
            order.setdefault(f.location.resource, []).append(f)
        for n, (resource, group) in enumerate(order.items()):
            if n:
                out.append("")
            out.append(f"{_INDENT}{style(one_line(resource) or '-', _BOLD)}")
            for i, f in enumerate(group):
                if i:
                    out.append("")
                out += _finding(f, id_width, style)
    return out


def _suppressed(decision: Decision) -> list[str]:
    items = sorted_suppressed(decision.suppressed)
    if not items:
        return []
    rows = []
    for s in items:
        f = s.finding
        expires = f", expires {one_line(s.expires)}" if s.expires else ""
        rows.append((
            _where(f.location.file, f.location.line),
            one_line(f.rule_id),
            one_line(f.location.resource),
            f"[{one_line(s.via)}{expires}] {one_line(s.reason, 200)}",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    out = ["", f"Suppressed ({len(items)})"]
    out += [f"{_INDENT}{'  '.join(c.ljust(w) for c, w in zip(r, widths, strict=False))}  {r[3]}" for r in rows]
    return out


def _errors(decision: Decision, style: _Style) -> list[str]:
    items = sorted_errors(decision.errors)
    if not items:
        return []
    out = ["", style(f"Input errors ({len(items)})", _COLOURS[Severity.HIGH])]
    out += [f"{_INDENT}{_where(e.file, e.line)}: {one_line(e.message)}" for e in items]
    return out


def _notices(decision: Decision) -> list[str]:
    items = sorted_notices(decision.notices)
    if not items:
        return []
    out = ["", f"Notices ({len(items)})"]
    out += [f"{_INDENT}{_where(n.file, n.line)}: {one_line(n.message)}" for n in items]
    return out


def _skipped(decision: Decision) -> list[str]:
    items = sorted_skipped(decision.skipped)
    if not items:
        return []
    noun = "object" if len(items) == 1 else "objects"
    return ["", f"Skipped: {len(items)} {noun} that no rule checks (listed in --format json)."]


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _summary(decision: Decision, rules: Sequence[Rule], style: _Style) -> list[str]:
    counts = severity_counts(decision.findings)
    per_sev = ", ".join(f"{style.severity(s)}: {counts[s.name.lower()]}" for s in SEVERITIES)
    out = ["", f"Findings: {len(decision.findings)} ({per_sev})"]
    extra = [
        _plural(len(decision.suppressed), "suppressed finding"),
        _plural(len(decision.errors), "input error"),
        _plural(len(files_scanned(decision)), "file") + " scanned",
        _plural(rules_evaluated(decision, rules), "rule") + " evaluated",
    ]
    out.append(", ".join(extra))
    if decision.threshold is not None:
        blocking = len(decision.blocking)
        at = decision.threshold.name.lower()
        if decision.allowed:
            out.append(style("Result: pass", _BOLD) + f" (no finding at or above {at})")
        else:
            why = [_plural(blocking, "finding") + f" at or above {at}"] if blocking else []
            why += [_plural(len(decision.errors), "input error")] if decision.errors else []
            out.append(style("Result: FAIL", _COLOURS[Severity.HIGH]) + f" ({', '.join(why)})")
    return out


def render(decision: Decision, rules: Sequence[Rule], *, color: bool = False) -> str:
    """The report as text ending in a newline; ANSI colour only when ``color`` is True."""
    style = _Style(color)
    lines = _findings(sorted_findings(decision.findings), style)
    lines += _suppressed(decision)
    lines += _errors(decision, style)
    lines += _notices(decision)
    lines += _skipped(decision)
    lines += _summary(decision, rules, style)
    return "\n".join(line.rstrip() for line in lines) + "\n"
