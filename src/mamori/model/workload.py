"""The workload model: what runs, with which privileges, mounts and resources.

A Kubernetes pod template, a Compose service, a Dockerfile's final image and (later) a
live container or admission request all become one :class:`Workload` holding
:class:`Container` objects. A field that the source format cannot express at all is
``None`` (a Dockerfile cannot say ``privileged``), so a rule about a missing setting does
not fire where the setting cannot exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from mamori.model.core import Loc, SourceKind, Val


class Role(StrEnum):
    """What part a container plays in its workload."""

    CONTAINER = "container"
    INIT = "init"
    EPHEMERAL = "ephemeral"
    SERVICE = "service"  # a Compose service
    IMAGE = "image"  # a Dockerfile's final stage


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed image reference ``[registry/]repository[:tag][@digest]``."""

    raw: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def floating(self) -> bool:
        """True when the reference may move: no digest and a missing or ``latest`` tag."""
        return self.digest is None and (self.tag is None or self.tag == "latest")


@dataclass(frozen=True, slots=True)
class Mount:
    """A filesystem mounted into a container.

    ``kind``: ``host`` (hostPath / bind mount), ``volume`` (named or persistent volume),
    ``tmpfs``, ``secret``, ``config``, ``projected`` or ``other``.
    ``shared_name`` is the volume name when the volume can be shared between workloads.
    """

    target: str
    kind: str
    source: str | None
    read_only: bool
    loc: Loc
    shared_name: str | None = None
    propagation: str | None = None


@dataclass(frozen=True, slots=True)
class Volume:
    """A pod-level volume declaration (Kubernetes) or top-level volume (Compose)."""

    name: str
    kind: str  # hostPath, emptyDir, persistentVolumeClaim, secret, configMap, ...
    host_path: str | None
    loc: Loc
    claim: str | None = None
    medium: str | None = None


@dataclass(frozen=True, slots=True)
class EnvVar:
    """An environment variable; ``value`` is None when it comes from a reference."""

    name: str
    value: str | None
    loc: Loc
    from_secret: bool = False
    origin: str = "env"  # env, ENV, ARG, environment, configmap


@dataclass(frozen=True, slots=True)
class Port:
    """A container port and, when published, the host side of it."""

    container_port: int | None
    loc: Loc
    host_port: int | None = None
    host_ip: str | None = None
    protocol: str = "TCP"


@dataclass(frozen=True, slots=True)
class Resources:
    """CPU/memory requests and limits and the PIDs limit; a missing value is None."""

    cpu_request: Val[str | None]
    cpu_limit: Val[str | None]
    memory_request: Val[str | None]
    memory_limit: Val[str | None]
    pids_limit: Val[int | None] | None = None


@dataclass(frozen=True, slots=True)
class Health:
    """Health and lifecycle hooks. ``None`` fields cannot be expressed by the source."""

    liveness: Val[bool]
    readiness: Val[bool] | None = None
    startup: Val[bool] | None = None
    pre_stop: Val[bool] | None = None
    disabled: bool = False  # HEALTHCHECK NONE / healthcheck.disable


@dataclass(frozen=True, slots=True)
class Container:
    """One container with its *effective* settings (pod-level values already inherited)."""

    name: str
    role: Role
    loc: Loc
    image: Val[ImageRef | None]
    pull_policy: Val[str | None] | None = None
    user: Val[str | None] | None = None  # Docker/Compose/Dockerfile user string
    run_as_user: Val[int | None] | None = None
    run_as_group: Val[int | None] | None = None
    run_as_non_root: Val[bool | None] | None = None
    privileged: Val[bool] | None = None
    allow_privilege_escalation: Val[bool | None] | None = None
    cap_add: tuple[Val[str], ...] = ()
    cap_drop: tuple[Val[str], ...] = ()
    capabilities: Val[bool] | None = None  # where capabilities belong; None: not expressible
    read_only_root: Val[bool] | None = None
    seccomp: Val[str | None] | None = None  # RuntimeDefault, Unconfined, Localhost/<p>
    apparmor: Val[str | None] | None = None  # runtime/default, unconfined, localhost/<p>
    selinux_type: Val[str | None] | None = None
    selinux_disabled: Val[bool] | None = None  # label:disable / label=disable
    proc_mount: Val[str | None] | None = None
    windows_host_process: Val[bool] | None = None
    security_context: Val[bool] | None = None  # a securityContext was given at all
    mounts: tuple[Mount, ...] = ()
    devices: tuple[Val[str], ...] = ()
    resources: Resources | None = None
    env: tuple[EnvVar, ...] = ()
    ports: tuple[Port, ...] = ()
    health: Health | None = None
    logging_driver: Val[str | None] | None = None
    command: tuple[str, ...] = ()
    stop_grace: Val[int | None] | None = None


@dataclass(frozen=True, slots=True)
class Sysctl:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Identity:
    """Which object this is; the same fields name it in every finding."""

    source: SourceKind
    file: str
    kind: str
    name: str
    namespace: str | None = None
    line: int = 0
    template: str | None = None  # `# Source:` of `helm template` output

    @property
    def display(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"


@dataclass(frozen=True, slots=True)
class Workload:
    """Something that runs containers, with the pod- or service-level settings."""

    ident: Identity
    loc: Loc
    containers: tuple[Container, ...]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    labels_loc: Loc | None = None
    namespace: Val[str | None] | None = None
    template_labels: dict[str, str] = field(default_factory=dict)
    replicas: Val[int | None] | None = None
    host_network: Val[bool] | None = None
    host_pid: Val[bool] | None = None
    host_ipc: Val[bool] | None = None
    host_uts: Val[bool] | None = None
    host_users: Val[bool] | None = None  # True: shares the host user namespace
    service_account: Val[str | None] | None = None
    automount_token: Val[bool | None] | None = None
    volumes: tuple[Volume, ...] = ()
    sysctls: tuple[Val[Sysctl], ...] = ()
    termination_grace: Val[int | None] | None = None
    restart_policy: Val[str | None] | None = None
    networks: tuple[str, ...] = ()  # Compose networks
    network_mode: Val[str | None] | None = None
    is_template: bool = False  # a controller with a pod template (not a bare Pod)
    stateful: bool = False  # StatefulSet or a service that is a database by its image
    volume_claim_templates: tuple[str, ...] = ()
    pvc_retention_delete: Val[bool] | None = None
    extra: dict[str, Val[object]] = field(default_factory=dict)
