"""What ``mamori netpol`` needs from the inputs: workloads with labels and ports, Services,
Ingress backends, Namespaces, existing NetworkPolicies (Kubernetes) and Compose services/networks.

The scan model drops some of this (port names, Ingress backends, policy peers), so Kubernetes
documents are read raw here; Compose services come from the Compose loader.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mamori.model import InputError, ScanSet, SourceKind
from mamori.netpol.evaluate import Policy, parse_policy
from mamori.netpol.selector import PolicyError
from mamori.sources import is_dockerfile, read_file
from mamori.sources.kubernetes import POD_SPEC, is_kubernetes
from mamori.sources.yamldoc import load_docs

MAX_OBJECTS = 20000


@dataclass(frozen=True, slots=True)
class ContainerPort:
    port: int
    protocol: str = "TCP"
    name: str | None = None
    published: bool = False  # Compose: published on the host
    host_ip: str | None = None


@dataclass(frozen=True, slots=True)
class Wl:
    """A workload as netpol sees it: its pods' labels, annotations and ports."""

    source: str  # "kubernetes" or "compose"
    kind: str
    name: str
    namespace: str  # Compose: the file (the project)
    labels: dict[str, str]
    annotations: dict[str, str]
    ports: tuple[ContainerPort, ...]
    file: str
    line: int = 0
    networks: tuple[str, ...] = ()
    network_mode: str | None = None

    @property
    def display(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.source == "kubernetes" else \
            f"service {self.name} ({self.file})"


@dataclass(frozen=True, slots=True)
class Svc:
    name: str
    namespace: str
    type: str
    selector: dict[str, str]
    source_ranges: tuple[str, ...]
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class IngressRef:
    name: str
    namespace: str
    services: tuple[str, ...]
    file: str
    line: int


@dataclass
class Inventory:
    workloads: list[Wl] = field(default_factory=list)
    services: list[Svc] = field(default_factory=list)
    ingresses: list[IngressRef] = field(default_factory=list)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels
    policies: list[Policy] = field(default_factory=list)
    compose_networks: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> top-level networks
    errors: list[InputError] = field(default_factory=list)

    def k8s(self) -> list[Wl]:
        return [w for w in self.workloads if w.source == "kubernetes"]

    def compose(self) -> list[Wl]:
        return [w for w in self.workloads if w.source == "compose"]


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _strmap(v: Any) -> dict[str, str]:
    return {str(k): "" if x is None else str(x) for k, x in _dict(v).items()}


def _get(data: Any, pointer: str) -> Any:
    cur = data
    for part in pointer.strip("/").split("/"):
        cur = _dict(cur).get(part)
    return cur


def _k8s_object(obj: dict[str, Any], file: str, line: int, inv: Inventory) -> None:
    kind = str(obj.get("kind"))
    md = _dict(obj.get("metadata"))
    name = str(md.get("name") or md.get("generateName") or "<unnamed>")
    ns = str(md.get("namespace") or "default")
    spec = _dict(obj.get("spec"))
    if kind in POD_SPEC:
        pod_spec = _dict(_get(obj, POD_SPEC[kind]))
        tmpl = _dict(_get(obj, POD_SPEC[kind].rsplit("/", 1)[0] + "/metadata")) if kind != "Pod" else md
        annotations = _strmap(md.get("annotations")) | _strmap(tmpl.get("annotations"))
        ports = []
        for c in _list(pod_spec.get("containers")):
            for p in _list(_dict(c).get("ports")):
                p = _dict(p)
                num = p.get("containerPort")
                if isinstance(num, int) and not isinstance(num, bool) and 0 < num < 65536:
                    pname = p.get("name")
                    ports.append(ContainerPort(num, str(p.get("protocol") or "TCP"),
                                               str(pname) if pname else None))
        inv.workloads.append(Wl("kubernetes", kind, name, ns, _strmap(tmpl.get("labels")), annotations,
                                tuple(ports), file, line))
    elif kind == "Service":
        inv.services.append(Svc(name, ns, str(spec.get("type") or "ClusterIP"), _strmap(spec.get("selector")),
                                tuple(str(x) for x in _list(spec.get("loadBalancerSourceRanges"))), file, line))
    elif kind == "Ingress":
        backends: list[str] = []
        default = _dict(_dict(spec.get("defaultBackend") or spec.get("backend")))
        paths = [default] + [_dict(p.get("backend")) for r in _list(spec.get("rules"))
                             for p in _list(_dict(_dict(r).get("http")).get("paths")) if isinstance(p, dict)]
        for b in paths:
            svc = _dict(b.get("service")).get("name") or b.get("serviceName")
            if svc:
                backends.append(str(svc))
        inv.ingresses.append(IngressRef(name, ns, tuple(dict.fromkeys(backends)), file, line))
    elif kind == "Namespace":
        inv.namespaces[name] = _strmap(md.get("labels"))
    elif kind == "NetworkPolicy":
        try:
            inv.policies.append(parse_policy(obj))
        except PolicyError as exc:
            inv.errors.append(InputError(file, line, str(exc)))


def _k8s(obj: Any, file: str, line: int, inv: Inventory, depth: int = 0) -> None:
    if not isinstance(obj, dict):
        return
    kind = obj.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
        if depth < 4:
            for item in obj["items"]:
                _k8s(item, file, line, inv, depth + 1)
        return
    _k8s_object(obj, file, line, inv)


def _compose(part: ScanSet, data: dict[str, Any], file: str, inv: Inventory) -> None:
    inv.compose_networks[file] = _dict(data.get("networks"))
    inv.errors.extend(part.errors)
    for w in part.workloads:
        if w.ident.source is not SourceKind.COMPOSE:
            continue
        ports = tuple(ContainerPort(p.container_port, p.protocol.upper(), None, p.host_port is not None, p.host_ip)
                      for c in w.containers for p in c.ports if p.container_port)
        mode = w.network_mode.value if w.network_mode is not None else None
        inv.workloads.append(Wl("compose", "service", w.ident.name, file, dict(w.labels), dict(w.labels), ports,
                                file, w.loc.line, w.networks, mode))


def load_inventory(paths: Iterable[str]) -> Inventory:
    """Read every YAML input below ``paths``; bad input becomes an error, never a traceback."""
    from mamori.scan import discover
    from mamori.sources import compose

    inv = Inventory()
    found = ScanSet()
    for file in discover(paths, found):
        if is_dockerfile(file):
            continue
        text, err = read_file(file)
        if err is not None or text is None:
            inv.errors.append(err or InputError(file, 0, "unreadable"))
            continue
        docs, errors = load_docs(file, text)
        inv.errors.extend(errors)
        for doc in docs:
            if len(inv.workloads) + len(inv.services) + len(inv.policies) > MAX_OBJECTS:
                inv.errors.append(InputError(file, doc.line, f"more than {MAX_OBJECTS} objects; the rest not read"))
                break
            if is_kubernetes(doc.data):
                _k8s(doc.data, file, doc.line, inv)
            elif compose.is_compose(doc.data) and isinstance(doc.data, dict):
                _compose(compose.load(doc), doc.data, file, inv)
    inv.errors.extend(found.errors)
    return inv
