"""The dispatcher and properties every format shares: determinism, colour, empty input."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import pytest

from mamori.policy.decision import Decision
from mamori.report import FORMATS, render
from tests.report.report_builders import RULES, sample_decision


def test_formats_listed() -> None:
    assert FORMATS == ("text", "json", "sarif", "junit")


def test_unknown_format_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown output format 'html'"):
        render("html", Decision(findings=()), RULES)


def test_format_name_is_case_insensitive() -> None:
    d = sample_decision()
    assert render("JSON", d, RULES) == render("json", d, RULES)


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_does_not_depend_on_input_order(fmt: str) -> None:
    d = sample_decision()
    shuffled = dataclasses.replace(
        d,
        findings=tuple(reversed(d.findings)),
        suppressed=tuple(reversed(d.suppressed)),
        files=tuple(reversed(d.files)),
    )
    assert render(fmt, d, RULES) == render(fmt, shuffled, tuple(reversed(RULES)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_decision_renders(fmt: str) -> None:
    out = render(fmt, Decision(findings=()), ())
    assert out.endswith("\n")
    if fmt in ("json", "sarif"):
        json.loads(out)
    elif fmt == "junit":
        ET.fromstring(out.encode())


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit"])
def test_color_never_reaches_machine_formats(fmt: str) -> None:
    d = sample_decision()
    out = render(fmt, d, RULES, color=True)
    assert out == render(fmt, d, RULES)
    assert "\x1b" not in out


def test_color_only_when_asked() -> None:
    d = sample_decision()
    assert "\x1b[" not in render("text", d, RULES)
    assert "\x1b[" in render("text", d, RULES, color=True)
