"""JUnit XML: one suite per rule, totals that add up, and safe escaping."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest

from mamori.model import InputError
from mamori.policy.decision import Decision
from mamori.report import junit, render
from tests.report.report_builders import HOSTILE, RULES, make_finding, make_rule, sample_decision


def _root(d: Decision, rules: object = RULES) -> ET.Element:
    return ET.fromstring(render("junit", d, rules).encode("utf-8"))  # type: ignore[arg-type]


def _suite(root: ET.Element, rule_id: str) -> ET.Element:
    return next(s for s in root.iter("testsuite") if s.get("name", "").startswith(rule_id + " "))


def _counts(el: ET.Element) -> tuple[int, int, int, int]:
    return tuple(int(el.get(k, "-1")) for k in ("tests", "failures", "errors", "skipped"))  # type: ignore[return-value]


def test_xml_declaration_and_root() -> None:
    out = render("junit", sample_decision(), RULES)
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')
    root = ET.fromstring(out.encode())
    assert root.tag == "testsuites" and root.get("name") == "mamori"


def test_one_suite_per_rule_plus_inputs() -> None:
    root = _root(sample_decision())
    names = [s.get("name") for s in root.iter("testsuite")]
    assert names == [
        "MAM-IMG-001 Image tag is mutable",
        "MAM-NET-001 Host network is shared",
        "MAM-PRIV-001 Container runs privileged",
        "MAM-RES-001 Container has no memory limit",
        "mamori inputs",
    ]


def test_failure_per_finding() -> None:
    suite = _suite(_root(sample_decision()), "MAM-PRIV-001")
    failing = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert len(failing) == 1
    case = failing[0]
    assert case.get("classname") == "MAM-PRIV-001"
    assert case.get("name") == (
        "[HIGH] Container runs privileged: Deployment/prod/web (container app) at deploy/app.yaml:12"
    )
    assert case.get("file") == "deploy/app.yaml" and case.get("line") == "12"
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "runs in privileged mode"
    assert failure.get("type") == "high"
    body = failure.text or ""
    assert "remediation: remove `privileged: true`" in body and "CSA controls: CSA-3.1.2.3" in body


def test_suppressed_are_skipped_cases() -> None:
    suite = _suite(_root(sample_decision()), "MAM-RES-001")
    skipped = [c.find("skipped") for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert [s.get("message") for s in skipped if s is not None] == [
        "suppressed (waiver, expires 2030-01-01): sized by the host"
    ]


def test_passing_case_per_clean_readable_file() -> None:
    suite = _suite(_root(sample_decision()), "MAM-PRIV-001")
    passing = [c.get("name") for c in suite.iter("testcase") if len(c) == 0]
    # broken.yaml had an input error: it cannot be reported as passing
    assert passing == ["clean/Dockerfile: no findings", "compose.yaml: no findings"]


def test_totals_add_up() -> None:
    root = _root(sample_decision())
    suites = list(root.iter("testsuite"))
    for s in suites:
        cases = list(s.iter("testcase"))
        assert _counts(s) == (
            len(cases),
            sum(c.find("failure") is not None for c in cases),
            sum(c.find("error") is not None for c in cases),
            sum(c.find("skipped") is not None for c in cases),
        )
    assert _counts(root) == tuple(sum(_counts(s)[i] for s in suites) for i in range(4))
    # IMG 1+2, NET 1+2, PRIV 1+1+2, RES 1+1+1 (cases: failures+skipped+passing), inputs 1
    assert _counts(root) == (14, 4, 1, 2)


def test_input_errors_are_errors() -> None:
    suite = next(s for s in _root(sample_decision()).iter("testsuite") if s.get("name") == "mamori inputs")
    err = suite.find("testcase/error")
    assert err is not None
    assert err.get("message") == "mapping values are not allowed here" and err.get("type") == "InputError"
    out = suite.find("system-out")
    assert out is not None and "waiver for MAM-OLD-001 expired" in (out.text or "")


def test_rule_without_files_or_findings_still_counts() -> None:
    root = _root(Decision(findings=()), [make_rule()])
    assert _counts(root) == (1, 0, 0, 0)
    assert root.find("testsuite/testcase") is not None


def test_passing_cases_fold_when_huge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(junit, "MAX_PASSING", 5)
    root = _root(sample_decision())
    suite = _suite(root, "MAM-PRIV-001")
    passing = [c.get("name") for c in suite.iter("testcase") if len(c) == 0]
    assert passing == ["no findings in 2 of 3 files read"]


def test_hostile_strings_are_escaped() -> None:
    f = make_finding(file=HOSTILE, resource=HOSTILE, container=HOSTILE, message=HOSTILE)
    f = dataclasses.replace(f, title=HOSTILE, remediation=HOSTILE)
    d = Decision(findings=(f,), errors=(InputError(HOSTILE, 2, HOSTILE),), files=(HOSTILE, "ok.yaml"))
    out = render("junit", d, [])
    assert "\x1b" not in out and "\x00" not in out and "\x08" not in out and "\u202e" not in out
    root = ET.fromstring(out.encode("utf-8"))
    failure = root.find(".//failure")
    assert failure is not None
    msg = failure.get("message") or ""
    # XML specials survive as data; attribute line breaks survive as character references
    assert '<tag a="1"> & \'q\'' in msg and "\\x1b[31mRED" in msg and "\nsecond line" in msg
