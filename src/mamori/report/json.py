"""Machine-readable report with a versioned schema (``mamori.scan/v1``).

The shape is documented in docs/output-formats.md and pinned by the JSON Schema shipped in
``mamori/report/schema/scan-v1.schema.json``. Adding optional fields keeps ``v1``;
renaming, removing or retyping a field needs ``v2``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from mamori import __version__
from mamori.model import Finding, InputError, Skipped, Suppressed
from mamori.policy.decision import Decision, Notice
from mamori.report.common import (
    bound,
    files_scanned,
    rules_evaluated,
    severity_counts,
    sorted_errors,
    sorted_findings,
    sorted_notices,
    sorted_skipped,
    sorted_suppressed,
)
from mamori.rules.registry import Rule

SCHEMA_ID = "mamori.scan/v1"
SCHEMA_FILE = "scan-v1.schema.json"


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every ``--format json`` report validates against."""
    text = resources.files("mamori.report").joinpath("schema", SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _opt(text: str | None) -> str | None:
    return None if text is None else bound(text)


def finding_dict(f: Finding) -> dict[str, Any]:
    loc = f.location
    return {
        "rule_id": bound(f.rule_id),
        "title": bound(f.title),
        "severity": f.severity.name.lower(),
        "controls": [bound(c) for c in f.controls],
        "refs": [bound(r) for r in f.refs],
        "location": {
            "file": bound(loc.file),
            "line": max(loc.line, 0),
            "resource": bound(loc.resource),
            "kind": bound(loc.kind),
            "name": bound(loc.name),
            "namespace": _opt(loc.namespace),
            "container": _opt(loc.container),
            "path": bound(loc.path),
            "template": _opt(loc.template),
        },
        "message": bound(f.message),
        "remediation": bound(f.remediation),
        "source": bound(f.source),
    }


def _suppressed(s: Suppressed) -> dict[str, Any]:
    out = finding_dict(s.finding)
    out["suppression"] = {"via": bound(s.via), "reason": bound(s.reason), "expires": _opt(s.expires)}
    return out


def _error(e: InputError) -> dict[str, Any]:
    return {"file": bound(e.file), "line": max(e.line, 0), "message": bound(e.message)}


def _skipped(s: Skipped) -> dict[str, Any]:
    return {"file": bound(s.file), "line": max(s.line, 0), "what": bound(s.what), "reason": bound(s.reason)}


def _notice(n: Notice) -> dict[str, Any]:
    return {"file": bound(n.file), "line": max(n.line, 0), "message": bound(n.message)}


def _summary(decision: Decision, rules: Sequence[Rule]) -> dict[str, Any]:
    return {
        "total": len(decision.findings),
        "by_severity": severity_counts(decision.findings),
        "suppressed": len(decision.suppressed),
        "errors": len(decision.errors),
        "skipped": len(decision.skipped),
        "notices": len(decision.notices),
        "files_scanned": len(files_scanned(decision)),
        "rules_evaluated": rules_evaluated(decision, rules),
        "threshold": decision.threshold.name.lower() if decision.threshold is not None else None,
        "blocking": len(decision.blocking),
        "allowed": decision.allowed,
    }


def report(decision: Decision, rules: Sequence[Rule]) -> dict[str, Any]:
    """The report as plain data, in the documented key order."""
    return {
        "schema": SCHEMA_ID,
        "tool": {"name": "mamori", "version": __version__},
        "summary": _summary(decision, rules),
        "files": [bound(f) for f in files_scanned(decision)],
        "findings": [finding_dict(f) for f in sorted_findings(decision.findings)],
        "suppressed": [_suppressed(s) for s in sorted_suppressed(decision.suppressed)],
        "errors": [_error(e) for e in sorted_errors(decision.errors)],
        "skipped": [_skipped(s) for s in sorted_skipped(decision.skipped)],
        "notices": [_notice(n) for n in sorted_notices(decision.notices)],
        "extra": {bound(k): bound(v) for k, v in sorted(decision.extra.items())},
    }


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))


def _layout(doc: dict[str, Any]) -> str:
    """Top-level keys and list items one per line, each item compact.

    ``json.dumps(indent=...)`` falls back to the pure-Python encoder, which costs more than
    the whole scan on large inputs; one line per finding keeps the C encoder and stays
    readable and ``grep``-able.
    """
    out = io.StringIO()  # one growing buffer: joining lists of lines held several copies of large reports
    out.write("{\n")
    for n, (key, value) in enumerate(doc.items()):
        out.write(",\n  " if n else "  ")
        out.write(f"{_COMPACT.encode(key)}: ")
        if isinstance(value, list) and value:
            out.write("[\n")
            for i, item in enumerate(value):
                out.write(",\n    " if i else "    ")
                out.write(_COMPACT.encode(item))
            out.write("\n  ]")
        else:
            out.write(_COMPACT.encode(value))
    out.write("\n}\n")
    return out.getvalue()


def render(decision: Decision, rules: Sequence[Rule], *, color: bool = False) -> str:
    """UTF-8 JSON ending in a newline, one finding per line; ``color`` is accepted and ignored."""
    return _layout(report(decision, rules))
