"""CSA-3.1.2.3: no privileged mode, no host namespaces, no root, no kernel knobs.

Each rule reads the effective value from the model, so a pod-level ``runAsNonRoot``
satisfies every container that does not override it.
"""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Container, Role, Severity, SourceKind, Workload
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.2.3"

SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})


@rule(id="MAM-PRIV-001", title="Container runs privileged", severity=Severity.HIGH, controls=[C, "CSA-3.1.3.3"],
      scope=Scope.CONTAINER,
      remediation="Remove `privileged: true`; grant only the capabilities the process needs.",
      refs=["trivy:KSV-0017", "checkov:CKV_K8S_16", "kubescape:C-0057", "polaris:runAsPrivileged",
            "kube-linter:privileged-container", "cis-docker:5.5"])
def privileged(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A privileged container has every capability and every host device: it is the host."""
    if c.privileged is not None and c.privileged.value:
        yield hit(c.privileged, f"container {c.name!r} runs in privileged mode")


@rule(id="MAM-PRIV-002", title="Privilege escalation not disabled", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Set `allowPrivilegeEscalation: false` (Kubernetes) or `security_opt: [no-new-privileges:true]`"
                  " (Compose).",
      refs=["trivy:KSV-0001", "checkov:CKV_K8S_20", "kubescape:C-0016", "polaris:privilegeEscalationAllowed",
            "cis-docker:5.26"])
def privilege_escalation(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Without no_new_privs a setuid binary in the image can raise the process's privileges."""
    ape = c.allow_privilege_escalation
    if ape is not None and ape.value is None:
        yield hit(ape, f"container {c.name!r} does not disable privilege escalation")


@rule(id="MAM-PRIV-016", title="Privilege escalation explicitly allowed", severity=Severity.HIGH, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Set `allowPrivilegeEscalation: false`.",
      refs=["trivy:KSV-0001", "checkov:CKV_K8S_20", "kubescape:C-0016", "polaris:privilegeEscalationAllowed",
            "kube-linter:privilege-escalation-container", "cis-docker:5.26"])
def privilege_escalation_allowed(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Explicitly allowing escalation is a deliberate opt-out of no_new_privs: setuid binaries work again."""
    ape = c.allow_privilege_escalation
    if ape is not None and ape.value is True:
        yield hit(ape, f"container {c.name!r} sets allowPrivilegeEscalation: true")


@rule(id="MAM-PRIV-003", title="Host PID namespace shared", severity=Severity.HIGH, controls=[C],
      scope=Scope.WORKLOAD, remediation="Remove `hostPID: true` / `pid: host`.",
      refs=["trivy:KSV-0010", "checkov:CKV_K8S_17", "kubescape:C-0038", "polaris:hostPIDSet",
            "kube-linter:host-pid", "cis-docker:5.16"])
def host_pid(ctx: Context, w: Workload) -> Iterator[Hit]:
    """Sharing the host PID namespace lets the container see and signal every host process."""
    if w.host_pid is not None and w.host_pid.value:
        yield hit(w.host_pid, f"{w.ident.kind} {w.ident.name!r} shares the host's PID namespace")


@rule(id="MAM-PRIV-004", title="Host IPC namespace shared", severity=Severity.HIGH, controls=[C],
      scope=Scope.WORKLOAD, remediation="Remove `hostIPC: true` / `ipc: host`.",
      refs=["trivy:KSV-0008", "checkov:CKV_K8S_18", "kubescape:C-0038", "polaris:hostIPCSet",
            "kube-linter:host-ipc", "cis-docker:5.17"])
def host_ipc(ctx: Context, w: Workload) -> Iterator[Hit]:
    """Host IPC exposes shared memory and semaphores of every host process."""
    if w.host_ipc is not None and w.host_ipc.value:
        yield hit(w.host_ipc, f"{w.ident.kind} {w.ident.name!r} shares the host's IPC namespace")


@rule(id="MAM-PRIV-005", title="Host network namespace shared", severity=Severity.HIGH, controls=[C, "CSA-3.1.9.3"],
      scope=Scope.WORKLOAD, remediation="Remove `hostNetwork: true` / `network_mode: host`; publish ports instead.",
      refs=["trivy:KSV-0009", "checkov:CKV_K8S_19", "kubescape:C-0041", "polaris:hostNetworkSet",
            "kube-linter:host-network", "cis-docker:5.10"])
def host_network(ctx: Context, w: Workload) -> Iterator[Hit]:
    """Host networking bypasses network policies and lets the container bind host ports and sniff traffic."""
    if w.host_network is not None and w.host_network.value:
        yield hit(w.host_network, f"{w.ident.kind} {w.ident.name!r} uses the host's network namespace")


@rule(id="MAM-PRIV-006", title="Host UTS namespace shared", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.WORKLOAD, remediation="Remove `uts: host`.", refs=["cis-docker:5.21"])
def host_uts(ctx: Context, w: Workload) -> Iterator[Hit]:
    """A container sharing the host UTS namespace can change the host's hostname."""
    if w.host_uts is not None and w.host_uts.value:
        yield hit(w.host_uts, f"{w.ident.kind} {w.ident.name!r} shares the host's UTS namespace")


@rule(id="MAM-PRIV-007", title="Host user namespace shared", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.WORKLOAD, remediation="Remove `userns_mode: host`; run the daemon with user-namespace remapping.",
      refs=["cis-docker:5.31"])
def host_userns(ctx: Context, w: Workload) -> Iterator[Hit]:
    """Opting out of user-namespace remapping makes root in the container root on the host."""
    if w.host_users is not None and w.host_users.value and w.host_users.explicit and (
            w.ident.source is not SourceKind.KUBERNETES):
        yield hit(w.host_users, f"{w.ident.kind} {w.ident.name!r} opts out of user-namespace remapping")


def _who(c: Container) -> str:
    return "the image" if c.role is Role.IMAGE else f"{c.role.value} {c.name!r}"


def _root_user(user: str | None) -> bool:
    if user is None:
        return False
    name = user.split(":", 1)[0].strip()
    return name in ("root", "0")


@rule(id="MAM-PRIV-008", title="Container may run as root", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Set `runAsNonRoot: true` and a non-zero `runAsUser` (Kubernetes), `user: \"10001:10001\"` "
                  "(Compose) or a non-root `USER` (Dockerfile).",
      refs=["checkov:CKV_K8S_23", "kubescape:C-0013", "polaris:runAsRootAllowed", "kube-linter:run-as-non-root"])
def may_run_as_root(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Root in a container is one kernel bug away from root on the host; nothing forces non-root here."""
    if c.run_as_non_root is not None:  # Kubernetes-style settings
        if c.run_as_non_root.value is True:
            return
        if c.run_as_user is not None and c.run_as_user.value is not None and c.run_as_user.value > 0:
            return
        if c.user is not None and c.user.value is not None and not _root_user(c.user.value):
            return
        where = c.run_as_non_root if c.run_as_non_root.explicit else (c.run_as_user or c.run_as_non_root)
        yield hit(where, f"container {c.name!r} is not required to run as a non-root user")
        return
    if c.user is None or c.role is Role.IMAGE:  # images: MAM-PRIV-009 (USER root) and MAM-PRIV-010 (no USER)
        return
    if c.user.value is None:
        yield hit(c.user, f"{_who(c)} sets no user: it runs as the image's user, root by default")
    elif _root_user(c.user.value):
        yield hit(c.user, f"{_who(c)} runs as root")


@rule(id="MAM-PRIV-009", title="Container explicitly runs as UID 0", severity=Severity.HIGH, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Use a non-zero UID (`runAsUser: 10001`, `user: \"10001\"`, `USER 10001`).",
      refs=["trivy:KSV-0105", "checkov:CKV_DOCKER_8", "hadolint:DL3002", "trivy:DS-0002"])
def explicit_root(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Explicitly choosing root defeats every image that was built to run unprivileged."""
    if c.run_as_user is not None and c.run_as_user.value == 0 and c.run_as_user.explicit:
        yield hit(c.run_as_user, f"container {c.name!r} sets runAsUser: 0")
    elif c.user is not None and c.user.explicit and _root_user(c.user.value):
        yield hit(c.user, f"{_who(c)} sets its user to root")


@rule(id="MAM-PRIV-010", title="Image has no USER instruction", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.CONTAINER, sources=[SourceKind.DOCKERFILE],
      remediation="Create an unprivileged user and end the final stage with `USER <uid>`.",
      refs=["checkov:CKV_DOCKER_3", "trivy:DS-0002", "cis-docker:4.1"])
def image_without_user(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Without USER the image's processes run as root wherever the image is started."""
    if c.role is Role.IMAGE and c.user is not None and not c.user.explicit:
        yield hit(c.user, "the final stage has no USER instruction: the image runs as root")


@rule(id="MAM-PRIV-011", title="Unsafe sysctl", severity=Severity.HIGH, controls=[C], scope=Scope.WORKLOAD,
      remediation="Remove sysctls outside the Kubernetes safe set; tune the node instead if really needed.",
      refs=["trivy:KSV-0026", "kube-linter:unsafe-sysctls"])
def unsafe_sysctls(ctx: Context, w: Workload) -> Iterator[Hit]:
    """Unsafe sysctls are not namespaced or not isolated: they change the kernel of every tenant."""
    for s in w.sysctls:
        if s.value.name not in SAFE_SYSCTLS:
            yield hit(s, f"{w.ident.kind} {w.ident.name!r} sets unsafe sysctl {s.value.name}")


@rule(id="MAM-PRIV-012", title="Unmasked /proc", severity=Severity.HIGH, controls=[C, "CSA-3.1.2.4"],
      scope=Scope.CONTAINER, remediation="Remove `procMount: Unmasked`.",
      refs=["trivy:KSV-0027", "kube-linter:unsafe-proc-mount", "polaris:procMount"])
def unmasked_proc(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """An unmasked /proc exposes kernel interfaces that the runtime normally hides."""
    if c.proc_mount is not None and c.proc_mount.value is not None and c.proc_mount.value != "Default":
        yield hit(c.proc_mount, f"container {c.name!r} uses procMount {c.proc_mount.value}")


@rule(id="MAM-PRIV-013", title="Windows HostProcess container", severity=Severity.HIGH, controls=[C],
      scope=Scope.CONTAINER, remediation="Remove `windowsOptions.hostProcess: true`.",
      refs=["trivy:KSV-0103", "polaris:hostProcess"])
def host_process(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A HostProcess container runs directly on the Windows host with its privileges."""
    if c.windows_host_process is not None and c.windows_host_process.value:
        yield hit(c.windows_host_process, f"container {c.name!r} is a Windows HostProcess container")


@rule(id="MAM-PRIV-014", title="Low UID", severity=Severity.LOW, controls=[C], scope=Scope.CONTAINER,
      remediation="Run as a UID above 10000 so the container user cannot collide with a host account.",
      refs=["trivy:KSV-0020", "checkov:CKV_K8S_40"])
def low_uid(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A UID that exists on the host gives the process that host user's files after an escape."""
    if c.run_as_user is None:
        return
    uid = c.run_as_user.value
    if uid is None or uid < 10000:
        msg = "sets no UID" if uid is None else f"runs as UID {uid}"
        yield hit(c.run_as_user, f"{_who(c)} {msg} (10000 or more expected)")


@rule(id="MAM-PRIV-015", title="Low GID", severity=Severity.LOW, controls=[C], scope=Scope.CONTAINER,
      remediation="Run with a GID above 10000 (`runAsGroup: 10001`).", refs=["trivy:KSV-0021"])
def low_gid(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A low GID (0 above all) can give the process group access to host files after an escape."""
    if c.run_as_group is None:
        return
    gid = c.run_as_group.value
    if gid is None or gid <= 10000:
        msg = "sets no GID" if gid is None else f"runs with GID {gid}"
        yield hit(c.run_as_group, f"{_who(c)} {msg} (above 10000 expected)")


@rule(id="MAM-PRIV-017", title="runAsNonRoot not enforced", severity=Severity.LOW, controls=[C], scope=Scope.CONTAINER,
      remediation="Set `runAsNonRoot: true` in the pod or container securityContext so the kubelet refuses root.",
      refs=["trivy:KSV-0012"])
def run_as_non_root_unset(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Only runAsNonRoot makes the kubelet refuse to start a container whose image switches back to root."""
    if c.run_as_non_root is not None and c.run_as_non_root.value is not True:
        yield hit(c.run_as_non_root, f"container {c.name!r} does not set runAsNonRoot: true")


@rule(id="MAM-PRIV-018", title="Container may run with the root group", severity=Severity.LOW, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Set a non-zero `runAsGroup` (and `fsGroup`) so files the process creates are not root-group.",
      refs=["kubescape:C-0013"])
def root_group(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Without runAsGroup the primary group comes from the image, usually GID 0 with root's group rights."""
    g = c.run_as_group
    if g is not None and c.run_as_non_root is not None and (g.value is None or g.value == 0):
        what = "sets runAsGroup: 0" if g.value == 0 else "sets no runAsGroup (GID 0 from the image)"
        yield hit(g, f"container {c.name!r} {what}")
