"""The policy's `enforcement:` and `trust:` sections, and how verdicts follow them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.enforce.verdict import judge, on_update
from mamori.model import Severity
from mamori.policy.config import ConfigError, Policy, load_policy
from mamori.policy.enforcement import Mode
from mamori.sources import load_text

PRIVILEGED = """\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop}
spec:
  containers:
    - name: a
      image: registry.example.com/a:1
      securityContext: {privileged: true}
"""


def _policy(tmp_path: Path, text: str) -> Policy:
    p = tmp_path / "mamori.yaml"
    p.write_text(text)
    return load_policy(str(p))


def test_enforcement_section_is_read(tmp_path: Path) -> None:
    pol = _policy(tmp_path, """\
enforcement:
  mode: warn
  deny-on: medium
  rules:
    MAM-PRIV-*: enforce
    MAM-IMG-001: audit
  exempt-namespaces: [ops]
  existing-on-update: enforce
  mutate:
    drop-capabilities: false
    read-only-root: true
    default-labels: {tenant: shared}
  docker:
    allow-plugins: ["vieux/sshfs*"]
    volume-drivers: [local, nfs]
    allow-root-exec: true
""")
    e = pol.enforcement
    assert e.mode is Mode.WARN and e.deny_on is Severity.MEDIUM
    assert e.mode_of("MAM-PRIV-001") is Mode.ENFORCE and e.mode_of("MAM-IMG-001") is Mode.AUDIT
    assert e.mode_of("MAM-CAP-001") is Mode.WARN
    assert e.exempt_namespaces == ("ops",) and e.existing_on_update is Mode.ENFORCE
    assert not e.mutate.drop_capabilities and e.mutate.read_only_root and e.mutate.no_privilege_escalation
    assert e.mutate.default_labels == {"tenant": "shared"}
    assert e.docker.allowed_plugins == ("vieux/sshfs*",) and e.docker.volume_drivers == ("local", "nfs")
    assert e.docker.allow_root_exec is True


def test_defaults_are_the_safe_ones() -> None:
    e = Policy().enforcement
    assert e.mode is Mode.ENFORCE and e.threshold(None) is Severity.HIGH
    assert e.threshold(Severity.LOW) is Severity.LOW  # fail-on is the admission threshold too
    assert "kube-system" in e.exempt_namespaces
    assert e.mutate.no_privilege_escalation and not e.mutate.run_as_non_root


@pytest.mark.parametrize(("text", "needle"), [
    ("enforcement:\n  mode: block\n", ":2: unknown mode 'block'"),
    ("enforcement:\n  rules:\n    MAM-PRIV-001: deny\n", ":3: unknown mode 'deny'"),
    ("enforcement:\n  mutate:\n    drop-capabilities: yes please\n", ":3: expected true or false"),
    ("enforcement:\n  mutate:\n    drop-caps: true\n", ":3: unknown key 'drop-caps'"),
    ("enforcement:\n  deny-on: severe\n", ":2: unknown severity"),
    ("trust:\n  approved-images:\n    - registry.example.com/a:1\n", ":3: 'registry.example.com/a:1' is not pinned"),
])
def test_enforcement_errors_name_the_line(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _policy(tmp_path, text)
    assert needle in str(exc.value)


def test_modes_split_findings(tmp_path: Path) -> None:
    scan = load_text("pod.yaml", PRIVILEGED)
    assert not judge(scan, Policy()).allowed
    warn = judge(load_text("pod.yaml", PRIVILEGED), _policy(tmp_path, "enforcement:\n  rules: {MAM-PRIV-001: warn}\n"))
    assert warn.allowed and [f.rule_id for f in warn.warned] == ["MAM-PRIV-001"]
    assert warn.warnings()[0].startswith("[MAM-PRIV-001] Pod/shop/p container a")
    audit = judge(load_text("pod.yaml", PRIVILEGED), _policy(tmp_path, "enforcement:\n  mode: audit\n"))
    assert audit.allowed and not audit.warned and "MAM-PRIV-001" in {f.rule_id for f in audit.audited}


def test_reason_names_rule_field_and_fix() -> None:
    v = judge(load_text("pod.yaml", PRIVILEGED), Policy())
    text = v.reason()
    assert "[MAM-PRIV-001]" in text and "/spec/containers/0/securityContext/privileged" in text and "Fix:" in text
    assert len(v.reason(limit=80)) <= 80


def test_unreadable_input_is_denied() -> None:
    v = judge(load_text("pod.yaml", "kind: Pod\napiVersion: v1\nspec: [\n"), Policy())
    assert not v.allowed and v.errors


def test_on_update_keeps_only_new_violations_blocking() -> None:
    old = judge(load_text("pod.yaml", PRIVILEGED), Policy())
    worse = PRIVILEGED.replace("spec:\n", "spec:\n  hostPID: true\n", 1)
    new = judge(load_text("pod.yaml", worse), Policy())
    upd = on_update(new, old, Policy())
    assert [f.rule_id for f in upd.denied] == ["MAM-PRIV-003"]
    assert "MAM-PRIV-001" in {f.rule_id for f in upd.warned}


def test_trust_approved_images(tmp_path: Path) -> None:
    digest = "sha256:" + "1" * 64
    pol = _policy(tmp_path, f"trust:\n  approved-images: ['registry.example.com/a@{digest}', 'sha256:{'2' * 64}']\n")
    assert pol.approved_digests is not None and len(pol.approved_digests.digests) == 2
    pinned = PRIVILEGED.replace("registry.example.com/a:1", f"registry.example.com/a@{digest}").replace(
        "securityContext: {privileged: true}", "securityContext: {}")
    assert "MAM-IMG-005" not in {f.rule_id for f in judge(load_text("p.yaml", pinned), pol).decision.findings}
    other = pinned.replace(digest, "sha256:" + "3" * 64)
    assert "MAM-IMG-005" in {f.rule_id for f in judge(load_text("p.yaml", other), pol).denied}


@pytest.mark.parametrize(("text", "needle"), [
    ("trust:\n  signatures:\n    keys: [missing.pub]\n", ":2: "),
    ("trust:\n  signatures:\n    key: [a.pub]\n", "unknown key"),
    ("trust:\n  signatures: [a.pub]\n", ":2: expected a mapping"),
    ("trust:\n  registry: {insecure: maybe}\n  signatures: {keys: []}\n", "expected true or false"),
])
def test_signature_trust_errors_name_the_line(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _policy(tmp_path, text)
    assert needle in str(exc.value)
