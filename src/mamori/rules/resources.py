"""CSA-3.1.12 to 3.1.14: requests, limits and scaling bounds set before containers start."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Container, Resources, Severity, SourceKind, Val, Workload
from mamori.model import resources as r
from mamori.rules.index import namespace_of
from mamori.rules.registry import Context, Hit, Scope, hit, rule

LIMITS = ["CSA-3.1.14.2", "CSA-3.1.13.1", "CSA-3.1.12.2"]
REQUESTS = ["CSA-3.1.12.1", "CSA-3.1.12.3", "CSA-3.1.14.1"]


def _missing(c: Container, pick: str) -> Val[str | None] | None:
    res: Resources | None = c.resources
    if res is None:
        return None
    val: Val[str | None] = getattr(res, pick)
    if val.value is not None:
        return None
    if pick.endswith("_request") and getattr(res, pick.replace("_request", "_limit")).value is not None:
        return None  # Kubernetes defaults a missing request to the limit: the container is not best-effort
    return val


@rule(id="MAM-RES-001", title="No CPU limit", severity=Severity.LOW, controls=LIMITS, scope=Scope.CONTAINER,
      remediation="Set `resources.limits.cpu` (Kubernetes) or `deploy.resources.limits.cpus` / `cpus` (Compose).",
      refs=["trivy:KSV-0011", "checkov:CKV_K8S_11", "polaris:cpuLimitsMissing", "kubescape:C-0270",
            "kubescape:C-0050", "kube-linter:unset-cpu-requirements", "cis-docker:5.11"])
def no_cpu_limit(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A container without a CPU limit can starve its neighbours (noisy tenant)."""
    v = _missing(c, "cpu_limit")
    if v is not None:
        yield hit(v, f"container {c.name!r} has no CPU limit")


@rule(id="MAM-RES-002", title="No memory limit", severity=Severity.MEDIUM, controls=LIMITS, scope=Scope.CONTAINER,
      remediation="Set `resources.limits.memory` (Kubernetes) or `deploy.resources.limits.memory` / `mem_limit` "
                  "(Compose).",
      refs=["trivy:KSV-0018", "checkov:CKV_K8S_13", "polaris:memoryLimitsMissing", "kubescape:C-0271",
            "kubescape:C-0004", "kube-linter:unset-memory-requirements", "cis-docker:5.10"])
def no_memory_limit(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Without a memory limit one leak or attack exhausts the node's memory for every tenant."""
    v = _missing(c, "memory_limit")
    if v is not None:
        yield hit(v, f"container {c.name!r} has no memory limit")


@rule(id="MAM-RES-003", title="No CPU request", severity=Severity.LOW, controls=REQUESTS, scope=Scope.CONTAINER,
      sources=[SourceKind.KUBERNETES],
      remediation="Set `resources.requests.cpu` (or `deploy.resources.reservations.cpus`).",
      refs=["trivy:KSV-0015", "checkov:CKV_K8S_10", "polaris:cpuRequestsMissing", "kubescape:C-0268",
            "kubescape:C-0050", "kube-linter:unset-cpu-requirements"])
def no_cpu_request(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """The scheduler places pods by requests; without one the pod is best-effort and evicted first.

    Compose reservations only matter to Swarm's scheduler, so requests are a Kubernetes rule.
    """
    v = _missing(c, "cpu_request")
    if v is not None:
        yield hit(v, f"container {c.name!r} has no CPU request")


@rule(id="MAM-RES-004", title="No memory request", severity=Severity.LOW, controls=REQUESTS, scope=Scope.CONTAINER,
      sources=[SourceKind.KUBERNETES],
      remediation="Set `resources.requests.memory` (or `deploy.resources.reservations.memory`).",
      refs=["trivy:KSV-0016", "checkov:CKV_K8S_12", "polaris:memoryRequestsMissing", "kubescape:C-0269",
            "kubescape:C-0004", "kube-linter:unset-memory-requirements"])
def no_memory_request(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Memory requests let the scheduler keep nodes from being overcommitted."""
    v = _missing(c, "memory_request")
    if v is not None:
        yield hit(v, f"container {c.name!r} has no memory request")


@rule(id="MAM-RES-005", title="No PIDs limit", severity=Severity.LOW, controls=["CSA-3.1.14.2"],
      scope=Scope.CONTAINER,
      remediation="Set `pids_limit` / `deploy.resources.limits.pids` (a fork bomb otherwise takes the host).",
      refs=["cis-docker:5.29"])
def no_pids_limit(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A fork bomb inside one container exhausts the host's process table."""
    if c.resources is not None and c.resources.pids_limit is not None and c.resources.pids_limit.value is None:
        yield hit(c.resources.pids_limit, f"service {c.name!r} has no PIDs limit")


def _namespaces(ctx: Context) -> list[tuple[str, Workload]]:
    """Each namespace that has workloads in this scan, with its first workload as the anchor."""
    first: dict[str, Workload] = {}
    for w in ctx.index.k8s_workloads:
        first.setdefault(namespace_of(w.ident.namespace), w)
    return sorted(first.items())


def _ns_anchor(ctx: Context, ns: str, w: Workload) -> Hit:
    for res in ctx.scan.resources:
        if isinstance(res, r.Namespace) and res.meta.ident.name == ns:
            return Hit(res.meta.loc, "", res.meta.ident)
    return Hit(w.loc, "", w.ident)


@rule(id="MAM-RES-006", title="Namespace without LimitRange", severity=Severity.LOW,
      controls=["CSA-3.1.13.1", "CSA-3.1.14.2"], scope=Scope.SET,
      remediation="Add a LimitRange to each namespace so containers without limits get defaults.")
def no_limitrange(ctx: Context) -> Iterator[Hit]:
    """A LimitRange gives every container defaults and bounds even when a manifest forgets them."""
    for ns, w in _namespaces(ctx):
        if ns not in ctx.index.limitrange_namespaces:
            a = _ns_anchor(ctx, ns, w)
            yield Hit(a.loc, f"namespace {ns!r} has workloads but no LimitRange in the scanned files", a.ident)


@rule(id="MAM-RES-007", title="Namespace without ResourceQuota", severity=Severity.LOW,
      controls=["CSA-3.1.12.2", "CSA-3.1.13.1"], scope=Scope.SET,
      remediation="Add a ResourceQuota to each tenant namespace to bound its share of the cluster.")
def no_quota(ctx: Context) -> Iterator[Hit]:
    """Quotas keep one tenant from consuming the capacity that others were promised."""
    for ns, w in _namespaces(ctx):
        if ns not in ctx.index.quota_namespaces:
            a = _ns_anchor(ctx, ns, w)
            yield Hit(a.loc, f"namespace {ns!r} has workloads but no ResourceQuota in the scanned files", a.ident)


SCALABLE = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "DeploymentConfig",
                      "Rollout"})


@rule(id="MAM-RES-008", title="Single replica", severity=Severity.LOW, controls=["CSA-3.1.14.1"],
      scope=Scope.WORKLOAD,
      remediation="Run at least two replicas (or an HPA with `minReplicas` of two or more) and scale horizontally.",
      refs=["polaris:deploymentMissingReplicas"])
def single_replica(ctx: Context, w: Workload) -> Iterator[Hit]:
    """One replica means every restart, node drain or rollout is an outage."""
    if w.ident.kind not in SCALABLE or w.replicas is None or ctx.index.hpa_for(w) is not None:
        return
    n = w.replicas.value if w.replicas.value is not None else 1
    if n < ctx.settings.min_replicas:
        yield hit(w.replicas, f"{w.ident.kind} {w.ident.name!r} runs {n} replica(s)")


@rule(id="MAM-RES-009", title="HorizontalPodAutoscaler bounds unsafe", severity=Severity.LOW,
      controls=["CSA-3.1.14.1", "CSA-3.1.14.2"], scope=Scope.RESOURCE, types=[r.HorizontalPodAutoscaler],
      remediation="Set `minReplicas` to two or more and `maxReplicas` to a bound the cluster can hold.",
      refs=["polaris:hpaMinAvailability"])
def hpa_bounds(ctx: Context, hpa: r.HorizontalPodAutoscaler) -> Iterator[Hit]:
    """An HPA that may scale to one replica, or whose maximum is below its minimum, is no safety net."""
    lo = hpa.min_replicas.value if hpa.min_replicas.value is not None else 1
    hi = hpa.max_replicas.value
    if lo < ctx.settings.min_replicas:
        yield hit(hpa.min_replicas, f"HPA {hpa.meta.ident.name!r} may scale down to {lo} replica(s)")
    if hi is not None and hi < lo:
        yield hit(hpa.max_replicas, f"HPA {hpa.meta.ident.name!r} has maxReplicas {hi} below minReplicas {lo}")
