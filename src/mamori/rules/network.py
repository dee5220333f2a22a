"""CSA-3.1.5.4, 3.1.9.3 and 3.1.4.1: fine-grained exposure, separated traffic, TLS at the edge."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Container, Role, Severity, SourceKind, Workload
from mamori.model import resources as r
from mamori.rules.index import namespace_of
from mamori.rules.registry import Context, Hit, Scope, hit, rule

SSH_PORTS = frozenset({22, 2222})


@rule(id="MAM-NET-001", title="Namespace without NetworkPolicy", severity=Severity.MEDIUM,
      controls=["CSA-3.1.9.3", "CSA-3.1.5.4"], scope=Scope.SET,
      remediation="Add a default-deny NetworkPolicy to every namespace, then allow the flows each workload needs.",
      refs=["kube-linter:non-isolated-pod", "kubescape:C-0260"])
def namespace_without_netpol(ctx: Context) -> Iterator[Hit]:
    """Some namespaces are isolated and this one is not: its pods accept traffic from every tenant."""
    if not ctx.index.netpol_namespaces:
        return
    for w in ctx.index.k8s_workloads:
        ns = namespace_of(w.ident.namespace)
        if ns not in ctx.index.netpol_namespaces:
            yield Hit(w.loc, f"{w.ident.kind} {w.ident.name!r} is in namespace {ns!r}, which has no NetworkPolicy",
                      w.ident)


@rule(id="MAM-NET-002", title="Workload not selected by any NetworkPolicy", severity=Severity.LOW,
      controls=["CSA-3.1.9.3", "CSA-3.1.5.4"], scope=Scope.SET,
      remediation="Add a NetworkPolicy whose podSelector matches this workload (or a namespace-wide default deny).",
      refs=["kube-linter:non-isolated-pod", "kubescape:C-0260", "checkov:CKV2_K8S_6"])
def pod_not_isolated(ctx: Context) -> Iterator[Hit]:
    """No policy in the scanned files selects these pods, so they accept traffic from anywhere.

    Where other namespaces have policies and this one has none, MAM-NET-001 says so instead.
    """
    for w in ctx.index.k8s_workloads:
        ns = namespace_of(w.ident.namespace)
        pols = ctx.index.netpols.get(ns, [])
        if not pols and ctx.index.netpol_namespaces:
            continue
        labels = w.template_labels
        if not any(p.selects_all or (p.pod_selector and all(labels.get(k) == v for k, v in p.pod_selector.items()))
                   for p in pols):
            yield Hit(w.loc, f"{w.ident.kind} {w.ident.name!r} is selected by no NetworkPolicy in {ns!r}", w.ident)


@rule(id="MAM-NET-003", title="hostPort used", severity=Severity.MEDIUM, controls=["CSA-3.1.5.4", "CSA-3.1.9.3"],
      scope=Scope.CONTAINER, sources=[SourceKind.KUBERNETES],
      remediation="Expose the port through a Service instead of `hostPort`.",
      refs=["trivy:KSV-0024", "checkov:CKV_K8S_26", "kubescape:C-0044", "polaris:hostPortSet"])
def host_port(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """hostPort binds the node's interface directly, bypassing Service-level access control."""
    for p in c.ports:
        if p.host_port:
            yield hit(p.loc, f"container {c.name!r} binds host port {p.host_port}")


@rule(id="MAM-NET-004", title="Port published on all host interfaces", severity=Severity.LOW,
      controls=["CSA-3.1.5.4"], scope=Scope.CONTAINER, sources=[SourceKind.COMPOSE, SourceKind.DOCKER],
      remediation="Bind published ports to a specific address (`127.0.0.1:8080:80`) or put a proxy in front.",
      refs=["cis-docker:5.14"])
def published_all_interfaces(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Publishing on 0.0.0.0 exposes the service on every network the host is attached to."""
    for p in c.ports:
        if p.host_port is not None and p.host_ip in (None, "", "0.0.0.0", "::", "[::]"):
            port = f"port {p.host_port}" if p.host_port else f"container port {p.container_port} on a random port"
            yield hit(p.loc, f"service {c.name!r} publishes {port} on all host interfaces")


@rule(id="MAM-NET-005", title="Service exposed outside the cluster", severity=Severity.LOW,
      controls=["CSA-3.1.5.4"], scope=Scope.RESOURCE, types=[r.Service],
      remediation="Use a ClusterIP Service behind an Ingress or gateway with authentication and TLS.",
      refs=["kube-linter:exposed-services"])
def exposed_service(ctx: Context, svc: r.Service) -> Iterator[Hit]:
    """NodePort and LoadBalancer Services open the workload to every network that reaches the nodes."""
    if svc.type.value in ("NodePort", "LoadBalancer"):
        yield hit(svc.type, f"Service {svc.meta.ident.name!r} is of type {svc.type.value}")


@rule(id="MAM-NET-006", title="Service with external IPs", severity=Severity.MEDIUM, controls=["CSA-3.1.5.4"],
      scope=Scope.RESOURCE, types=[r.Service],
      remediation="Remove `externalIPs` (CVE-2020-8554 lets them intercept cluster traffic).")
def external_ips(ctx: Context, svc: r.Service) -> Iterator[Hit]:
    """externalIPs can be used to hijack traffic to those addresses inside the cluster."""
    if svc.external_ips is not None and svc.external_ips.value:
        yield hit(svc.external_ips, f"Service {svc.meta.ident.name!r} sets externalIPs")


@rule(id="MAM-NET-007", title="Ingress without TLS", severity=Severity.MEDIUM,
      controls=["CSA-3.1.4.1", "CSA-3.1.2.2", "CSA-3.1.5.1"], scope=Scope.RESOURCE, types=[r.Ingress],
      remediation="Add `spec.tls` with a certificate for every host the Ingress serves.",
      refs=["polaris:tlsSettingsMissing", "kubescape:C-0263"])
def ingress_tls(ctx: Context, ing: r.Ingress) -> Iterator[Hit]:
    """Traffic to the application would cross the network in clear text."""
    if not ing.tls.value:
        yield hit(ing.tls, f"Ingress {ing.meta.ident.name!r} serves without TLS")


@rule(id="MAM-NET-008", title="SSH port exposed", severity=Severity.MEDIUM, controls=["CSA-3.1.5.4", "CSA-3.1.6.3"],
      scope=Scope.CONTAINER,
      remediation="Do not run SSH in containers; use `kubectl exec`/`docker exec` under RBAC and audit instead.",
      refs=["kube-linter:ssh-port"])
def ssh_port(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """An SSH daemon in a container is an unaudited way in that bypasses the platform's access control."""
    if c.role is Role.IMAGE:  # the Dockerfile build rules report EXPOSE 22
        return
    for p in c.ports:
        if p.container_port in SSH_PORTS and p.protocol.upper() == "TCP":
            yield hit(p.loc, f"container {c.name!r} exposes SSH port {p.container_port}")
