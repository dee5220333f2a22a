"""Kubernetes label selectors (matchLabels + matchExpressions), parsed strictly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})
MAX_REQUIREMENTS = 256


class PolicyError(ValueError):
    """A NetworkPolicy (or selector) that the API server would reject or that we cannot read."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":  # a missing key satisfies NotIn, as in Kubernetes
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


@dataclass(frozen=True, slots=True)
class Selector:
    """All requirements ANDed; no requirement at all (``{}``) matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PolicyError(f"{what} must be a string")
    return str(value)


def parse_selector(obj: Any, where: str) -> Selector:
    """A LabelSelector object; ``None`` is rejected here (callers decide what an absent selector means)."""
    if not isinstance(obj, dict):
        raise PolicyError(f"{where} must be a mapping")
    unknown = set(obj) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise PolicyError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    reqs: list[Requirement] = []
    labels = obj.get("matchLabels") or {}
    if not isinstance(labels, dict):
        raise PolicyError(f"{where}.matchLabels must be a mapping")
    for k, v in labels.items():
        reqs.append(Requirement(_text(k, f"{where}.matchLabels key"), "In",
                                frozenset({_text(v, f"{where}.matchLabels value")})))
    exprs = obj.get("matchExpressions") or []
    if not isinstance(exprs, list):
        raise PolicyError(f"{where}.matchExpressions must be a list")
    for i, e in enumerate(exprs):
        at = f"{where}.matchExpressions[{i}]"
        if not isinstance(e, dict):
            raise PolicyError(f"{at} must be a mapping")
        op = e.get("operator")
        if op not in OPERATORS:
            raise PolicyError(f"{at}: operator must be one of {', '.join(sorted(OPERATORS))}")
        values = e.get("values") or []
        if not isinstance(values, list):
            raise PolicyError(f"{at}.values must be a list")
        vals = frozenset(_text(v, f"{at}.values") for v in values)
        if op in ("In", "NotIn") and not vals:
            raise PolicyError(f"{at}: {op} needs at least one value")
        if op in ("Exists", "DoesNotExist") and vals:
            raise PolicyError(f"{at}: {op} takes no values")
        reqs.append(Requirement(_text(e.get("key"), f"{at}.key"), str(op), vals))
    if len(reqs) > MAX_REQUIREMENTS:
        raise PolicyError(f"{where}: more than {MAX_REQUIREMENTS} requirements")
    return Selector(tuple(reqs))
