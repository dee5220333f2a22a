"""The decision point: suppressions, waivers, expiry, severity overrides, fail-closed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from mamori.model import Container, Severity, Workload
from mamori.policy.config import ConfigError, Policy, Waiver, load_policy
from mamori.policy.engine import decide
from mamori.rules import registry
from mamori.rules.registry import Context, Hit, Scope
from mamori.sources import load_text
from tests.helpers import TODAY, rule_ids, scan_text

POD = """apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: shop
spec:
  containers:
    - name: c
      image: nginx:1.27
      securityContext:
        # mamori:ignore=MAM-PRIV-001 device plugin needs it exp:{exp}
        privileged: true
"""


def test_inline_suppression_applies_with_reason() -> None:
    d = scan_text("p.yaml", POD.format(exp="2027-01-01"))
    assert "MAM-PRIV-001" not in rule_ids(d)
    s = next(s for s in d.suppressed if s.finding.rule_id == "MAM-PRIV-001")
    assert s.reason == "device plugin needs it" and s.via == "inline" and s.expires == "2027-01-01"


def test_expired_inline_suppression_stops_applying_and_says_so() -> None:
    d = scan_text("p.yaml", POD.format(exp="2026-01-01"))
    assert "MAM-PRIV-001" in rule_ids(d)
    assert any("expired on 2026-01-01" in n.message for n in d.notices)


def test_suppression_without_reason_is_not_applied() -> None:
    d = scan_text("p.yaml", POD.replace(" device plugin needs it exp:{exp}", ""))
    assert "MAM-PRIV-001" in rule_ids(d)
    assert any("without a reason" in n.message for n in d.notices)


def test_inline_suppression_covers_only_its_node() -> None:
    text = POD.format(exp="2027-01-01").replace(
        "    - name: c\n", "    - name: c\n      # mamori:ignore=MAM-IMG-002 mirrored\n")
    d = scan_text("p.yaml", text)
    assert "MAM-IMG-002" in {s.finding.rule_id for s in d.suppressed}
    assert "MAM-HARD-001" in rule_ids(d)  # same container, other rule


def test_unknown_rule_id_in_suppression_is_noticed() -> None:
    d = scan_text("p.yaml", POD.replace("MAM-PRIV-001 device", "MAM-NOPE-001 device").format(exp="2027-01-01"))
    assert any("unknown rule id" in n.message for n in d.notices)


def test_waivers_match_by_resource_path_container_and_expire() -> None:
    comment = "        # mamori:ignore=MAM-PRIV-001 device plugin needs it exp:{exp}\n"
    scan = load_text("deploy/p.yaml", POD.replace(comment, ""))
    w = Waiver(("MAM-PRIV-*",), "approved in SEC-123", None, "Pod/shop/*", "deploy/*.yaml", "c")
    d = decide(scan, Policy(waivers=(w,)), today=TODAY)
    assert not any(f.rule_id.startswith("MAM-PRIV-") for f in d.findings)
    assert {s.via for s in d.suppressed} == {"waiver"}
    other = Waiver(("MAM-PRIV-*",), "x", None, "Pod/other/*")
    assert "MAM-PRIV-001" in rule_ids(decide(scan, Policy(waivers=(other,)), today=TODAY))
    expired = Waiver(("MAM-PRIV-*",), "x", date(2026, 1, 1), line=7, file="pol.yaml")
    d2 = decide(scan, Policy(waivers=(expired,)), today=TODAY)
    assert "MAM-PRIV-001" in rule_ids(d2)
    assert any(n.file == "pol.yaml" and "expired" in n.message for n in d2.notices)


def test_severity_override_and_threshold() -> None:
    scan = load_text("p.yaml", POD.format(exp="2020-01-01"))
    d = decide(scan, Policy(severity={"MAM-PRIV-001": Severity.CRITICAL}, fail_on=Severity.CRITICAL), today=TODAY)
    priv = next(f for f in d.findings if f.rule_id == "MAM-PRIV-001")
    assert priv.severity is Severity.CRITICAL
    assert not d.allowed and [f.rule_id for f in d.blocking] == ["MAM-PRIV-001"]
    assert decide(scan, Policy(fail_on=Severity.CRITICAL), today=TODAY).allowed


def test_disable_and_enable() -> None:
    scan = load_text("p.yaml", POD.format(exp="2020-01-01"))
    d = decide(scan, Policy(disable=("MAM-PRIV-*",)), today=TODAY)
    assert not any(f.rule_id.startswith("MAM-PRIV") for f in d.findings)


def test_broken_rule_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
        raise RuntimeError("bug")

    registry.all_rules()
    rule = registry.Rule("MAM-TEST-999", "t", Severity.LOW, ("CSA-3.1.2.3",), (), "x", Scope.CONTAINER, boom)
    monkeypatch.setitem(registry._RULES, rule.id, rule)
    d = decide(load_text("p.yaml", POD.format(exp="2027-01-01")), Policy(), today=TODAY)
    assert not d.allowed
    assert any("MAM-TEST-999 failed" in e.message for e in d.errors)


def test_policy_file(tmp_path: Path) -> None:
    p = tmp_path / "m.yaml"
    p.write_text("""fail-on: high
required-labels: [team]
allow:
  capabilities: [cap_net_bind_service]
  registries: [registry.example.com]
rules:
  disable: [MAM-RES-*]
  severity: {MAM-IMG-002: high}
waivers:
  - rule: MAM-PRIV-001
    reason: ok
    expires: 2027-01-31
""", encoding="utf-8")
    pol = load_policy(str(p))
    assert pol.fail_on is Severity.HIGH
    assert pol.settings.required_labels == ("team",)
    assert pol.settings.allowed_capabilities == ("NET_BIND_SERVICE",)
    assert pol.severity["MAM-IMG-002"] is Severity.HIGH
    assert pol.waivers[0].expires == date(2027, 1, 31)
    assert not pol.enabled("MAM-RES-001", True)


@pytest.mark.parametrize(("text", "needle"), [
    ("fail-on: severe\n", "unknown severity"),
    ("waivers:\n  - rule: MAM-PRIV-001\n", "needs a `reason`"),
    ("waivers:\n  - reason: x\n", "needs `rule`"),
    ("waivers:\n  - {rule: MAM-PRIV-001, reason: x, expires: tomorrow}\n", "not a date"),
    ("rulez: {}\n", "unknown key 'rulez'"),
    ("fail-on: [\n", "invalid YAML"),
])
def test_policy_errors_name_the_line(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "m.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_policy(str(p))
    assert needle in str(exc.value) and str(p) in str(exc.value)
