"""Every rule has fixtures that make it fire and fixtures where it must stay silent.

``tests/fixtures/rules/<RULE-ID>/`` holds ``fail*`` and ``pass*`` inputs (Kubernetes or
Compose YAML, Dockerfiles: the file name decides the format) and optionally a
``policy.yaml`` used for both. A rule fires on every ``fail*`` file and on no ``pass*``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.helpers import scan_text

from mamori.policy.config import Policy, load_policy
from mamori.rules.registry import all_rules

ROOT = Path(__file__).parent.parent / "fixtures" / "rules"


def _cases() -> list[tuple[str, str, bool]]:
    out = []
    for rule_dir in sorted(ROOT.iterdir()):
        for f in sorted(rule_dir.iterdir()):
            if f.name.startswith(("fail", "pass")):
                out.append((rule_dir.name, f.name, f.name.startswith("fail")))
    return out



@pytest.mark.parametrize(("rule_id", "fixture", "fires"), _cases())
def test_fixture(rule_id: str, fixture: str, fires: bool) -> None:
    d = ROOT / rule_id
    policy = load_policy(str(d / "policy.yaml")) if (d / "policy.yaml").exists() else Policy()
    text = (d / fixture).read_text(encoding="utf-8")
    decision = scan_text(str(d / fixture), text, policy)
    assert not decision.errors, decision.errors
    hits = [f for f in decision.findings if f.rule_id == rule_id]
    if fires:
        assert hits, f"{rule_id} did not fire on {fixture}"
        assert all(f.location.line >= 1 for f in hits), "a finding must point at a line"
    else:
        assert not hits, f"{rule_id} fired on {fixture}: {[h.message for h in hits]}"


def test_every_rule_has_both_fixtures() -> None:
    have: dict[str, set[bool]] = {}
    for rule_id, _, fires in _cases():
        have.setdefault(rule_id, set()).add(fires)
    missing = [r.id for r in all_rules() if have.get(r.id) != {True, False}]
    assert not missing, f"rules without a fail and a pass fixture: {missing}"


def test_fixture_dirs_name_real_rules() -> None:
    ids = {r.id for r in all_rules()}
    stray = [d for d in os.listdir(ROOT) if d not in ids]
    assert not stray, f"fixture directories for unknown rules: {stray}"
