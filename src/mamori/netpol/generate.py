"""Kubernetes NetworkPolicies and a Compose networks override, generated from tenant/app labels.

Per namespace: a default deny (ingress and egress), DNS egress to kube-dns, one policy per
(tenant, app) unit that lets the unit's pods talk to each other, and one policy per workload
that has declared edges (ingress at the destination *and* egress at the source, ports from the
destination's container ports). Workloads without the tenant label stay denied (DNS only).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from mamori.netpol.declare import Edge, Endpoint, resolve
from mamori.netpol.evaluate import NS_NAME_LABEL
from mamori.netpol.inventory import ContainerPort, Inventory, Wl

API_VERSION = "networking.k8s.io/v1"
GENERATED_BY = "mamori.io/generated-by"


@dataclass
class Generated:
    policies: list[dict[str, Any]] = field(default_factory=list)
    compose: dict[str, str] = field(default_factory=dict)  # compose file -> override text
    warnings: list[str] = field(default_factory=list)


def slug(text: str, limit: int = 63) -> str:
    """A DNS-1123 label; long or lossy names keep a short hash so that they stay distinct."""
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if s != text.lower() or len(s) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        s = f"{s[: limit - 9].rstrip('-')}-{digest}"
    return s


def unit_of(w: Wl, tenant_label: str, app_label: str) -> tuple[str | None, str | None]:
    return w.labels.get(tenant_label), w.labels.get(app_label)


def unit_selector(tenant: str, app: str | None, tenant_label: str, app_label: str) -> dict[str, Any]:
    if app is not None:
        return {"matchLabels": {tenant_label: tenant, app_label: app}}
    return {"matchLabels": {tenant_label: tenant},
            "matchExpressions": [{"key": app_label, "operator": "DoesNotExist"}]}


def workload_selector(w: Wl, tenant_label: str) -> dict[str, Any]:
    """Exactly the workload's pod labels; an unlabelled-tenant workload must also lack the tenant label."""
    sel: dict[str, Any] = {"matchLabels": dict(sorted(w.labels.items()))}
    if tenant_label not in w.labels:
        sel["matchExpressions"] = [{"key": tenant_label, "operator": "DoesNotExist"}]
    return sel


def _ns_selector(ns: str) -> dict[str, Any]:
    return {"matchLabels": {NS_NAME_LABEL: ns}}


def _peer(side: Wl | Endpoint, tenant_label: str) -> list[dict[str, Any]]:
    if isinstance(side, Wl):
        return [{"namespaceSelector": _ns_selector(side.namespace),
                 "podSelector": workload_selector(side, tenant_label)}]
    if side.cidrs:
        return [{"ipBlock": {"cidr": c}} for c in side.cidrs]
    peer: dict[str, Any] = {"namespaceSelector": _ns_selector(side.namespace or "default")}
    if side.labels:
        peer["podSelector"] = {"matchLabels": dict(side.labels)}
    return [peer]


def _ports(ports: tuple[ContainerPort, ...]) -> list[dict[str, Any]]:
    return [{"protocol": p.protocol, "port": p.port} for p in ports]


def _policy(name: str, ns: str, selector: dict[str, Any], types: list[str], ingress: list[dict[str, Any]] | None,
            egress: list[dict[str, Any]] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": selector, "policyTypes": types}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": API_VERSION, "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns, "labels": {GENERATED_BY: "mamori-netpol"}}, "spec": spec}


def _dedupe(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for r in rules:
        seen.setdefault(json.dumps(r, sort_keys=True), r)
    return list(seen.values())


def generate_k8s(inv: Inventory, edges: list[Edge], tenant_label: str, app_label: str, out: Generated) -> None:
    workloads = inv.k8s()
    by_ns: dict[str, list[Wl]] = defaultdict(list)
    unit_namespaces: dict[tuple[str, str | None], set[str]] = defaultdict(set)
    for w in workloads:
        by_ns[w.namespace].append(w)
        tenant, app = unit_of(w, tenant_label, app_label)
        if tenant is not None:
            unit_namespaces[(tenant, app)].add(w.namespace)
        elif w.labels:
            out.warnings.append(f"{w.display}: no {tenant_label!r} label; it stays isolated (DNS only) "
                                "unless edges are declared")
        if not w.labels:
            out.warnings.append(f"{w.display}: pods have no labels; no policy can allow it traffic")
    ingress_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    egress_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in edges:
        if isinstance(e.dst, Wl) and e.dst.source == "kubernetes" and e.dst.labels:
            ingress_of[id(e.dst)].append({"from": _peer(e.src, tenant_label), **(
                {"ports": _ports(e.ports)} if e.ports else {})})
        if isinstance(e.src, Wl) and e.src.source == "kubernetes" and e.src.labels:
            egress_of[id(e.src)].append({"to": _peer(e.dst, tenant_label), **(
                {"ports": _ports(e.ports)} if e.ports else {})})
    for ns in sorted(by_ns):
        out.policies.append(_policy("mamori-default-deny", ns, {}, ["Ingress", "Egress"], None, None))
        out.policies.append(_policy("mamori-allow-dns", ns, {}, ["Egress"], None, [{
            "to": [{"namespaceSelector": _ns_selector("kube-system"),
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]))
        units = sorted({unit_of(w, tenant_label, app_label) for w in by_ns[ns]
                        if tenant_label in w.labels}, key=lambda u: (u[0] or "", u[1] or ""))
        for tenant, app in units:
            assert tenant is not None
            sel = unit_selector(tenant, app, tenant_label, app_label)
            peers = [{"namespaceSelector": _ns_selector(m), "podSelector": sel}
                     for m in sorted(unit_namespaces[(tenant, app)])]
            name = slug(f"mamori-unit-{tenant}" + (f"-{app}" if app is not None else ""))
            out.policies.append(_policy(name, ns, sel, ["Ingress", "Egress"], [{"from": peers}], [{"to": peers}]))
        for w in sorted(by_ns[ns], key=lambda x: (x.kind, x.name)):
            ing, egr = _dedupe(ingress_of.get(id(w), [])), _dedupe(egress_of.get(id(w), []))
            if not ing and not egr:
                continue
            types = (["Ingress"] if ing else []) + (["Egress"] if egr else [])
            out.policies.append(_policy(slug(f"mamori-edges-{w.kind}-{w.name}"), ns,
                                        workload_selector(w, tenant_label), types, ing or None, egr or None))
    _unique_names(out.policies)


def _unique_names(policies: list[dict[str, Any]]) -> None:
    """Distinct labels can slug to one name (tenant ``a-b`` vs tenant ``a`` app ``b``): suffix a hash."""
    seen: set[tuple[str, str]] = set()
    for p in policies:
        md = p["metadata"]
        key = (md["namespace"], md["name"])
        if key in seen:
            digest = hashlib.sha256(json.dumps(p["spec"], sort_keys=True).encode()).hexdigest()[:8]
            md["name"] = f"{md['name'][:54]}-{digest}"
        seen.add((md["namespace"], md["name"]))


def _q(text: str) -> str:
    return json.dumps(text)


def generate_compose(inv: Inventory, edges: list[Edge], tenant_label: str, out: Generated) -> None:
    """Per file: an internal network per tenant, a network per declared cross-tenant edge, and an
    ``-external`` network only for services that publish ports or declare egress to addresses."""
    by_file: dict[str, list[Wl]] = defaultdict(list)
    for w in inv.compose():
        by_file[w.file].append(w)
    for file, services in sorted(by_file.items()):
        nets: dict[str, bool] = {}  # name -> internal
        attach: dict[str, list[str]] = defaultdict(list)
        for w in services:
            if w.network_mode:
                out.warnings.append(f"{w.display}: network_mode {w.network_mode!r} cannot join tenant networks; "
                                    "left as is")
                continue
            tenant = w.labels.get(tenant_label)
            base = slug(f"mamori-{tenant}") if tenant is not None else slug(f"mamori-solo-{w.name}")
            if tenant is None:
                out.warnings.append(f"{w.display}: no {tenant_label!r} label; put on a network of its own")
            nets[base] = True
            attach[w.name].append(base)
            external = any(p.published for p in w.ports) or any(
                isinstance(e.dst, Endpoint) and e.src is w for e in edges)
            if external:
                ext = slug(f"{base}-external")
                nets[ext] = False
                attach[w.name].append(ext)
        for e in edges:
            if isinstance(e.src, Wl) and isinstance(e.dst, Wl) and e.src.file == file and e.dst.file == file \
                    and not e.src.network_mode and not e.dst.network_mode:
                if set(attach[e.src.name]) & set(attach[e.dst.name]):
                    continue
                name = slug(f"mamori-edge-{e.src.name}-{e.dst.name}")
                nets[name] = True
                attach[e.src.name].append(name)
                attach[e.dst.name].append(name)
        lines = [f"# Generated by `mamori netpol generate` from {file}.",
                 "# Use: docker compose -f <your file> -f <this file> up   (needs Compose 2.24.4+ for !override)",
                 "services:" if attach else "services: {}"]
        for svc in sorted(attach):
            lines.append(f"  {_q(svc)}:")
            lines.append("    networks: !override")
            lines.extend(f"      - {_q(n)}" for n in dict.fromkeys(attach[svc]))
        lines.append("networks:" if nets else "networks: {}")
        for name, internal in sorted(nets.items()):
            lines.append(f"  {_q(name)}:")
            lines.append(f"    internal: {'true' if internal else 'false'}")
        out.compose[file] = "\n".join(lines) + "\n"


def generate(inv: Inventory, tenant_label: str = "tenant", app_label: str = "app") -> Generated:
    res = resolve(inv)
    out = Generated()
    out.warnings.extend(res.problems)
    out.warnings.extend(f"{d.owner.display}: mamori.io/allow-{d.direction} {d.endpoint.text!r} matches no workload"
                        for d in res.unused)
    generate_k8s(inv, res.edges, tenant_label, app_label, out)
    generate_compose(inv, res.edges, tenant_label, out)
    return out
