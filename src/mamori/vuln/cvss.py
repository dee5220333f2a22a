"""CVSS scores computed from the vector: v3.0/v3.1 with the specification's formula, v4.0 with FIRST's
MacroVector lookup and interpolation (through the pinned ``cvss`` package, which carries FIRST's tables).

Advisories carry vectors, not always scores, and scores copied between databases drift; the
vector is the fact, so the score is computed here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_U = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_C = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}
_BASE = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")


class CvssError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Cvss:
    version: str
    vector: str
    score: float
    nomenclature: str = "CVSS-B"  # v4: CVSS-B, -BT, -BE or -BTE after the metric groups the vector sets

    @property
    def rating(self) -> str:
        return rating(self.score)


def rating(score: float) -> str:
    if score == 0:
        return "none"
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    if score < 9.0:
        return "high"
    return "critical"


def _roundup_31(x: float) -> float:
    """CVSS 3.1 Appendix A: round up to one decimal, robust to floating-point noise."""
    i = round(x * 100000)
    if i % 10000 == 0:
        return i / 100000.0
    return (math.floor(i / 10000) + 1) / 10.0


def _roundup_30(x: float) -> float:
    return math.ceil(x * 10) / 10


def parse_v3(vector: str) -> tuple[str, dict[str, str]]:
    if not isinstance(vector, str) or len(vector) > 200:
        raise CvssError("not a CVSS vector")
    parts = vector.strip().split("/")
    if parts[0] not in ("CVSS:3.0", "CVSS:3.1"):
        raise CvssError(f"not a CVSS v3 vector: {vector[:60]!r}")
    metrics: dict[str, str] = {}
    for p in parts[1:]:
        k, sep, v = p.partition(":")
        if not sep or k in metrics:
            raise CvssError(f"malformed CVSS metric {p!r}")
        metrics[k] = v
    for k in _BASE:
        if k not in metrics:
            raise CvssError(f"CVSS vector lacks {k}")
    return parts[0][5:], metrics


def score_v3(vector: str) -> Cvss:
    """The base score of a CVSS v3.x vector (temporal and environmental metrics are not applied)."""
    version, m = parse_v3(vector)
    try:
        changed = {"U": False, "C": True}[m["S"]]
        iss = 1 - (1 - _CIA[m["C"]]) * (1 - _CIA[m["I"]]) * (1 - _CIA[m["A"]])
        pr = (_PR_C if changed else _PR_U)[m["PR"]]
        expl = 8.22 * _AV[m["AV"]] * _AC[m["AC"]] * pr * _UI[m["UI"]]
    except KeyError as e:
        raise CvssError(f"bad CVSS metric value {e}") from None
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    roundup = _roundup_31 if version == "3.1" else _roundup_30
    if impact <= 0:
        base = 0.0
    elif changed:
        base = roundup(min(1.08 * (impact + expl), 10))
    else:
        base = roundup(min(impact + expl, 10))
    return Cvss(version, vector.strip(), base)


MAX_VECTOR = 400  # every v4 metric set once is about 300 characters
_V4_BASE = ("AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA")
_V4_THREAT = ("E",)
_V4_ENV = ("CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI", "MVC", "MVI", "MVA", "MSC", "MSI", "MSA")


def score_v4(vector: str) -> Cvss:
    """The score of a CVSS v4.0 vector as FIRST's calculator gives it (MacroVector + interpolation).

    Threat and environmental metrics in the vector are applied, as the specification scores the
    vector it is given; ``nomenclature`` says which groups were set (CVSS-B when only base metrics).
    """
    if not isinstance(vector, str) or len(vector) > MAX_VECTOR:
        raise CvssError("not a CVSS vector")
    return _score_v4(vector.strip())


@functools.lru_cache(maxsize=4096)
def _score_v4(v: str) -> Cvss:
    """Cached: one v4 score costs about 0.25 ms and the same few hundred vectors recur across records."""
    if not v.startswith("CVSS:4.0/"):
        raise CvssError(f"not a CVSS v4.0 vector: {v[:60]!r}")
    from cvss import CVSS4  # type: ignore[import-untyped]  # untyped, and only needed for v4 vectors
    from cvss.exceptions import CVSSError  # type: ignore[import-untyped]

    try:
        c = CVSS4(v)
        base = float(c.base_score)
    except CVSSError as e:
        raise CvssError(f"bad CVSS v4.0 vector: {str(e)[:120]}") from None
    except (ValueError, KeyError, TypeError, ArithmeticError):
        raise CvssError(f"bad CVSS v4.0 vector: {v[:60]!r}") from None
    set_ = {p.partition(":")[0] for p in v.split("/")[1:] if not p.endswith(":X")}
    name = "CVSS-B" + ("T" if set_ & set(_V4_THREAT) else "") + ("E" if set_ & set(_V4_ENV) else "")
    return Cvss("4.0", v, base, name)


def score(vector: str) -> Cvss:
    """Any supported vector: ``CVSS:4.0/...`` or ``CVSS:3.x/...``."""
    if isinstance(vector, str) and vector.strip().startswith("CVSS:4.0/"):
        return score_v4(vector)
    return score_v3(vector)
