"""Output formatters: one module per format, each a pure function of a decision.

``render(fmt, decision, rules)`` is the single entry point the CLI and other callers use;
the formats and their fields are documented in docs/output-formats.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mamori.policy.decision import Decision
from mamori.report import json, junit, sarif, text
from mamori.rules.registry import Rule


class Formatter(Protocol):
    def __call__(self, decision: Decision, rules: Sequence[Rule], *, color: bool = False) -> str: ...


FORMATTERS: dict[str, Formatter] = {
    "text": text.render,
    "json": json.render,
    "sarif": sarif.render,
    "junit": junit.render,
}
FORMATS: tuple[str, ...] = tuple(FORMATTERS)
"""Format names in the order the CLI lists them."""


def render(fmt: str, decision: Decision, rules: Sequence[Rule], *, color: bool = False) -> str:
    """The report in format ``fmt``; colour applies to ``text`` only. Unknown formats raise ValueError."""
    try:
        formatter = FORMATTERS[fmt.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown output format {fmt!r} (expected one of {', '.join(FORMATS)})") from None
    return formatter(decision, rules, color=color)


__all__ = ["FORMATS", "render"]
