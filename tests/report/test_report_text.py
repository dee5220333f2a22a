"""The text report: grouping, alignment, sections, colour and hostile input."""

from __future__ import annotations

import dataclasses
import re

from mamori.model import InputError, Severity, Suppressed
from mamori.policy.decision import Decision
from mamori.report import render
from tests.report.report_builders import HOSTILE, RULES, make_finding, sample_decision

ANSI = re.compile("\x1b\\[[0-9;]*m")


def test_groups_by_file_then_resource() -> None:
    out = render("text", sample_decision(), RULES)
    lines = out.splitlines()
    assert lines[0] == "compose.yaml (1 finding)"
    assert "deploy/app.yaml (3 findings)" in lines
    web = lines.index("    Deployment/prod/web")
    api = lines.index("    Deployment/prod/api")
    assert web < api
    # both web findings (lines 12 and 20) come between the two resource headers
    block = "\n".join(lines[web:api])
    assert "deploy/app.yaml:12" in block and "deploy/app.yaml:20" in block


def test_finding_shows_everything_a_user_needs() -> None:
    out = render("text", sample_decision(), RULES)
    assert "        HIGH      MAM-PRIV-001  Container runs privileged" in out
    assert "deploy/app.yaml:12  (container app)" in out
    assert "runs in privileged mode" in out
    assert "controls: CSA-3.1.2.3" in out
    assert "fix: remove `privileged: true`" in out


def test_columns_are_aligned() -> None:
    out = render("text", sample_decision(), RULES)
    heads = [line for line in out.splitlines() if re.match(r"^ {8}(CRITICAL|HIGH|MEDIUM|LOW|INFO) ", line)]
    assert len(heads) == 4
    assert len({line.index("MAM-") for line in heads}) == 1
    titles = {re.search(r"MAM-\S+\s+", line).end() for line in heads}  # type: ignore[union-attr]
    assert len(titles) == 1


def test_sections_and_summary() -> None:
    out = render("text", sample_decision(), RULES)
    assert "Suppressed (2)" in out
    assert "[waiver, expires 2030-01-01] sized by the host" in out
    assert "[inline] CNI needs it" in out
    assert "Input errors (1)\n    broken.yaml:3: mapping values are not allowed here" in out
    assert "Notices (1)\n    .mamori.yaml:7: waiver for MAM-OLD-001 expired" in out
    assert "Skipped: 1 object that no rule checks" in out
    assert "Findings: 4 (CRITICAL: 1, HIGH: 1, MEDIUM: 1, LOW: 1, INFO: 0)" in out
    assert "2 suppressed findings, 1 input error, 4 files scanned, 4 rules evaluated" in out
    assert "Result: FAIL (2 findings at or above high, 1 input error)" in out


def test_clean_scan() -> None:
    d = Decision(findings=(), files=("a.yaml",), threshold=Severity.HIGH, rules_evaluated=7)
    out = render("text", d, RULES)
    assert out.startswith("No findings.\n")
    assert "Suppressed" not in out and "Input errors" not in out and "Notices" not in out
    assert "1 file scanned, 7 rules evaluated" in out
    assert "Result: pass (no finding at or above high)" in out


def test_no_threshold_no_verdict() -> None:
    out = render("text", sample_decision(threshold=None), RULES)
    assert "Result:" not in out


def test_rules_evaluated_falls_back_to_rules_given() -> None:
    out = render("text", Decision(findings=()), RULES)
    assert "4 rules evaluated" in out


def test_line_zero_shows_file_only() -> None:
    d = Decision(findings=(make_finding(line=0),), errors=(InputError("x.yaml", 0, "too big"),))
    out = render("text", d, RULES)
    assert "deploy/app.yaml:0" not in out and "  deploy/app.yaml  (container app)" in out
    assert "    x.yaml: too big" in out


def test_multiline_message_is_indented_under_the_finding() -> None:
    d = Decision(findings=(make_finding(message="first\nsecond"),))
    lines = render("text", d, RULES).splitlines()
    i = lines.index(" " * 18 + "first")
    assert lines[i + 1] == " " * 18 + "second"


def test_hostile_strings_cannot_reach_the_terminal() -> None:
    f = make_finding(file=HOSTILE, resource=HOSTILE, container=HOSTILE, message=HOSTILE)
    f = dataclasses.replace(f, title=HOSTILE, rule_id=HOSTILE, remediation=HOSTILE, controls=(HOSTILE,))
    d = Decision(
        findings=(f,),
        suppressed=(Suppressed(f, reason=HOSTILE, via=HOSTILE, expires=HOSTILE),),
        errors=(InputError(HOSTILE, 1, HOSTILE),),
        notices=(),
    )
    for color in (False, True):
        out = ANSI.sub("", render("text", d, RULES, color=color)) if color else render("text", d, RULES)
        assert "\x1b" not in out and "\x07" not in out and "\x00" not in out
        assert "\r" not in out and "\u202e" not in out and "\x08" not in out
        assert "\\x1b[31mRED" in out
    # With colour, the only escape sequences are the SGR codes mamori writes itself.
    coloured = render("text", d, RULES, color=True)
    assert "\x1b" not in ANSI.sub("", coloured)


def test_colour_marks_severity() -> None:
    out = render("text", sample_decision(), RULES, color=True)
    assert "\x1b[1;35mCRITICAL\x1b[0m" in out
    assert "\x1b[1;31mHIGH\x1b[0m" in out
    # stripping the codes gives the plain report back
    assert ANSI.sub("", out) == render("text", sample_decision(), RULES)


def test_long_fields_are_bounded() -> None:
    d = Decision(findings=(make_finding(message="m" * 100_000),))
    out = render("text", d, RULES)
    assert len(out) < 20_000 and "more characters]" in out
