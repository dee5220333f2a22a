"""Declared service-to-service edges, read from workload annotations (Compose: labels).

``mamori.io/allow-from`` on a workload lists who may connect to it; ``mamori.io/allow-to`` lists
what it may connect to. Entries are separated by ``;``; an entry is either comma-separated
``key=value`` labels (``tenant=shop,app=web``, optionally ``namespace=NAME``), ``cidr=A.B.C.D/N``
or ``world`` (any address), with an optional ``port=N[/udp]`` that replaces the default ports
(the destination's container ports; none declared: every port).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mamori.netpol.inventory import ContainerPort, Inventory, Wl

ALLOW_FROM = "mamori.io/allow-from"
ALLOW_TO = "mamori.io/allow-to"
MAX_VALUE = 4096
MAX_ENTRIES = 64
WORLD = ("0.0.0.0/0", "::/0")


class DeclarationError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of a declaration as written."""

    text: str
    labels: tuple[tuple[str, str], ...] = ()
    namespace: str | None = None
    cidrs: tuple[str, ...] = ()
    ports: tuple[ContainerPort, ...] = ()

    @property
    def external(self) -> bool:
        return bool(self.cidrs)


@dataclass(frozen=True, slots=True)
class Declaration:
    owner: Wl
    direction: str  # "from" or "to"
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class Edge:
    """An allowed flow ``src`` -> ``dst``; an Endpoint side is outside the scanned workloads."""

    src: Wl | Endpoint
    dst: Wl | Endpoint
    ports: tuple[ContainerPort, ...]
    declaration: Declaration


def _port(text: str) -> ContainerPort:
    num, _, proto = text.partition("/")
    proto = (proto or "tcp").upper()
    if not num.isdigit() or not 0 < int(num) < 65536 or proto not in ("TCP", "UDP", "SCTP"):
        raise DeclarationError(f"bad port {text[:20]!r} (want N or N/udp)")
    return ContainerPort(int(num), proto)


def parse_entry(text: str) -> Endpoint:
    entry = text.strip()
    if entry == "world":
        return Endpoint(entry, cidrs=WORLD)
    labels: list[tuple[str, str]] = []
    namespace: str | None = None
    cidrs: list[str] = []
    ports: list[ContainerPort] = []
    for part in entry.split(","):
        key, eq, value = part.strip().partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise DeclarationError(f"{entry[:60]!r}: expected key=value pairs, `cidr=...` or `world`")
        if key == "namespace":
            namespace = value
        elif key == "cidr":
            try:
                cidrs.append(str(ipaddress.ip_network(value, strict=False)))
            except ValueError:
                raise DeclarationError(f"{value[:45]!r} is not a CIDR") from None
        elif key == "port":
            ports.append(_port(value))
        else:
            labels.append((key, value))
    if cidrs and (labels or namespace):
        raise DeclarationError(f"{entry[:60]!r}: a cidr cannot be combined with labels")
    if not (labels or namespace or cidrs):
        raise DeclarationError(f"{entry[:60]!r}: names no workload, namespace or address")
    return Endpoint(entry, tuple(sorted(labels)), namespace, tuple(cidrs), tuple(ports))


def declarations(w: Wl) -> tuple[list[Declaration], list[str]]:
    """The workload's declarations and the problems in them (bad entries are dropped, never guessed)."""
    out: list[Declaration] = []
    problems: list[str] = []
    for key, direction in ((ALLOW_FROM, "from"), (ALLOW_TO, "to")):
        value = w.annotations.get(key)
        if value is None:
            continue
        if len(value) > MAX_VALUE:
            problems.append(f"{w.display}: {key} is longer than {MAX_VALUE} characters; ignored")
            continue
        entries = [e for e in value.replace("\n", ";").split(";") if e.strip()]
        for e in entries[:MAX_ENTRIES]:
            try:
                out.append(Declaration(w, direction, parse_entry(e)))
            except DeclarationError as exc:
                problems.append(f"{w.display}: {key}: {exc}")
        if len(entries) > MAX_ENTRIES:
            problems.append(f"{w.display}: {key} has more than {MAX_ENTRIES} entries; the rest ignored")
    return out, problems


def matches(ep: Endpoint, w: Wl) -> bool:
    if ep.external or (not ep.labels and ep.namespace is None):
        return False
    if ep.namespace is not None and (w.source != "kubernetes" or w.namespace != ep.namespace):
        return False
    return all(w.labels.get(k) == v for k, v in ep.labels)


def _dst_ports(ep: Endpoint, dst: Wl | Endpoint) -> tuple[ContainerPort, ...]:
    if ep.ports:
        return ep.ports
    if isinstance(dst, Wl):
        return tuple(dict.fromkeys(ContainerPort(p.port, p.protocol) for p in dst.ports))
    return ()


@dataclass
class Resolved:
    edges: list[Edge]
    unused: list[Declaration]
    problems: list[str]


def resolve(inv: Inventory) -> Resolved:
    """Turn every declaration into edges between scanned workloads (or outside endpoints)."""
    res = Resolved([], [], [])
    k8s_namespaces = {w.namespace for w in inv.k8s()} | set(inv.namespaces)
    for owner in inv.workloads:
        decls, problems = declarations(owner)
        res.problems.extend(problems)
        for d in decls:
            ep = d.endpoint
            peers: list[Wl | Endpoint]
            if ep.external:
                peers = [ep]
            else:
                same = [w for w in inv.workloads if w is not owner and w.source == owner.source
                        and (owner.source == "kubernetes" or w.file == owner.file) and matches(ep, w)]
                outside = owner.source == "kubernetes" and ep.namespace is not None and \
                    ep.namespace not in k8s_namespaces
                peers = list(same) if same else ([ep] if outside else [])
            if not peers:
                res.unused.append(d)
                continue
            for p in peers:
                if d.direction == "from":
                    res.edges.append(Edge(p, owner, _dst_ports(ep, owner), d))
                else:
                    res.edges.append(Edge(owner, p, _dst_ports(ep, p), d))
    return res
