"""Shared test helpers: scan a text as if it were a file, and pick out rule ids."""

from __future__ import annotations

from datetime import date

from mamori.model import Finding
from mamori.policy.config import Policy
from mamori.policy.decision import Decision
from mamori.policy.engine import decide
from mamori.sources import load_text

TODAY = date(2026, 11, 26)


def scan_text(filename: str, text: str, policy: Policy | None = None, today: date = TODAY) -> Decision:
    """Normalise ``text`` as the file ``filename`` and decide on it."""
    return decide(load_text(filename, text), policy, today=today)


def rule_ids(decision: Decision) -> set[str]:
    return {f.rule_id for f in decision.findings}


def findings_of(decision: Decision, rule_id: str) -> list[Finding]:
    return [f for f in decision.findings if f.rule_id == rule_id]
