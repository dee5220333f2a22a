"""CSA-3.1.11.1: containers report their health and are told before they are stopped."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Container, Role, Severity, SourceKind, Workload
from mamori.rules.common import runs_workload_process
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.11.1"
BATCH_KINDS = frozenset({"Job", "CronJob"})


def _serves(w: Workload, c: Container) -> bool:
    """Probes matter for long-running serving containers, not for batch jobs or init containers."""
    return runs_workload_process(c) and w.ident.kind not in BATCH_KINDS


@rule(id="MAM-LIFE-001", title="No liveness probe or health check", severity=Severity.LOW, controls=[C, "CSA-3.1.3.2"],
      scope=Scope.CONTAINER,
      remediation="Add a `livenessProbe` (Kubernetes), `healthcheck` (Compose) or `HEALTHCHECK` (Dockerfile).",
      refs=["checkov:CKV_K8S_8", "polaris:livenessProbeMissing", "kube-linter:no-liveness-probe",
            "kubescape:C-0056", "trivy:DS-0026", "checkov:CKV_DOCKER_2", "cis-docker:4.6"])
def no_liveness(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Without a health check a hung process keeps receiving traffic and is never restarted."""
    if c.health is None or not _serves(w, c) or c.health.disabled:
        return
    if not c.health.liveness.value:
        what = {Role.IMAGE: "the image has no HEALTHCHECK", Role.SERVICE: f"service {c.name!r} has no healthcheck"}
        yield hit(c.health.liveness, what.get(c.role, f"container {c.name!r} has no liveness probe"))


@rule(id="MAM-LIFE-002", title="No readiness probe", severity=Severity.LOW, controls=[C], scope=Scope.CONTAINER,
      remediation="Add a `readinessProbe` so the container receives traffic only when it can serve it.",
      refs=["checkov:CKV_K8S_9", "polaris:readinessProbeMissing", "kube-linter:no-readiness-probe",
            "kubescape:C-0018"])
def no_readiness(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Without readiness, rollouts and restarts send requests to containers that are still starting."""
    if c.health is None or c.health.readiness is None or not _serves(w, c):
        return
    if not c.health.readiness.value:
        yield hit(c.health.readiness, f"container {c.name!r} has no readiness probe")


@rule(id="MAM-LIFE-003", title="Health check disabled", severity=Severity.LOW, controls=[C], scope=Scope.CONTAINER,
      remediation="Remove `HEALTHCHECK NONE` / `healthcheck: {disable: true}` and give a real check.")
def health_disabled(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Disabling the image's health check hides failures from the platform."""
    if c.health is not None and c.health.disabled:
        yield hit(c.health.liveness, f"{c.role.value} {c.name!r} disables its health check")


@rule(id="MAM-LIFE-004", title="No pre-stop notification", severity=Severity.INFO, controls=[C, "CSA-3.1.15.1"],
      scope=Scope.CONTAINER, sources=[SourceKind.KUBERNETES],
      remediation="Add a `lifecycle.preStop` hook (flush, deregister, back up) or handle SIGTERM within "
                  "`terminationGracePeriodSeconds`, set explicitly.")
def no_prestop(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """The platform must tell the application it is going away so it can reach a safe state."""
    if c.health is None or c.health.pre_stop is None or not _serves(w, c):
        return
    grace = w.termination_grace
    if not c.health.pre_stop.value and (grace is None or not grace.explicit):
        yield hit(c.loc, f"container {c.name!r} has no preStop hook and the pod no explicit grace period")
