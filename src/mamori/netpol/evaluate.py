"""Answer "can A talk to B on port P?" the way Kubernetes NetworkPolicies decide it.

Semantics (networking.k8s.io/v1):

* A pod is isolated for a direction when at least one policy in its namespace selects it and
  lists that direction in ``policyTypes`` (default: Ingress, plus Egress when ``egress`` is present).
  A pod that no policy isolates allows everything in that direction.
* Isolated traffic is allowed when *any* rule of *any* selecting policy allows it (policies add up).
* A rule without ``from``/``to`` (or with an empty list) matches every peer; without ``ports``, every port.
* One peer with both ``namespaceSelector`` and ``podSelector`` is an AND (those pods in those
  namespaces); two peers are an OR. A peer with only ``podSelector`` means the policy's namespace.
* Named ports resolve against the *destination* pod's container ports, in both directions.
* A connection needs egress allowed at the source and ingress allowed at the destination.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.netpol.selector import PolicyError, Selector, parse_selector

NS_NAME_LABEL = "kubernetes.io/metadata.name"
PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
MAX_RULES = 1024
MAX_PEERS = 1024


@dataclass(frozen=True, slots=True)
class Pod:
    """An endpoint. ``namespace`` None: outside the cluster (matched only by ``ipBlock``)."""

    name: str
    namespace: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    ns_labels: Mapping[str, str] = field(default_factory=dict)
    ip: str | None = None
    named_ports: Mapping[str, tuple[int, str]] = field(default_factory=dict)  # name -> (port, protocol)

    @property
    def namespace_labels(self) -> dict[str, str]:
        """The namespace's labels including the one the API server always sets."""
        out = dict(self.ns_labels)
        if self.namespace is not None:
            out[NS_NAME_LABEL] = self.namespace
        return out


@dataclass(frozen=True, slots=True)
class PortSpec:
    protocol: str = "TCP"
    port: int | str | None = None  # None: every port of the protocol
    end_port: int | None = None

    def matches(self, port: int | None, protocol: str, dst: Pod) -> bool:
        """``port`` None asks whether some port of this protocol is allowed at all."""
        if protocol != self.protocol:
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str):
            named = dst.named_ports.get(self.port)
            return named is not None and named[1] == protocol and (port is None or named[0] == port)
        if port is None:
            return True
        high = self.end_port if self.end_port is not None else self.port
        return self.port <= port <= high


@dataclass(frozen=True, slots=True)
class IPBlock:
    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
    excepted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def contains(self, ip: str | None) -> bool:
        if ip is None:
            return False
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return addr in self.cidr and not any(addr in e for e in self.excepted)


@dataclass(frozen=True, slots=True)
class Peer:
    pod_selector: Selector | None = None
    namespace_selector: Selector | None = None
    ip_block: IPBlock | None = None

    def matches(self, other: Pod, policy_namespace: str) -> bool:
        if self.ip_block is not None:
            return self.ip_block.contains(other.ip)
        if other.namespace is None:
            return False
        if self.namespace_selector is not None:
            if not self.namespace_selector.matches(other.namespace_labels):
                return False
        elif other.namespace != policy_namespace:
            return False
        return self.pod_selector is None or self.pod_selector.matches(other.labels)


@dataclass(frozen=True, slots=True)
class Rule:
    peers: tuple[Peer, ...] | None  # None: every peer
    ports: tuple[PortSpec, ...] = ()  # empty: every port

    def allows(self, other: Pod, policy_namespace: str, port: int | None, protocol: str, dst: Pod) -> bool:
        if self.peers is not None and not any(p.matches(other, policy_namespace) for p in self.peers):
            return False
        return not self.ports or any(s.matches(port, protocol, dst) for s in self.ports)


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    namespace: str
    pod_selector: Selector
    types: frozenset[str]
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()

    def selects(self, pod: Pod) -> bool:
        return pod.namespace == self.namespace and self.pod_selector.matches(pod.labels)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    egress_ok: bool
    ingress_ok: bool
    reason: str


def _ports(obj: Any, where: str) -> tuple[PortSpec, ...]:
    if obj is None:
        return ()
    if not isinstance(obj, list):
        raise PolicyError(f"{where} must be a list")
    out = []
    for i, p in enumerate(obj[:MAX_PEERS]):
        at = f"{where}[{i}]"
        if not isinstance(p, dict):
            raise PolicyError(f"{at} must be a mapping")
        proto = p.get("protocol") or "TCP"
        if proto not in PROTOCOLS:
            raise PolicyError(f"{at}.protocol must be TCP, UDP or SCTP")
        port = p.get("port")
        end = p.get("endPort")
        if isinstance(port, bool) or not (port is None or isinstance(port, int | str)):
            raise PolicyError(f"{at}.port must be a number or a port name")
        if isinstance(port, int) and not 1 <= port <= 65535:
            raise PolicyError(f"{at}.port {port} is out of range")
        if end is not None and (isinstance(end, bool) or not isinstance(end, int) or not isinstance(port, int)
                                or end < port):
            raise PolicyError(f"{at}.endPort needs a numeric port and must not be below it")
        out.append(PortSpec(str(proto), port, end))
    return tuple(out)


def _net(text: Any, where: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        raise PolicyError(f"{where}: {str(text)[:60]!r} is not a CIDR") from None


def _peer(obj: Any, where: str) -> Peer:
    if not isinstance(obj, dict):
        raise PolicyError(f"{where} must be a mapping")
    if "ipBlock" in obj:
        if len(obj) > 1:
            raise PolicyError(f"{where}: ipBlock cannot be combined with a selector")
        block = obj["ipBlock"]
        if not isinstance(block, dict) or "cidr" not in block:
            raise PolicyError(f"{where}.ipBlock needs a cidr")
        cidr = _net(block["cidr"], f"{where}.ipBlock.cidr")
        excepted = block.get("except") or []
        if not isinstance(excepted, list):
            raise PolicyError(f"{where}.ipBlock.except must be a list")
        return Peer(ip_block=IPBlock(cidr, tuple(_net(e, f"{where}.ipBlock.except") for e in excepted)))
    unknown = set(obj) - {"podSelector", "namespaceSelector"}
    if unknown or not obj:
        raise PolicyError(f"{where} needs podSelector, namespaceSelector or ipBlock")
    pod = parse_selector(obj["podSelector"], f"{where}.podSelector") if obj.get("podSelector") is not None else None
    ns = (parse_selector(obj["namespaceSelector"], f"{where}.namespaceSelector")
          if obj.get("namespaceSelector") is not None else None)
    if pod is None and ns is None:
        raise PolicyError(f"{where}: selectors must not be null")
    return Peer(pod, ns)


def _rules(obj: Any, where: str, key: str) -> tuple[Rule, ...]:
    if obj is None:
        return ()
    if not isinstance(obj, list) or len(obj) > MAX_RULES:
        raise PolicyError(f"{where} must be a list of at most {MAX_RULES} rules")
    out = []
    for i, r in enumerate(obj):
        at = f"{where}[{i}]"
        if r is None:
            r = {}
        if not isinstance(r, dict):
            raise PolicyError(f"{at} must be a mapping")
        peers = r.get(key)
        if peers is not None and (not isinstance(peers, list) or len(peers) > MAX_PEERS):
            raise PolicyError(f"{at}.{key} must be a list")
        parsed = tuple(_peer(p, f"{at}.{key}[{j}]") for j, p in enumerate(peers)) if peers else None
        out.append(Rule(parsed, _ports(r.get("ports"), f"{at}.ports")))
    return tuple(out)


def parse_policy(obj: Any, default_namespace: str = "default") -> Policy:
    """A NetworkPolicy object (already parsed YAML/JSON) -> Policy, or PolicyError."""
    if not isinstance(obj, dict) or obj.get("kind") != "NetworkPolicy":
        raise PolicyError("not a NetworkPolicy")
    raw_md = obj.get("metadata")
    md: dict[str, Any] = raw_md if isinstance(raw_md, dict) else {}
    name = str(md.get("name") or "<unnamed>")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise PolicyError(f"NetworkPolicy {name}: spec must be a mapping")
    where = f"NetworkPolicy {name}"
    sel = parse_selector(spec.get("podSelector") if spec.get("podSelector") is not None else {},
                         f"{where}: spec.podSelector")
    types_raw = spec.get("policyTypes")
    if types_raw is None:
        types = {"Ingress"} | ({"Egress"} if "egress" in spec else set())
    else:
        if not isinstance(types_raw, list) or any(t not in ("Ingress", "Egress") for t in types_raw):
            raise PolicyError(f"{where}: policyTypes must list Ingress and/or Egress")
        types = set(types_raw)
    return Policy(name, str(md.get("namespace") or default_namespace), sel, frozenset(types),
                  _rules(spec.get("ingress"), f"{where}: spec.ingress", "from"),
                  _rules(spec.get("egress"), f"{where}: spec.egress", "to"))


def _direction(policies: Iterable[Policy], pod: Pod, kind: str) -> list[Policy]:
    return [p for p in policies if kind in p.types and p.selects(pod)]


def evaluate(policies: Iterable[Policy], src: Pod, dst: Pod, port: int | None = None,
             protocol: str = "TCP") -> Verdict:
    """Whether ``src`` may open a connection to ``dst`` on ``port`` (None: on some port)."""
    pols = list(policies)
    egress_ok, ingress_ok = True, True
    why: list[str] = []
    if src.namespace is not None:
        sel = _direction(pols, src, "Egress")
        if sel:
            egress_ok = any(r.allows(dst, p.namespace, port, protocol, dst) for p in sel for r in p.egress)
            why.append(f"egress {'allowed' if egress_ok else 'denied'} by {', '.join(p.name for p in sel)}")
        else:
            why.append("source not isolated for egress")
    if dst.namespace is not None:
        sel = _direction(pols, dst, "Ingress")
        if sel:
            ingress_ok = any(r.allows(src, p.namespace, port, protocol, dst) for p in sel for r in p.ingress)
            why.append(f"ingress {'allowed' if ingress_ok else 'denied'} by {', '.join(p.name for p in sel)}")
        else:
            why.append("destination not isolated for ingress")
    return Verdict(egress_ok and ingress_ok, egress_ok, ingress_ok, "; ".join(why))


def can_connect(policies: Iterable[Policy], src: Pod, dst: Pod, port: int | None = None,
                protocol: str = "TCP") -> bool:
    return evaluate(policies, src, dst, port, protocol).allowed


def isolated(policies: Iterable[Policy], pod: Pod) -> tuple[bool, bool]:
    """(ingress isolated, egress isolated) for ``pod``."""
    pols = list(policies)
    return bool(_direction(pols, pod, "Ingress")), bool(_direction(pols, pod, "Egress"))
