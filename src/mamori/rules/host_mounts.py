"""CSA-3.1.2.4 (and 3.1.9.1): host data reaches containers only when unavoidable.

Kubernetes hostPath volumes and Compose/Docker bind mounts are the same thing to the
model (:func:`mamori.rules.common.host_mounts`), so each rule is written once.
"""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Container, Severity, Workload
from mamori.rules.common import SYSTEM_ROOTS, host_mounts, is_runtime_socket, norm_path, sensitive_path
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.2.4"


def _allowed(ctx: Context, path: str) -> bool:
    p = norm_path(path)
    return any(p == a or p.startswith(a.rstrip("/") + "/") for a in map(norm_path, ctx.settings.allowed_host_paths))


@rule(id="MAM-HOST-001", title="Host directory mounted", severity=Severity.MEDIUM, controls=[C, "CSA-3.1.9.1"],
      scope=Scope.WORKLOAD,
      remediation="Use a named volume, emptyDir or PersistentVolumeClaim instead of a host directory; "
                  "allowlist unavoidable paths in the policy (`allow.host-paths`).",
      refs=["trivy:KSV-0023", "kubescape:C-0048", "polaris:hostPathSet"])
def host_path(ctx: Context, w: Workload) -> Iterator[Hit]:
    """Host directories tie the container to one node and expose host data to it."""
    for m in host_mounts(w):
        if not _allowed(ctx, m.path):
            yield hit(m.loc, f"host path {m.path} is mounted into {w.ident.kind} {w.ident.name!r}", m.container)


@rule(id="MAM-HOST-002", title="Host system directory mounted", severity=Severity.HIGH, controls=[C],
      scope=Scope.WORKLOAD,
      remediation="Never mount /, /etc, /proc, /sys, /dev, /boot, /lib, /usr or /var/lib/docker.",
      refs=["trivy:KSV-0121", "kube-linter:sensitive-host-mounts", "cis-docker:5.6"])
def system_directory(ctx: Context, w: Workload) -> Iterator[Hit]:
    """A whole system directory lets a container rewrite the host or read all of its credentials."""
    for m in host_mounts(w):
        if norm_path(m.path) in SYSTEM_ROOTS and not _allowed(ctx, m.path):
            yield hit(m.loc, f"host system directory {norm_path(m.path)} is mounted", m.container)


@rule(id="MAM-HOST-007", title="Sensitive host path mounted", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.WORKLOAD,
      remediation="Do not mount paths under system directories or the kubelet's and runtimes' state "
                  "(/etc/kubernetes, /var/lib/kubelet, /root, /sys/fs/cgroup ...); allowlist unavoidable ones.",
      refs=["cis-docker:5.6"])
def sensitive_host_path(ctx: Context, w: Workload) -> Iterator[Hit]:
    """Parts of system directories still hold host credentials, kernel interfaces or other tenants' state."""
    for m in host_mounts(w):
        s = sensitive_path(m.path)
        if s is not None and norm_path(m.path) not in SYSTEM_ROOTS and not _allowed(ctx, m.path):
            yield hit(m.loc, f"sensitive host path {m.path} (under {s}) is mounted", m.container)


@rule(id="MAM-HOST-003", title="Container runtime socket mounted", severity=Severity.CRITICAL,
      controls=[C, "CSA-3.1.3.3"], scope=Scope.WORKLOAD,
      remediation="Do not mount docker.sock, containerd.sock, crio.sock or podman.sock; use a socket proxy "
                  "with an allowlist or the orchestrator API with narrow RBAC.",
      refs=["trivy:KSV-0006", "checkov:CKV_K8S_27", "kubescape:C-0074", "kube-linter:docker-sock",
            "cis-docker:5.32"])
def runtime_socket(ctx: Context, w: Workload) -> Iterator[Hit]:
    """The runtime socket starts privileged containers on request: mounting it hands over the host."""
    for m in host_mounts(w):
        if is_runtime_socket(m.path):
            yield hit(m.loc, f"container runtime socket {m.path} is mounted", m.container)


@rule(id="MAM-HOST-004", title="Host directory mounted writable", severity=Severity.MEDIUM,
      controls=[C, "CSA-3.1.9.1"], scope=Scope.WORKLOAD,
      remediation="Mount host directories read-only (`readOnly: true`, `:ro`).",
      refs=["kubescape:C-0045", "kube-linter:writable-host-mount"])
def writable_host_mount(ctx: Context, w: Workload) -> Iterator[Hit]:
    """A writable host mount lets a compromised container plant files on the host."""
    for m in host_mounts(w):
        if not m.read_only and not is_runtime_socket(m.path) and not _allowed(ctx, m.path):
            yield hit(m.loc, f"host path {m.path} is mounted writable", m.container)


@rule(id="MAM-HOST-005", title="Host device exposed", severity=Severity.MEDIUM, controls=[C], scope=Scope.CONTAINER,
      remediation="Remove `devices:`; if a device is required, expose only it, read-only where possible.",
      refs=["cis-docker:5.18"])
def host_devices(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A host device node gives raw access to hardware the host kernel drives."""
    for d in c.devices:
        yield hit(d, f"host device {d.value.split(':', 1)[0]} is exposed to {c.name!r}")


@rule(id="MAM-HOST-006", title="Shared mount propagation", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Use private propagation (the default); remove `Bidirectional` / `rshared`.",
      refs=["cis-docker:5.20"])
def mount_propagation(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Shared propagation lets mounts made in the container appear on the host."""
    for m in c.mounts:
        if m.propagation in ("Bidirectional", "shared", "rshared"):
            yield hit(m.loc, f"mount {m.target} uses {m.propagation} propagation")
