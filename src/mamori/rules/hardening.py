"""CSA-3.1.8.8: configuration that keeps a running container's files and syscalls in check."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Container, Role, Severity, SourceKind, Workload
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.8.8"
SAFE_SELINUX_TYPES = frozenset({"container_t", "container_init_t", "container_kvm_t", "container_engine_t"})


@rule(id="MAM-HARD-001", title="Root filesystem is writable", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Set `readOnlyRootFilesystem: true` / `read_only: true`; mount emptyDir or tmpfs where the "
                  "application must write.",
      refs=["trivy:KSV-0014", "checkov:CKV_K8S_22", "kubescape:C-0017", "polaris:notReadOnlyRootFilesystem",
            "kube-linter:no-read-only-root-fs", "cis-docker:5.13"])
def writable_root(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A writable root filesystem lets an intruder change binaries and configuration undetected."""
    if c.read_only_root is not None and not c.read_only_root.value and c.role is not Role.EPHEMERAL:
        yield hit(c.read_only_root, f"container {c.name!r} has a writable root filesystem")


@rule(id="MAM-HARD-002", title="Seccomp explicitly unconfined", severity=Severity.HIGH,
      controls=[C, "CSA-3.1.2.5"], scope=Scope.CONTAINER,
      remediation="Use the runtime's default seccomp profile (`seccompProfile: {type: RuntimeDefault}`); remove "
                  "`seccomp:unconfined`.",
      refs=["trivy:KSV-0104", "trivy:KSV-0030", "checkov:CKV_K8S_31", "kubescape:C-0210", "cis-docker:5.22"])
def seccomp_unconfined(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Without seccomp every syscall, including rarely used and exploitable ones, reaches the kernel."""
    if c.seccomp is not None and c.seccomp.value == "Unconfined":
        yield hit(c.seccomp, f"container {c.name!r} runs without seccomp (Unconfined)")


@rule(id="MAM-HARD-003", title="No seccomp profile", severity=Severity.MEDIUM, controls=[C, "CSA-3.1.2.5"],
      scope=Scope.CONTAINER,
      remediation="Set `seccompProfile: {type: RuntimeDefault}` at pod or container level.",
      refs=["trivy:KSV-0104", "trivy:KSV-0030", "checkov:CKV_K8S_31", "kubescape:C-0210"])
def seccomp_missing(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Kubernetes runs pods unconfined unless a seccomp profile is set (the kubelet default is off)."""
    if c.seccomp is not None and c.seccomp.value is None:
        yield hit(c.seccomp, f"container {c.name!r} sets no seccomp profile")


@rule(id="MAM-HARD-004", title="AppArmor disabled", severity=Severity.MEDIUM, controls=[C], scope=Scope.CONTAINER,
      remediation="Use the runtime's default AppArmor profile (`appArmorProfile: {type: RuntimeDefault}`); remove "
                  "`apparmor:unconfined`.",
      refs=["trivy:KSV-0002", "cis-docker:5.2"])
def apparmor_off(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """An unconfined container loses the mandatory access control that limits file and mount access."""
    if c.apparmor is not None and c.apparmor.value == "unconfined":
        yield hit(c.apparmor, f"container {c.name!r} runs AppArmor-unconfined")


@rule(id="MAM-HARD-005", title="SELinux confinement weakened", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Keep the default container SELinux type; remove custom `seLinuxOptions.type` and "
                  "`label:disable`.",
      refs=["trivy:KSV-0025", "cis-docker:5.3"])
def selinux_weakened(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A custom SELinux type (spc_t, unconfined_t) or disabled labelling removes the container's MAC fence."""
    if c.selinux_disabled is not None and c.selinux_disabled.value:
        yield hit(c.selinux_disabled, f"container {c.name!r} disables SELinux labelling")
    if c.selinux_type is not None and c.selinux_type.value and c.selinux_type.value not in SAFE_SELINUX_TYPES:
        yield hit(c.selinux_type, f"container {c.name!r} uses SELinux type {c.selinux_type.value}")


@rule(id="MAM-HARD-006", title="Container has no securityContext", severity=Severity.LOW, controls=[C, "CSA-3.1.2.3"],
      scope=Scope.CONTAINER,
      remediation="Give every container a securityContext (runAsNonRoot, allowPrivilegeEscalation: false, "
                  "readOnlyRootFilesystem, capabilities drop ALL).",
      refs=["checkov:CKV_K8S_30"])
def no_container_security_context(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A container without any securityContext runs with every runtime default, none of them hardened."""
    if c.security_context is not None and not c.security_context.value:
        yield hit(c.security_context, f"container {c.name!r} has no securityContext")


@rule(id="MAM-HARD-007", title="Pod has no securityContext", severity=Severity.LOW, controls=[C, "CSA-3.1.2.3"],
      scope=Scope.WORKLOAD, sources=[SourceKind.KUBERNETES],
      remediation="Set a pod securityContext (runAsNonRoot, runAsUser/runAsGroup, fsGroup, seccompProfile).",
      refs=["checkov:CKV_K8S_29", "trivy:KSV-0118"])
def no_pod_security_context(ctx: Context, w: Workload) -> Iterator[Hit]:
    """Pod-level defaults protect every container, including ones added later by sidecar injection."""
    psc = w.extra.get("pod_security_context")
    if psc is not None and not psc.value:
        yield hit(psc, f"{w.ident.kind} {w.ident.name!r} sets no pod securityContext")
