"""CSA-3.1.2.5: capabilities are an allowlist - drop ALL, add back only what is needed."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Container, Severity, Workload
from mamori.rules.common import cap_name
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.2.5"
DANGEROUS = frozenset({
    "ALL", "SYS_ADMIN", "NET_ADMIN", "NET_RAW", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "BPF", "PERFMON", "SYS_BOOT",
    "MAC_ADMIN", "MAC_OVERRIDE", "SETPCAP",
})
# The Pod Security Standards "baseline" set: what a container may add without being privileged.
BASELINE = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})


def _drops_all(c: Container) -> bool:
    return any(cap_name(d.value) == "ALL" for d in c.cap_drop)


@rule(id="MAM-CAP-001", title="Capabilities not dropped", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Drop every capability (`capabilities: {drop: [ALL]}` / `cap_drop: [ALL]`) and add back only "
                  "those the process needs.",
      refs=["trivy:KSV-0003", "trivy:KSV-0106", "checkov:CKV_K8S_37", "polaris:insecureCapabilities",
            "cis-docker:5.4"])
def not_dropped(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """The runtime's default set (CHOWN, SETUID, NET_RAW ...) is far more than most processes need."""
    if c.capabilities is not None and not _drops_all(c):
        yield hit(c.capabilities, f"container {c.name!r} does not drop all capabilities")


@rule(id="MAM-CAP-002", title="Capabilities added", severity=Severity.LOW, controls=[C], scope=Scope.CONTAINER,
      remediation="Remove `add`/`cap_add` entries, or allowlist the ones the process needs "
                  "(`allow.capabilities` in the policy).",
      refs=["checkov:CKV_K8S_25", "trivy:KSV-0022", "cis-docker:5.4"])
def added(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Every added capability widens what an attacker in the container can do to the kernel."""
    allowed = set(ctx.settings.allowed_capabilities)
    for a in c.cap_add:
        name = cap_name(a.value)
        if name not in allowed:
            yield hit(a, f"container {c.name!r} adds capability {name}")


@rule(id="MAM-CAP-003", title="Dangerous capability added", severity=Severity.HIGH, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Remove SYS_ADMIN, NET_ADMIN, SYS_PTRACE, SYS_MODULE, BPF and similar capabilities; "
                  "they allow container escape.",
      refs=["kubescape:C-0046"])
def dangerous(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """These capabilities are each enough to escape a container or control the host's network."""
    for a in c.cap_add:
        name = cap_name(a.value)
        if name in DANGEROUS:
            yield hit(a, f"container {c.name!r} adds dangerous capability {name}")


@rule(id="MAM-CAP-004", title="SYS_ADMIN capability added", severity=Severity.HIGH, controls=[C],
      scope=Scope.CONTAINER, remediation="Remove SYS_ADMIN; it is nearly equivalent to privileged mode.",
      refs=["trivy:KSV-0005", "checkov:CKV_K8S_39", "kubescape:C-0057", "polaris:dangerousCapabilities"])
def sys_admin(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """SYS_ADMIN allows mounting filesystems and most of what privileged mode allows."""
    for a in c.cap_add:
        if cap_name(a.value) == "SYS_ADMIN":
            yield hit(a, f"container {c.name!r} adds SYS_ADMIN")


@rule(id="MAM-CAP-005", title="NET_RAW not dropped", severity=Severity.MEDIUM, controls=[C], scope=Scope.CONTAINER,
      remediation="Drop NET_RAW (or ALL): raw sockets allow spoofing and ARP/DNS attacks on neighbours.",
      refs=["checkov:CKV_K8S_28"])
def net_raw(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """NET_RAW is in the default set and enables packet crafting against other containers."""
    if c.capabilities is None:
        return
    dropped = {cap_name(d.value) for d in c.cap_drop}
    if "ALL" not in dropped and "NET_RAW" not in dropped:
        yield hit(c.capabilities, f"container {c.name!r} does not drop NET_RAW")


@rule(id="MAM-CAP-006", title="Capability outside the baseline set added", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Add only capabilities from the Pod Security baseline set, and only those the process needs.",
      refs=["trivy:KSV-0022"])
def beyond_baseline(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Capabilities beyond the baseline set are what Pod Security "baseline" forbids: they reach the host."""
    for a in c.cap_add:
        name = cap_name(a.value)
        if name not in BASELINE and name not in ctx.settings.allowed_capabilities:
            yield hit(a, f"container {c.name!r} adds {name}, outside the baseline capability set")


@rule(id="MAM-CAP-007", title="NET_RAW added", severity=Severity.MEDIUM, controls=[C], scope=Scope.CONTAINER,
      remediation="Remove NET_RAW from the added capabilities.",
      refs=["trivy:KSV-0119", "kube-linter:drop-net-raw-capability"])
def net_raw_added(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Adding NET_RAW back undoes the drop and re-enables raw sockets."""
    for a in c.cap_add:
        if cap_name(a.value) == "NET_RAW":  # ALL is MAM-CAP-003's finding
            yield hit(a, f"container {c.name!r} adds NET_RAW")
