"""CVSS v4.0 scores against FIRST's calculator, and which vector decides a finding's severity."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from mamori.vuln.cvss import CvssError, score, score_v3, score_v4
from mamori.vuln.match import _severity, match_targets
from mamori.vuln.targets import target_from_purl

V4 = "CVSS:4.0/"


# Scores as FIRST's CVSS v4.0 calculator gives them (the specification's MacroVector lookup and
# interpolation); the first one is the specification's own example.
@pytest.mark.parametrize(("vector", "want"), [
    ("AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
    ("AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 10.0),
    ("AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N", 6.9),
    ("AV:N/AC:L/AT:N/PR:L/UI:N/VC:N/VI:L/VA:N/SC:N/SI:N/SA:N", 5.3),  # CVE-2024-7657
    ("AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.5),
    ("AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:H/VA:L/SC:N/SI:H/SA:L", 9.2),
    ("AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:N/VA:N/SC:L/SI:N/SA:L", 5.3),
    ("AV:N/AC:L/AT:N/PR:L/UI:P/VC:H/VI:L/VA:L/SC:L/SI:L/SA:L", 7.0),
    ("AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:N/SA:H", 9.5),
    ("AV:N/AC:L/AT:P/PR:N/UI:A/VC:N/VI:N/VA:N/SC:L/SI:N/SA:N", 2.1),
    ("AV:N/AC:L/AT:P/PR:H/UI:A/VC:N/VI:L/VA:L/SC:L/SI:N/SA:N", 1.8),
    ("AV:N/AC:H/AT:N/PR:H/UI:A/VC:N/VI:N/VA:N/SC:N/SI:H/SA:N", 4.0),
    ("AV:N/AC:H/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:L/SA:N", 9.5),
    ("AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0),
])
def test_v4_scores_match_first_calculator(vector: str, want: float) -> None:
    c = score_v4(V4 + vector)
    assert (c.version, c.score, c.nomenclature) == ("4.0", want, "CVSS-B")
    assert score(V4 + vector) == c  # the dispatcher picks v4 by the prefix


def test_v4_threat_metrics_are_applied_and_named() -> None:
    base = V4 + "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    assert score_v4(base + "/E:X").score == 9.3 and score_v4(base + "/E:X").nomenclature == "CVSS-B"
    assert score_v4(base + "/E:A").score == 9.3  # attacked is the worst case the base score assumes
    unreported = score_v4(base + "/E:U")
    assert unreported.score < 9.3 and unreported.nomenclature == "CVSS-BT"
    assert score_v4(base + "/MAV:P").nomenclature == "CVSS-BE"


@pytest.mark.parametrize("bad", [
    V4 + "AV:N",  # mandatory metrics missing
    V4 + "AV:Q/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",  # unknown value
    V4 + "AV:N/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",  # duplicate
    V4 + "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/" + "E:A/" * 200,  # over the size bound
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",  # not v4
])
def test_v4_bad_vectors_are_refused(bad: str) -> None:
    with pytest.raises(CvssError):
        score_v4(bad)


def test_severity_prefers_v4_then_v3_then_the_source_rating() -> None:
    v3 = {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}  # 8.8 high
    v4 = {"type": "CVSS_V4", "score": V4 + "AV:L/AC:L/AT:P/PR:L/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}  # 5.4
    own = {"severity": "MODERATE"}
    assert _severity([v3, v4], {}, own) == ("medium", 5.4, v4["score"], "moderate")
    assert _severity([v3], {}, own) == ("high", score_v3(v3["score"]).score, v3["score"], "moderate")
    broken = {"type": "CVSS_V4", "score": V4 + "AV:N"}
    assert _severity([broken], {}, {"severity": "CRITICAL"}) == ("critical", None, broken["score"], "critical")
    assert _severity([broken, v3], {}, {})[:2] == ("high", 8.8)  # an unscorable v4 falls back to v3


def test_real_ghsa_record_is_rated_by_its_v4_vector(real_db: Engine) -> None:
    # GHSA-gmj6-6f8f-6699 (CVE-2024-56201, jinja2): v3 8.8, v4 5.4, GitHub's own rating MODERATE
    t = target_from_purl("pkg:pypi/jinja2@3.1.4")
    assert t is not None
    f = next(f for f in match_targets(real_db, [t]).findings if f.id == "CVE-2024-56201")
    assert f.score == 5.4 and f.severity == "medium" and (f.vector or "").startswith(V4)
    assert f.source_rating == "moderate" and "GHSA-gmj6-6f8f-6699" in f.aliases
