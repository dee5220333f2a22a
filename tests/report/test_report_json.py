"""The JSON report: its schema, its fields, its order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mamori import __version__
from mamori.model import InputError, Severity, Skipped, Suppressed
from mamori.policy.decision import Decision, Notice
from mamori.report import render
from mamori.report.json import schema
from tests.report.report_builders import HOSTILE, RULES, make_finding, sample_decision


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    s = schema()
    Draft202012Validator.check_schema(s)
    return Draft202012Validator(s)


def _doc(d: Decision) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render("json", d, RULES))
    return loaded


def test_schema_file_is_draft_2020_12() -> None:
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_sample_validates(validator: Draft202012Validator) -> None:
    validator.validate(_doc(sample_decision()))


def test_empty_validates(validator: Draft202012Validator) -> None:
    validator.validate(_doc(Decision(findings=())))


def test_hostile_validates_and_round_trips(validator: Draft202012Validator) -> None:
    f = make_finding(message=HOSTILE + "\ud800", resource=HOSTILE, container=None)
    d = Decision(findings=(f,), errors=(InputError(HOSTILE, 0, HOSTILE),))
    out = render("json", d, RULES)
    out.encode("utf-8")  # a lone surrogate would make this fail
    doc = json.loads(out)
    validator.validate(doc)
    assert doc["findings"][0]["message"] == HOSTILE + "\ufffd"
    assert doc["findings"][0]["location"]["container"] is None


def test_schema_rejects_what_it_should(validator: Draft202012Validator) -> None:
    doc = _doc(sample_decision())
    doc["findings"][0]["severity"] = "HIGH"
    assert not validator.is_valid(doc)
    doc = _doc(sample_decision())
    del doc["findings"][0]["location"]["line"]
    assert not validator.is_valid(doc)
    doc = _doc(sample_decision())
    doc["schema"] = "mamori.scan/v2"
    assert not validator.is_valid(doc)
    doc = _doc(sample_decision())
    del doc["suppressed"][0]["suppression"]
    assert not validator.is_valid(doc)


def test_top_level_and_summary() -> None:
    doc = _doc(sample_decision())
    assert list(doc)[:3] == ["schema", "tool", "summary"]
    assert doc["schema"] == "mamori.scan/v1"
    assert doc["tool"] == {"name": "mamori", "version": __version__}
    assert doc["summary"] == {
        "total": 4,
        "by_severity": {"critical": 1, "high": 1, "medium": 1, "low": 1, "info": 0},
        "suppressed": 2,
        "errors": 1,
        "skipped": 1,
        "notices": 1,
        "files_scanned": 4,
        "rules_evaluated": 4,
        "threshold": "high",
        "blocking": 2,
        "allowed": False,
    }
    assert doc["files"] == ["broken.yaml", "clean/Dockerfile", "compose.yaml", "deploy/app.yaml"]


def test_finding_fields() -> None:
    doc = _doc(sample_decision())
    f = next(x for x in doc["findings"] if x["rule_id"] == "MAM-PRIV-001")
    assert f == {
        "rule_id": "MAM-PRIV-001",
        "title": "Container runs privileged",
        "severity": "high",
        "controls": ["CSA-3.1.2.3"],
        "refs": ["checkov:CKV_K8S_16"],
        "location": {
            "file": "deploy/app.yaml",
            "line": 12,
            "resource": "Deployment/prod/web",
            "kind": "Deployment",
            "name": "web",
            "namespace": "prod",
            "container": "app",
            "path": "/spec/template/spec/containers/0/securityContext/privileged",
            "template": None,
        },
        "message": "runs in privileged mode",
        "remediation": "remove `privileged: true`",
        "source": "kubernetes",
    }


def test_findings_in_sort_key_order() -> None:
    doc = _doc(sample_decision())
    keys = [(f["location"]["file"], f["location"]["line"]) for f in doc["findings"]]
    assert keys == [("compose.yaml", 4), ("deploy/app.yaml", 12), ("deploy/app.yaml", 20), ("deploy/app.yaml", 40)]


def test_ties_in_sort_key_are_broken_deterministically() -> None:
    a = make_finding(message="a")
    b = make_finding(message="b")
    assert render("json", Decision(findings=(a, b)), RULES) == render("json", Decision(findings=(b, a)), RULES)


def test_suppressed_errors_skipped_notices() -> None:
    doc = _doc(sample_decision())
    sup = doc["suppressed"]
    assert [s["suppression"] for s in sup] == [
        {"via": "waiver", "reason": "sized by the host", "expires": "2030-01-01"},
        {"via": "inline", "reason": "CNI needs it", "expires": None},
    ]
    assert sup[0]["rule_id"] == "MAM-RES-001" and sup[0]["location"]["file"] == "compose.yaml"
    assert doc["errors"] == [{"file": "broken.yaml", "line": 3, "message": "mapping values are not allowed here"}]
    assert doc["skipped"] == [
        {"file": "deploy/app.yaml", "line": 80, "what": "CustomThing/x", "reason": "unknown kind"}
    ]
    assert doc["notices"] == [
        {"file": ".mamori.yaml", "line": 7, "message": "waiver for MAM-OLD-001 expired on 2020-01-01"}
    ]


def test_allowed_when_nothing_blocks() -> None:
    d = Decision(findings=(make_finding(severity=Severity.LOW),), threshold=Severity.HIGH)
    s = _doc(d)["summary"]
    assert s["allowed"] is True and s["blocking"] == 0 and s["by_severity"]["low"] == 1


def test_unicode_is_written_as_is() -> None:
    out = render("json", Decision(findings=(make_finding(message="守り"),)), RULES)
    assert "守り" in out


def test_lists_sorted() -> None:
    d = Decision(
        findings=(),
        suppressed=tuple(
            Suppressed(make_finding(line=n), reason="r", via="inline") for n in (9, 3, 5)
        ),
        errors=(InputError("b", 1, "x"), InputError("a", 2, "y")),
        skipped=(Skipped("b", 1, "w", "r"), Skipped("a", 1, "w", "r")),
        notices=(Notice("b", 1, "m"), Notice("a", 1, "m")),
    )
    doc = _doc(d)
    assert [s["location"]["line"] for s in doc["suppressed"]] == [3, 5, 9]
    assert [e["file"] for e in doc["errors"]] == ["a", "b"]
    assert [s["file"] for s in doc["skipped"]] == ["a", "b"]
    assert [n["file"] for n in doc["notices"]] == ["a", "b"]
