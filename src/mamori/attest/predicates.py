"""The predicates mamori writes: CycloneDX SBOM, cosign vuln, in-toto test result, approval, promotion.

Approval (``https://mamori.dev/attestation/approval/v1``)::

    {"approver": {"id": "..."}, "environment": "prod", "decision": "approved",
     "criteria": ["..."], "timeOfApproval": "RFC 3339",
     "reliedOn": [{"predicateType": "...", "digest": {"sha256": "<envelope blob hex>"}}]}

The ``approver.id`` is a claim; gates trust the identity that *signed* the envelope.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mamori import __version__
from mamori.attest.errors import AttestError

MAX_PREDICATE_FILE = 8 * 1024 * 1024
MAX_TEXT = 1024
SEVERITIES = ("unknown", "negligible", "low", "medium", "high", "critical")  # as mamori.vuln.match
TEST_RESULTS = ("PASSED", "WARNED", "FAILED")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: str, what: str) -> str:
    if not value or len(value) > MAX_TEXT or not value.isprintable():
        raise AttestError(f"{what}: 1-{MAX_TEXT} printable characters")
    return value


def load_file(path: str) -> dict[str, Any]:
    """A predicate from a JSON file (bounded); it must be a JSON object."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_PREDICATE_FILE + 1)
    except OSError as exc:
        raise AttestError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_PREDICATE_FILE:
        raise AttestError(f"{path} is larger than {MAX_PREDICATE_FILE} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise AttestError(f"{path} is not JSON") from None
    if not isinstance(doc, dict):
        raise AttestError(f"{path}: a predicate is a JSON object")
    return doc


def approval(approver: str, environment: str, criteria: list[str], relied_on: list[tuple[str, str]],
             time: str | None = None) -> dict[str, Any]:
    return {"approver": {"id": _text(approver, "approver")}, "environment": _text(environment, "environment"),
            "decision": "approved", "criteria": [_text(c, "criterion") for c in criteria],
            "timeOfApproval": time or now(),
            "reliedOn": [{"predicateType": t, "digest": {"sha256": d.removeprefix("sha256:")}} for t, d in relied_on]}


def approval_environment(pred: dict[str, Any]) -> str | None:
    env = pred.get("environment")
    return env if isinstance(env, str) and pred.get("decision", "approved") == "approved" else None


def test_result(doc: dict[str, Any]) -> dict[str, Any]:
    """Check a test-result predicate (in-toto test-result v0.1): ``result`` PASSED, WARNED or FAILED."""
    if doc.get("result") not in TEST_RESULTS:
        raise AttestError(f"a test predicate needs \"result\": one of {', '.join(TEST_RESULTS)}")
    return doc


def vuln(findings: list[dict[str, Any]], db: list[dict[str, Any]], started: str, finished: str) -> dict[str, Any]:
    """cosign's vuln predicate (singular ``scanner``, as cosign's code and real data have it)."""
    counts = {s: 0 for s in SEVERITIES}
    for f in findings:
        sev = f.get("severity")
        counts[sev if sev in counts else "unknown"] += 1
    return {"invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
            "scanner": {"uri": "https://mamori.dev/vuln", "version": __version__,
                        "db": {"uri": "mamori vuln db", "version": ",".join(
                            f"{d.get('source')}@{d.get('newest_data') or d.get('last_import')}" for d in db)},
                        "result": {"summary": counts, "findings": findings}},
            "metadata": {"scanStartedOn": started, "scanFinishedOn": finished}}


def worst_severity(pred: dict[str, Any]) -> tuple[str | None, str]:
    """(worst severity, how it was read) from a vuln predicate: mamori's findings or Trivy's Results.

    None when the result has no findings list this code understands (the gate then fails closed).
    """
    scanner = pred.get("scanner")
    result = scanner.get("result") if isinstance(scanner, dict) else None
    if not isinstance(result, dict):
        return None, "the vuln predicate has no scanner.result"
    sevs: list[str] = []
    if isinstance(result.get("findings"), list):
        sevs = [str(f.get("severity", "unknown")).lower() for f in result["findings"] if isinstance(f, dict)]
        how = "mamori findings"
    elif isinstance(result.get("Results"), list):  # Trivy JSON, as `cosign attest --type vuln` users store it
        how = "Trivy results"
        for r in result["Results"]:
            vulns = r.get("Vulnerabilities") if isinstance(r, dict) else None
            for v in vulns if isinstance(vulns, list) else []:
                if isinstance(v, dict):
                    sevs.append(str(v.get("Severity", "unknown")).lower())
    else:
        return None, "the vuln predicate's result has neither findings nor Results"
    ranked = [SEVERITIES.index(s) if s in SEVERITIES else 0 for s in sevs]
    return (SEVERITIES[max(ranked)] if ranked else "none"), f"{len(sevs)} finding(s) in {how}"


def severity_at_most(worst: str, limit: str) -> bool:
    if worst == "none":
        return True
    return SEVERITIES.index(worst) <= SEVERITIES.index(limit)


def promotion(source: str, target: str, environment: str, digest: str, gates: list[tuple[str, str]]) -> dict[str, Any]:
    return {"from": source, "to": target, "environment": environment, "digest": digest,
            "gates": [{"gate": g, "evidence": why} for g, why in gates], "timeOfPromotion": now(),
            "promoter": {"id": "mamori", "version": __version__}}
