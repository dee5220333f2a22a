"""SARIF: valid against the OASIS schema and shaped the way GitHub code scanning reads it."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from jsonschema import Draft4Validator

from mamori import __version__
from mamori.model import InputError, Severity, Suppressed
from mamori.policy.decision import Decision
from mamori.report import render
from mamori.report.sarif import FINGERPRINT_KEY, artifact_location
from tests.report.report_builders import HOSTILE, RULES, make_finding, make_rule, sample_decision, sarif_validator


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    return sarif_validator()


def _sarif(d: Decision, rules: Any = RULES) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render("sarif", d, rules))
    return loaded


def _run(d: Decision, rules: Any = RULES) -> dict[str, Any]:
    run: dict[str, Any] = _sarif(d, rules)["runs"][0]
    return run


def test_sample_validates(validator: Draft4Validator) -> None:
    validator.validate(_sarif(sample_decision()))


def test_empty_validates(validator: Draft4Validator) -> None:
    validator.validate(_sarif(Decision(findings=()), ()))


def test_schema_check_is_not_vacuous(validator: Draft4Validator) -> None:
    doc = _sarif(sample_decision())
    doc["runs"][0]["results"][0]["suppressions"] = [{"kind": "inline"}]
    assert not validator.is_valid(doc)
    doc = _sarif(sample_decision())
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "a b"
    assert not validator.is_valid(doc)


def test_hostile_paths_and_messages_validate(validator: Draft4Validator) -> None:
    findings = tuple(
        make_finding(file=p, message=HOSTILE, resource=HOSTILE, container=HOSTILE)
        for p in (HOSTILE, "dir with space/ü.yaml", "C:\\work\\k8s\\a.yaml", "/abs/p#q?.yaml", "", "./x/../y.yaml")
    )
    d = Decision(findings=findings, errors=(InputError(HOSTILE, 0, HOSTILE),))
    validator.validate(_sarif(d))


def test_header_and_driver() -> None:
    assert render("sarif", sample_decision(), RULES).count("\n") == 1  # compact, newline-terminated
    doc = _sarif(sample_decision())
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-schema-2.1.0.json")
    assert len(doc["runs"]) == 1
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["name"] == "mamori"
    assert driver["version"] == driver["semanticVersion"] == __version__
    assert "informationUri" not in driver


def test_rule_descriptors() -> None:
    rules = _run(sample_decision())["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(r.id for r in RULES)
    priv = next(r for r in rules if r["id"] == "MAM-PRIV-001")
    assert priv["name"] == "ContainerRunsPrivileged"
    assert priv["shortDescription"]["text"] == "Container runs privileged"
    assert priv["fullDescription"]["text"] == "Container runs privileged: why it matters."
    assert "remove `privileged: true`" in priv["help"]["text"]
    assert "CSA-3.1.2.3" in priv["help"]["text"]
    assert "**Remediation:** remove `privileged: true`" in priv["help"]["markdown"]
    assert "`checkov:CKV_K8S_16`" in priv["help"]["markdown"]
    assert priv["defaultConfiguration"]["level"] == "error"
    assert priv["properties"]["tags"] == ["security", "CSA-3.1.2.3"]
    assert priv["properties"]["security-severity"] == "8.0"


@pytest.mark.parametrize(
    ("severity", "level", "score"),
    [
        (Severity.CRITICAL, "error", "9.5"),
        (Severity.HIGH, "error", "8.0"),
        (Severity.MEDIUM, "warning", "5.5"),
        (Severity.LOW, "note", "3.0"),
        (Severity.INFO, "note", "1.0"),
    ],
)
def test_level_and_security_severity_follow_severity(severity: Severity, level: str, score: str) -> None:
    rule = make_rule(severity=severity)
    run = _run(Decision(findings=(make_finding(rule),)), [rule])
    assert run["results"][0]["level"] == level
    desc = run["tool"]["driver"]["rules"][0]
    assert desc["defaultConfiguration"]["level"] == level
    assert desc["properties"]["security-severity"] == score
    assert 0.0 <= float(score) <= 10.0


def test_results_reference_their_rule() -> None:
    run = _run(sample_decision())
    rules = run["tool"]["driver"]["rules"]
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]


def test_rule_missing_from_the_list_is_described_from_its_finding(validator: Draft4Validator) -> None:
    rule = make_rule("MAM-ENGINE-001", "Synthetic", Severity.MEDIUM)
    doc = _sarif(Decision(findings=(make_finding(rule),)), [])
    validator.validate(doc)
    run = doc["runs"][0]
    assert run["tool"]["driver"]["rules"][0]["id"] == "MAM-ENGINE-001"
    assert run["results"][0]["ruleIndex"] == 0


def test_result_location() -> None:
    run = _run(sample_decision())
    res = next(r for r in run["results"] if r["ruleId"] == "MAM-PRIV-001" and "suppressions" not in r)
    loc = res["locations"][0]
    assert loc["physicalLocation"] == {
        "artifactLocation": {"uri": "deploy/app.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 12},
    }
    assert loc["logicalLocations"][0]["fullyQualifiedName"] == "Deployment/prod/web"
    assert loc["logicalLocations"][1]["name"] == "app"
    assert res["message"]["text"] == "Deployment/prod/web (container app): runs in privileged mode"


def test_unknown_line_becomes_line_one() -> None:
    run = _run(Decision(findings=(make_finding(line=0),)))
    assert run["results"][0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("deploy/app.yaml", {"uri": "deploy/app.yaml", "uriBaseId": "%SRCROOT%"}),
        ("./deploy/app.yaml", {"uri": "deploy/app.yaml", "uriBaseId": "%SRCROOT%"}),
        ("deploy\\win.yaml", {"uri": "deploy/win.yaml", "uriBaseId": "%SRCROOT%"}),
        ("a b/ü.yaml", {"uri": "a%20b/%C3%BC.yaml", "uriBaseId": "%SRCROOT%"}),
        ("c:x.yaml", {"uri": "c%3Ax.yaml", "uriBaseId": "%SRCROOT%"}),
        ("/abs/x.yaml", {"uri": "file:///abs/x.yaml"}),
        ("C:\\abs\\x.yaml", {"uri": "file:///C:/abs/x.yaml"}),
    ],
)
def test_artifact_location(path: str, expected: dict[str, str]) -> None:
    assert artifact_location(path) == expected


def test_fingerprints_stable_unique_and_line_independent() -> None:
    run = _run(sample_decision())
    prints = [r["partialFingerprints"][FINGERPRINT_KEY] for r in run["results"]]
    assert len(set(prints)) == len(prints)
    assert all(re.fullmatch(r"[0-9a-f]{64}:\d+", p) for p in prints)
    moved = _run(Decision(findings=(make_finding(line=99),)))
    here = _run(Decision(findings=(make_finding(line=12),)))
    assert moved["results"][0]["partialFingerprints"] == here["results"][0]["partialFingerprints"]
    other = _run(Decision(findings=(make_finding(container="other"),)))
    assert other["results"][0]["partialFingerprints"] != here["results"][0]["partialFingerprints"]


def test_identical_findings_get_occurrence_suffixes() -> None:
    run = _run(Decision(findings=(make_finding(line=5), make_finding(line=9))))
    prints = [r["partialFingerprints"][FINGERPRINT_KEY] for r in run["results"]]
    assert prints[0].endswith(":1") and prints[1].endswith(":2")
    assert prints[0][:-2] == prints[1][:-2]


def test_suppressed_findings_are_results_with_suppressions() -> None:
    run = _run(sample_decision())
    sup = [r for r in run["results"] if "suppressions" in r]
    assert len(sup) == 2
    by_via = {r["suppressions"][0]["properties"]["via"]: r["suppressions"][0] for r in sup}
    assert by_via["waiver"]["kind"] == "external"
    assert by_via["waiver"]["justification"] == "sized by the host"
    assert by_via["waiver"]["properties"]["expires"] == "2030-01-01"
    assert by_via["inline"]["kind"] == "inSource"
    assert all(s["status"] == "accepted" for s in by_via.values())
    assert len([r for r in run["results"] if "suppressions" not in r]) == 4


def test_annotation_suppression_is_in_source() -> None:
    d = Decision(findings=(), suppressed=(Suppressed(make_finding(), reason="r", via="annotation"),))
    assert _run(d)["results"][0]["suppressions"][0]["kind"] == "inSource"


def test_input_errors_make_the_invocation_unsuccessful() -> None:
    inv = _run(sample_decision())["invocations"][0]
    assert inv["executionSuccessful"] is False
    notes = inv["toolExecutionNotifications"]
    err = next(n for n in notes if n["level"] == "error")
    assert err["message"]["text"] == "broken.yaml:3: mapping values are not allowed here"
    assert err["locations"][0]["physicalLocation"]["region"] == {"startLine": 3}
    assert any(n["level"] == "note" and "expired" in n["message"]["text"] for n in notes)


def test_clean_invocation_is_successful() -> None:
    inv = _run(Decision(findings=(make_finding(),)))["invocations"][0]
    assert inv == {"executionSuccessful": True}


def test_tags_are_capped_for_github() -> None:
    rule = make_rule(controls=[f"CSA-3.1.{n}.1" for n in range(40)])
    desc = _run(Decision(findings=()), [rule])["tool"]["driver"]["rules"][0]
    assert len(desc["properties"]["tags"]) == 20 and desc["properties"]["tags"][0] == "security"


def test_levels_are_not_all_error() -> None:
    levels = {r["level"] for r in _run(sample_decision())["results"]}
    assert levels == {"error", "warning", "note"}


def test_hostile_message_is_kept_as_data() -> None:
    f = dataclasses.replace(make_finding(), message=HOSTILE)
    text = _run(Decision(findings=(f,)))["results"][0]["message"]["text"]
    assert text.endswith(HOSTILE)
