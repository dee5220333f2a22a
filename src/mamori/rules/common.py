"""Small helpers shared by rule modules (not rules themselves)."""

from __future__ import annotations

from dataclasses import dataclass

from mamori.model import Container, Loc, Role, SourceKind, Workload

# Paths whose mount gives a container control of, or secrets of, the host.
SENSITIVE_HOST_PATHS = (
    "/", "/etc", "/proc", "/sys", "/dev", "/boot", "/root", "/lib", "/lib64", "/usr", "/bin", "/sbin",
    "/var/lib/docker", "/var/lib/containerd", "/var/lib/kubelet", "/var/lib/rancher", "/etc/kubernetes",
    "/var/run", "/run", "/var/lib/etcd", "/var/log",
)
RUNTIME_SOCKETS = (
    "docker.sock", "containerd.sock", "crio.sock", "podman.sock", "dockershim.sock", "cri-dockerd.sock",
    "frakti.sock", "rktlet.sock",
)
RUNTIME_SOCKET_DIRS = ("/var/run/docker", "/run/docker", "/var/run/containerd", "/run/containerd",
                       "/var/run/crio", "/run/crio", "/run/podman", "/var/run/podman")


def norm_path(path: str) -> str:
    p = "/" + path.strip().strip("/") if path.strip().startswith("/") else path.strip()
    while "//" in p:
        p = p.replace("//", "/")
    return p


def is_runtime_socket(path: str) -> bool:
    p = norm_path(path)
    base = p.rsplit("/", 1)[-1]
    return base in RUNTIME_SOCKETS or p in RUNTIME_SOCKET_DIRS


# Directories whose wholesale mount hands the container the host (what Trivy and kube-linter list).
SYSTEM_ROOTS = frozenset({"/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr", "/var/lib/docker"})


def sensitive_path(path: str) -> str | None:
    """The sensitive system path that ``path`` is, or lies under (``/etc/ssl`` -> ``/etc``)."""
    p = norm_path(path)
    if not p.startswith("/"):
        return None
    if p == "/":
        return "/"
    for s in SENSITIVE_HOST_PATHS:
        if s != "/" and (p == s or p.startswith(s + "/")):
            # /var/run and /run only matter for sockets and runtime state, which have their own rule;
            # /var/log is a common, read-only-acceptable mount for log shippers.
            if s in ("/var/run", "/run", "/var/log") and p != s:
                return None
            return s
    return None


@dataclass(frozen=True, slots=True)
class HostMount:
    """A host directory reachable from a workload, whichever format declared it."""

    path: str
    read_only: bool
    loc: Loc
    container: str | None


def host_mounts(w: Workload) -> list[HostMount]:
    """Host paths of a workload: Kubernetes hostPath volumes and bind mounts of containers.

    A hostPath volume counts even when no container mounts it (the peers do the same);
    it is read-only only when every mount of it is.
    """
    out: list[HostMount] = []
    seen_volume_paths: set[str] = set()
    for v in w.volumes:
        if v.host_path is None:
            continue
        mounts = [(c.name, m) for c in w.containers for m in c.mounts if m.kind == "host" and m.source == v.host_path]
        read_only = bool(mounts) and all(m.read_only for _, m in mounts)
        out.append(HostMount(v.host_path, read_only, v.loc, mounts[0][0] if len(mounts) == 1 else None))
        seen_volume_paths.add(v.host_path)
    if w.ident.source is SourceKind.KUBERNETES:
        return out
    for c in w.containers:
        for m in c.mounts:
            if m.kind == "host" and m.source is not None and m.source not in seen_volume_paths:
                out.append(HostMount(m.source, m.read_only, m.loc, c.name))
    return out


def runs_workload_process(c: Container) -> bool:
    """Main containers (not init or debug containers) serve traffic and need probes."""
    return c.role in (Role.CONTAINER, Role.SERVICE, Role.IMAGE)


def cap_name(text: str) -> str:
    return text.strip().upper().removeprefix("CAP_")


def image_text(c: Container) -> str:
    ref = c.image.value
    return ref.raw if ref is not None else ""
