"""Generated isolation: schema-valid, scan-clean, and proven by the evaluator pair by pair."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mamori.netpol.evaluate import Pod, Policy, can_connect, parse_policy
from mamori.netpol.generate import generate
from mamori.netpol.inventory import Inventory, Wl, load_inventory

FIXTURES = Path(__file__).parent.parent / "fixtures" / "netpol"
SCHEMA = json.loads((Path(__file__).parent.parent / "data" / "networkpolicy-networking-v1.json").read_text())
KUBE_DNS = Pod("coredns", "kube-system", {"k8s-app": "kube-dns"})


def pods_of(inv: Inventory) -> dict[str, tuple[Wl, Pod]]:
    return {f"{w.namespace}/{w.name}": (w, Pod(w.name, w.namespace, w.labels, inv.namespaces.get(w.namespace, {}),
                                              named_ports={p.name: (p.port, p.protocol) for p in w.ports if p.name}))
            for w in inv.k8s()}


def reach(pols: list[Policy], src: Pod, dst: tuple[Wl, Pod]) -> bool:
    w, pod = dst
    return any(can_connect(pols, src, pod, p.port, p.protocol) for p in w.ports) if w.ports else \
        can_connect(pols, src, pod, None)


@pytest.fixture(scope="module")
def multitenant() -> tuple[Inventory, list[dict[str, Any]], list[Policy]]:
    inv = load_inventory([str(FIXTURES / "multitenant")])
    assert not inv.errors
    gen = generate(inv)
    return inv, gen.policies, [parse_policy(p) for p in gen.policies]


def test_generated_policies_validate_against_the_kubernetes_schema(multitenant: Any) -> None:
    _, objs, _ = multitenant
    validator = jsonschema.Draft4Validator(SCHEMA)
    assert len(objs) >= 3 * 3  # default deny + DNS + at least one unit per namespace
    for obj in objs:
        roundtrip = yaml.safe_load(yaml.safe_dump(obj))
        errors = [e.message for e in validator.iter_errors(roundtrip)]
        assert not errors, (obj["metadata"]["name"], errors)


def test_the_schema_rejects_what_the_api_server_rejects() -> None:
    validator = jsonschema.Draft4Validator(SCHEMA)
    bad = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "x"},
           "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelectr": {}}]}]}}
    assert list(validator.iter_errors(bad))
    assert list(validator.iter_errors({"kind": "NetworkPolicy", "spec": {}}))  # podSelector is required


def test_every_namespace_gets_default_deny_and_dns(multitenant: Any) -> None:
    inv, objs, pols = multitenant
    for ns in ("shop", "pay", "shared"):
        names = {o["metadata"]["name"] for o in objs if o["metadata"]["namespace"] == ns}
        assert {"mamori-default-deny", "mamori-allow-dns"} <= names
    for _, pod in pods_of(inv).values():
        assert can_connect(pols, pod, KUBE_DNS, 53, "UDP") and can_connect(pols, pod, KUBE_DNS, 53, "TCP")
        assert not can_connect(pols, pod, KUBE_DNS, 80)
        assert not can_connect(pols, pod, Pod("internet", None, ip="198.51.100.7"), 443)


# Written from the fixture's labels and annotations, not from the generator:
# same (tenant, app) unit, plus the declared edges (api-canary carries api's labels, so it is covered too).
ALLOWED = {
    ("shop/api", "shop/api-canary"), ("shop/api-canary", "shop/api"),
    ("shop/web", "shop/api"), ("shop/web", "shop/api-canary"),
    ("shop/api", "shop/db"), ("shop/api-canary", "shop/db"),
    ("shop/api", "pay/api"), ("shop/api-canary", "pay/api"),
    ("pay/worker", "pay/api"),
}


def test_every_pair_of_the_fixture_has_the_expected_answer(multitenant: Any) -> None:
    inv, _, pols = multitenant
    pods = pods_of(inv)
    assert len(pods) == 9
    got = {(a, b) for a in pods for b in pods if a != b and reach(pols, pods[a][1], pods[b])}
    assert got == ALLOWED


def test_declared_edges_are_port_restricted_and_external_edges_work(multitenant: Any) -> None:
    inv, _, pols = multitenant
    pods = pods_of(inv)
    web, api, db, worker = (pods[k][1] for k in ("shop/web", "shop/api", "shop/db", "pay/worker"))
    assert can_connect(pols, web, api, 9000) and not can_connect(pols, web, api, 9001)
    assert can_connect(pols, api, db, 5432) and not can_connect(pols, web, db, 5432)
    assert can_connect(pols, worker, Pod("psp", None, ip="192.0.2.9"), 443)
    assert not can_connect(pols, worker, Pod("psp", None, ip="192.0.2.9"), 80)
    assert not can_connect(pols, worker, Pod("other", None, ip="203.0.113.9"), 443)
    controller = Pod("ctl", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
    assert can_connect(pols, controller, web, 8080)
    assert not can_connect(pols, Pod("x", "ingress-nginx", {"app": "x"}), web, 8080)
    assert not can_connect(pols, Pod("internet", None, ip="198.51.100.7"), web, 8080)


def _net_findings(*paths: str) -> list[str]:
    from click.testing import CliRunner

    from mamori.cli.main import cli

    res = CliRunner().invoke(cli, ["scan", "--no-config", "--rule", "MAM-NET-001", "--rule", "MAM-NET-002",
                                   "-f", "json", *paths])
    assert res.exit_code in (0, 1), res.output
    report = json.loads(res.output)
    return [f["rule_id"] for f in report["findings"]]


def test_generated_output_is_clean_for_mamori_scan_net_rules(multitenant: Any, tmp_path: Path) -> None:
    _, objs, _ = multitenant
    out = tmp_path / "policies.yaml"
    out.write_text(yaml.safe_dump_all(objs))
    assert _net_findings(str(FIXTURES / "multitenant")), "the bare fixture must trip MAM-NET-00x"
    assert _net_findings(str(FIXTURES / "multitenant"), str(out)) == []


def _random_manifests(seed: int) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """A held-out style set: tenants spread over namespaces, random declared edges; returns the
    manifests and the pairs that must be reachable (same unit, or declared)."""
    rnd = random.Random(seed)
    tenants, apps, namespaces = ["t1", "t2", "t3", "t4"], ["web", "api", "db"], ["ns1", "ns2", "ns3"]
    wls = []
    for i in range(14):
        wls.append({"name": f"w{i}", "ns": rnd.choice(namespaces), "tenant": rnd.choice(tenants),
                    "app": rnd.choice(apps), "port": rnd.choice([80, 5432, 9000]), "from": [], "to": []})
    for _ in range(6):
        dst = rnd.choice(wls)
        src = rnd.choice(wls)
        key = "from" if rnd.random() < 0.5 else "to"
        if key == "from":
            dst["from"].append(f"tenant={src['tenant']},app={src['app']}")
        else:
            src["to"].append(f"tenant={dst['tenant']},app={dst['app']}")
    docs: list[dict[str, Any]] = []
    for w in wls:
        ann = {k: v for k, v in (("mamori.io/allow-from", ";".join(w["from"])),
                                 ("mamori.io/allow-to", ";".join(w["to"]))) if v}
        labels = {"tenant": w["tenant"], "app": w["app"], "workload": w["name"]}
        docs.append({"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": {"name": w["name"], "namespace": w["ns"]},
                     "spec": {"selector": {"matchLabels": labels}, "template": {
                         "metadata": {"labels": labels, "annotations": ann},
                         "spec": {"containers": [{"name": "c", "image": "registry.example/x@sha256:" + "0" * 64,
                                                  "ports": [{"containerPort": w["port"]}]}]}}}})
    unit = {w["name"]: f"tenant={w['tenant']},app={w['app']}" for w in wls}
    expected = set()
    for a in wls:
        for b in wls:
            if a is b:
                continue
            if unit[a["name"]] == unit[b["name"]] or unit[a["name"]] in b["from"] or unit[b["name"]] in a["to"]:
                expected.add((a["name"], b["name"]))
    return docs, expected


@pytest.mark.parametrize("seed", range(8))
def test_held_out_style_no_cross_tenant_path_except_declared(seed: int, tmp_path: Path) -> None:
    docs, expected = _random_manifests(seed)
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump_all(docs))
    inv = load_inventory([str(tmp_path)])
    gen = generate(inv)
    pols = [parse_policy(p) for p in gen.policies]
    pods = {w.name: (w, Pod(w.name, w.namespace, w.labels)) for w in inv.k8s()}
    got = {(a, b) for a in pods for b in pods if a != b and reach(pols, pods[a][1], pods[b])}
    assert got == expected
    # declared edges between units open only the destination's container port; a unit is open inside
    def unit(name: str) -> tuple[str, str]:
        return pods[name][1].labels["tenant"], pods[name][1].labels["app"]

    cross = [(a, b) for a, b in expected if unit(a) != unit(b)]
    assert cross or seed not in (0, 1)  # the seeds used do exercise declared edges
    for a, b in cross:
        assert not can_connect(pols, pods[a][1], pods[b][1], 1)
    for a, b in expected:
        if unit(a) == unit(b):
            assert can_connect(pols, pods[a][1], pods[b][1], 1)


def test_compose_override_puts_each_tenant_on_its_own_internal_network() -> None:
    inv = load_inventory([str(FIXTURES / "compose")])
    gen = generate(inv)
    (text,) = gen.compose.values()
    assert "!override" in text
    doc = yaml.safe_load(text.replace("!override", ""))
    nets, services = doc["networks"], doc["services"]
    assert nets["mamori-shop"]["internal"] is True and nets["mamori-pay"]["internal"] is True
    assert set(services["pay-api"]["networks"]) == {"mamori-pay", "mamori-edge-api-pay-api"}
    assert set(services["api"]["networks"]) == {"mamori-shop", "mamori-edge-api-pay-api"}
    assert nets["mamori-edge-api-pay-api"]["internal"] is True
    # web publishes a port, so it alone also joins a non-internal network
    assert "mamori-shop-external" in services["web"]["networks"]
    assert nets["mamori-shop-external"]["internal"] is False
    assert all("mamori-shop-external" not in s["networks"] for k, s in services.items() if k != "web")
    # no network carries two tenants except the declared edge network
    members: dict[str, set[str]] = {}
    tenant = {"web": "shop", "api": "shop", "pay-api": "pay", "stray": "stray"}
    for svc, s in services.items():
        for n in s["networks"]:
            members.setdefault(n, set()).add(tenant[svc])
    assert {n for n, t in members.items() if len(t) > 1} == {"mamori-edge-api-pay-api"}


def test_policy_names_stay_unique_when_labels_slug_alike(tmp_path: Path) -> None:
    def dep(name: str, labels: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "n"},
                "spec": {"template": {"metadata": {"labels": labels},
                                      "spec": {"containers": [{"name": "c", "image": "i"}]}}}}

    (tmp_path / "a.yaml").write_text(yaml.safe_dump_all([dep("x", {"tenant": "a-b"}),
                                                         dep("y", {"tenant": "a", "app": "b"})]))
    gen = generate(load_inventory([str(tmp_path)]))
    names = [p["metadata"]["name"] for p in gen.policies]
    assert len(names) == len(set(names)) == 4
    pols = [parse_policy(p) for p in gen.policies]
    x, y = Pod("x", "n", {"tenant": "a-b"}), Pod("y", "n", {"tenant": "a", "app": "b"})
    assert not can_connect(pols, x, y) and not can_connect(pols, y, x)
