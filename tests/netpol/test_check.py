"""`mamori netpol check` and `generate` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from mamori.cli.main import cli

FIXTURES = Path(__file__).parent.parent / "fixtures" / "netpol"
MULTI = str(FIXTURES / "multitenant")
COMPOSE = str(FIXTURES / "compose")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["netpol", *args])


def problems(*paths: str) -> list[dict[str, Any]]:
    res = run("check", "-f", "json", *paths)
    assert res.exit_code in (0, 1), res.output
    report = json.loads(res.output)
    assert (res.exit_code == 1) is bool(report["problems"])
    return list(report["problems"])


def deployment(name: str, ns: str, labels: dict[str, str], ann: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels, "annotations": ann or {}},
                "spec": {"containers": [{"name": "c", "image": "registry.example/c:1", "ports": [
                    {"containerPort": 8080, "name": "http"}]}]}}}}


def test_unprotected_fixture_reports_namespaces_and_exposure() -> None:
    got = problems(MULTI)
    isolation = {p["subject"] for p in got if p["code"] == "isolation"}
    assert isolation == {"namespace shop", "namespace pay", "namespace shared"}
    exposed = {p["subject"] for p in got if p["code"] == "exposed"}
    assert exposed == {"Service/shop/web", "Ingress/shop/shop"}


def test_generated_policies_leave_nothing_to_report(tmp_path: Path) -> None:
    res = run("generate", MULTI, "-o", str(tmp_path))
    assert res.exit_code == 0, res.output
    out = tmp_path / "mamori-networkpolicies.yaml"
    assert all(d["kind"] == "NetworkPolicy" for d in yaml.safe_load_all(out.read_text()))
    assert problems(MULTI, str(out)) == []
    res = run("check", MULTI, str(out))
    assert res.exit_code == 0 and "0 problem(s)" in res.output


def test_a_leaky_policy_shows_undeclared_cross_tenant_paths(tmp_path: Path) -> None:
    run("generate", MULTI, "-o", str(tmp_path))
    leak = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "oops", "namespace": "shared"},
            "spec": {"podSelector": {"matchLabels": {"tenant": "pay"}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"namespaceSelector": {}}]}]}}
    (tmp_path / "leak.yaml").write_text(yaml.safe_dump(leak))
    got = problems(MULTI, str(tmp_path))
    cross = {p["subject"] for p in got if p["code"] == "cross-tenant"}
    assert cross == set()  # an ingress hole alone is not a path: every source's egress is still denied
    egress_leak = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": {"name": "oops-out", "namespace": "shop"},
                   "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
                            "egress": [{}]}}
    (tmp_path / "leak2.yaml").write_text(yaml.safe_dump(egress_leak))
    got = problems(MULTI, str(tmp_path))
    cross = {p["subject"] for p in got if p["code"] == "cross-tenant"}
    assert cross == {"Deployment/shop/web -> Deployment/shared/cache-pay"}


def test_unused_and_malformed_declarations(tmp_path: Path) -> None:
    docs = [deployment("a", "x", {"tenant": "t", "app": "a"}, {"mamori.io/allow-from": "tenant=nobody,app=none"}),
            deployment("b", "x", {"tenant": "t", "app": "b"}, {"mamori.io/allow-to": "just-words;cidr=300.1.1.1/8"})]
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump_all(docs))
    got = problems(str(tmp_path))
    unused = [p for p in got if p["code"] == "unused-declaration"]
    assert [p["subject"] for p in unused] == ["Deployment/x/a"]
    assert "tenant=nobody,app=none" in unused[0]["message"]
    bad = [p["message"] for p in got if p["code"] == "declaration"]
    assert len(bad) == 2 and any("key=value" in m for m in bad) and any("not a CIDR" in m for m in bad)


def test_compose_shared_networks_and_published_ports() -> None:
    got = problems(COMPOSE)
    codes = {(p["code"], p["subject"].split(" (")[0]) for p in got}
    assert ("cross-tenant", "network default") in codes
    assert ("exposed", "service stray") in codes
    assert not any(p["subject"].startswith("service web") for p in got)  # declares allow-from: world


def test_generate_output_modes(tmp_path: Path) -> None:
    res = run("generate", MULTI, COMPOSE, "-o", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docker-compose.mamori.yaml", "mamori-networkpolicies.yaml"]
    res = run("generate", MULTI, COMPOSE, "-o", str(tmp_path / "one.yaml"))
    assert res.exit_code == 2 and "give a directory" in res.output
    res = run("generate", "--tenant-label", "team", MULTI)
    assert res.exit_code == 0
    assert "mamori-unit-" not in res.stdout  # nobody carries a `team` label: deny + DNS only
    assert "no 'team' label" in res.stderr


def test_bad_input_fails_closed_without_traceback(tmp_path: Path) -> None:
    bad = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "bad"},
           "spec": {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Sometimes"}]}}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(deployment("a", "x", {"tenant": "t"})))
    res = run("check", str(tmp_path))
    assert res.exit_code == 2 and "operator must be one of" in res.stderr
    assert res.exception is None or isinstance(res.exception, SystemExit)
    (tmp_path / "broken.yaml").write_text("kind: [unclosed\n")
    res = run("generate", str(tmp_path))
    assert res.exit_code == 2 and res.stdout == ""
    res = run("generate", str(tmp_path / "missing"))
    assert res.exit_code == 2


def test_compose_override_given_with_its_file_is_checked_as_merged(tmp_path: Path) -> None:
    res = run("generate", COMPOSE, "-o", str(tmp_path))
    assert res.exit_code == 0, res.output
    override = str(tmp_path / "docker-compose.mamori.yaml")
    got = problems(COMPOSE, override)
    # tenants are separated now; what generation cannot fix (a port published without declared sources) stays
    assert [(p["code"], p["subject"].split(" (")[0]) for p in got] == [("exposed", "service stray")]
    res = run("check", override)
    assert res.exit_code == 2 and "without its Compose file" in res.stderr
