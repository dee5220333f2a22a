"""``mamori netpol check``: traffic that is not isolated, exposure without allowed sources,
cross-tenant paths nobody declared, and declarations that no workload uses."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from mamori.netpol.declare import Endpoint, Resolved, resolve
from mamori.netpol.evaluate import Pod, Policy, can_connect, isolated
from mamori.netpol.inventory import Inventory, Wl

MAX_PAIR_WORKLOADS = 400
MAX_PATH_REPORTS = 200
INTERNET = Pod("internet", None, ip="203.0.113.10")  # TEST-NET-3: stands for any outside address
STRANGER = Pod("stranger", "mamori-unknown-namespace", {"mamori.io/probe": "stranger"})
ALL_INTERFACES = (None, "", "0.0.0.0", "::", "[::]")


@dataclass(frozen=True, slots=True)
class Problem:
    code: str  # isolation, cross-tenant, exposed, unused-declaration, declaration
    subject: str
    message: str
    file: str
    line: int = 0


def pod_of(w: Wl, inv: Inventory) -> Pod:
    return Pod(w.name, w.namespace, w.labels, inv.namespaces.get(w.namespace, {}),
               named_ports={p.name: (p.port, p.protocol) for p in w.ports if p.name})


def _declared(res: Resolved, workloads: list[Wl], tenant_label: str) -> set[tuple[int, int]]:
    """Pairs a declaration covers. Generated policies select by the declared workload's pod labels, so
    a workload whose labels include those (same namespace) is covered too, as Kubernetes would see it."""

    def covered(decl: Wl) -> list[Wl]:
        return [w for w in workloads if w.source == decl.source and w.namespace == decl.namespace and
                (tenant_label in decl.labels or tenant_label not in w.labels) and
                all(w.labels.get(k) == v for k, v in decl.labels.items())]

    out: set[tuple[int, int]] = set()
    for e in res.edges:
        if isinstance(e.src, Wl) and isinstance(e.dst, Wl):
            out.update((id(a), id(b)) for a in covered(e.src) for b in covered(e.dst))
    return out


def _reachable(pols: list[Policy], src: Pod, dst: Wl, dpod: Pod) -> bool:
    if not dst.ports:
        return can_connect(pols, src, dpod, None)
    return any(can_connect(pols, src, dpod, p.port, p.protocol) for p in dst.ports)


def _k8s(inv: Inventory, res: Resolved, tenant_label: str, app_label: str, out: list[Problem]) -> None:
    workloads = inv.k8s()
    pols = inv.policies
    pods = {id(w): pod_of(w, inv) for w in workloads}
    by_ns: dict[str, list[Wl]] = defaultdict(list)
    for w in workloads:
        by_ns[w.namespace].append(w)
    iso: dict[int, tuple[bool, bool]] = {id(w): isolated(pols, pods[id(w)]) for w in workloads}
    for ns, ws in sorted(by_ns.items()):
        if not any(iso[id(w)][0] or iso[id(w)][1] for w in ws):
            out.append(Problem("isolation", f"namespace {ns}",
                               f"no NetworkPolicy selects any of its {len(ws)} workload(s): traffic is not isolated",
                               ws[0].file, ws[0].line))
            continue
        for w in ws:
            missing = [d for d, ok in zip(("ingress", "egress"), iso[id(w)], strict=True) if not ok]
            if missing:
                out.append(Problem("isolation", w.display, f"not isolated for {' and '.join(missing)}",
                                   w.file, w.line))
    declared = _declared(res, workloads, tenant_label)
    if len(workloads) > MAX_PAIR_WORKLOADS:
        out.append(Problem("isolation", "scan", f"more than {MAX_PAIR_WORKLOADS} workloads: cross-tenant paths "
                           "not analysed", workloads[0].file))
    else:
        reported = 0
        for a in workloads:
            for b in workloads:
                if a is b or ((a.labels.get(tenant_label), a.labels.get(app_label)) == (
                        b.labels.get(tenant_label), b.labels.get(app_label)) and tenant_label in a.labels):
                    continue
                if (id(a), id(b)) in declared or not (iso[id(a)][1] or iso[id(b)][0]):
                    continue  # declared, or already reported as not isolated
                if _reachable(pols, pods[id(a)], b, pods[id(b)]):
                    reported += 1
                    if reported <= MAX_PATH_REPORTS:
                        what = "tenant" if a.labels.get(tenant_label) != b.labels.get(tenant_label) else "application"
                        out.append(Problem("cross-tenant", f"{a.display} -> {b.display}",
                                           f"cross-{what} path allowed but not declared", b.file, b.line))
        if reported > MAX_PATH_REPORTS:
            out.append(Problem("cross-tenant", "scan", f"{reported - MAX_PATH_REPORTS} more undeclared paths",
                               workloads[0].file))
    _exposed(inv, pods, out)


def _exposed(inv: Inventory, pods: dict[int, Pod], out: list[Problem]) -> None:
    ws = inv.k8s()

    def backends(ns: str, selector: dict[str, str]) -> list[Wl]:
        return [w for w in ws if w.namespace == ns and selector and
                all(w.labels.get(k) == v for k, v in selector.items())]

    for svc in inv.services:
        if svc.type not in ("LoadBalancer", "NodePort") or svc.source_ranges:
            continue
        for w in backends(svc.namespace, svc.selector):
            if _reachable(inv.policies, INTERNET, w, pods[id(w)]):
                out.append(Problem("exposed", f"Service/{svc.namespace}/{svc.name}",
                                   f"{svc.type} reaches {w.display} from any address: declare "
                                   "mamori.io/allow-from (or set loadBalancerSourceRanges)", svc.file, svc.line))
    by_name = {(s.namespace, s.name): s for s in inv.services}
    for ing in inv.ingresses:
        for name in ing.services:
            found = by_name.get((ing.namespace, name))
            for w in backends(ing.namespace, found.selector) if found else []:
                if _reachable(inv.policies, STRANGER, w, pods[id(w)]):
                    out.append(Problem("exposed", f"Ingress/{ing.namespace}/{ing.name}",
                                       f"backend {w.display} accepts traffic from any pod in any namespace: declare "
                                       "mamori.io/allow-from for the ingress controller", ing.file, ing.line))


def _compose(inv: Inventory, res: Resolved, tenant_label: str, out: list[Problem]) -> None:
    declared = _declared(res, inv.compose(), tenant_label)
    external = {id(e.src) for e in res.edges if isinstance(e.dst, Endpoint)}
    sources = {id(e.dst) for e in res.edges if isinstance(e.src, Endpoint) or e.declaration.direction == "from"}
    by_file: dict[str, list[Wl]] = defaultdict(list)
    for w in inv.compose():
        by_file[w.file].append(w)
    for file, services in sorted(by_file.items()):
        decl = inv.compose_networks.get(file, {})
        members: dict[str, list[Wl]] = defaultdict(list)
        for w in services:
            if w.network_mode == "host":
                out.append(Problem("isolation", w.display, "network_mode host: traffic is not isolated", file, w.line))
            for n in w.networks:
                members[n].append(w)
            if id(w) not in sources and any(p.published and p.host_ip in ALL_INTERFACES for p in w.ports):
                out.append(Problem("exposed", w.display, "publishes ports on all interfaces without "
                                   "mamori.io/allow-from", file, w.line))
        for net, ws in sorted(members.items()):
            tenants = sorted({w.labels.get(tenant_label) or f"<unlabelled {w.name}>" for w in ws})
            if len(tenants) > 1:
                pairs_ok = all((id(a), id(b)) in declared or (id(b), id(a)) in declared
                               for a in ws for b in ws
                               if a is not b and a.labels.get(tenant_label) != b.labels.get(tenant_label))
                if not pairs_ok:
                    out.append(Problem("cross-tenant", f"network {net} ({file})",
                                       f"shared by tenants {', '.join(tenants)} without declared edges",
                                       file, ws[0].line))
            cfg = decl.get(net) if isinstance(decl.get(net), dict) else {}
            internal = isinstance(cfg, dict) and cfg.get("internal") in (True, "true")
            if not internal and not any(id(w) in external or any(p.published for p in w.ports) for w in ws):
                out.append(Problem("isolation", f"network {net} ({file})",
                                   "not internal, but none of its services declares egress or publishes ports",
                                   file, ws[0].line))


def check(inv: Inventory, tenant_label: str = "tenant", app_label: str = "app") -> list[Problem]:
    res = resolve(inv)
    out: list[Problem] = []
    _k8s(inv, res, tenant_label, app_label, out)
    _compose(inv, res, tenant_label, out)
    for d in res.unused:
        out.append(Problem("unused-declaration", d.owner.display,
                           f"mamori.io/allow-{d.direction} {d.endpoint.text!r} matches no workload",
                           d.owner.file, d.owner.line))
    for p in res.problems:
        out.append(Problem("declaration", p.split(":", 1)[0], p, "", 0))
    return out
