"""Kubernetes objects that are not workloads but that rules need to see.

Networking (Service, Ingress, NetworkPolicy), access (RBAC, ServiceAccount), data
(ConfigMap, Secret, volumes), and capacity (HPA, PDB, LimitRange, ResourceQuota).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mamori.model.core import Loc, Val
from mamori.model.workload import Identity


@dataclass(frozen=True, slots=True)
class Meta:
    """Identity, location and metadata common to every Kubernetes object."""

    ident: Identity
    loc: Loc
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Namespace:
    meta: Meta


@dataclass(frozen=True, slots=True)
class ServicePort:
    port: int | None
    node_port: int | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class Service:
    meta: Meta
    type: Val[str]
    ports: tuple[ServicePort, ...] = ()
    external_ips: Val[tuple[str, ...]] | None = None
    selector: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ingress:
    meta: Meta
    tls: Val[bool]
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    meta: Meta
    pod_selector: dict[str, str]
    policy_types: tuple[str, ...]
    selects_all: bool


@dataclass(frozen=True, slots=True)
class DataEntry:
    """One key of a ConfigMap or Secret (value already decoded for Secret ``data``)."""

    key: str
    value: str
    loc: Loc


@dataclass(frozen=True, slots=True)
class ConfigMap:
    meta: Meta
    data: tuple[DataEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class Secret:
    meta: Meta
    type: str = "Opaque"
    data: tuple[DataEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    meta: Meta
    automount: Val[bool | None]


@dataclass(frozen=True, slots=True)
class PolicyRule:
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    loc: Loc
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Role:
    """A Role or (``cluster`` True) ClusterRole."""

    meta: Meta
    cluster: bool
    rules: tuple[PolicyRule, ...] = ()


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str
    name: str
    namespace: str | None


@dataclass(frozen=True, slots=True)
class RoleBinding:
    """A RoleBinding or (``cluster`` True) ClusterRoleBinding."""

    meta: Meta
    cluster: bool
    role_kind: str
    role_name: Val[str]
    subjects: tuple[Subject, ...] = ()


@dataclass(frozen=True, slots=True)
class PersistentVolume:
    meta: Meta
    reclaim_policy: Val[str | None]
    host_path: Val[str | None] | None = None
    storage_class: str | None = None


@dataclass(frozen=True, slots=True)
class PersistentVolumeClaim:
    meta: Meta
    storage_class: str | None = None


@dataclass(frozen=True, slots=True)
class StorageClass:
    meta: Meta
    reclaim_policy: Val[str | None]
    provisioner: str = ""
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HorizontalPodAutoscaler:
    meta: Meta
    min_replicas: Val[int | None]
    max_replicas: Val[int | None]
    target_kind: str | None
    target_name: str | None


@dataclass(frozen=True, slots=True)
class PodDisruptionBudget:
    meta: Meta
    min_available: Val[str | None]
    max_unavailable: Val[str | None]
    selector: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LimitRange:
    meta: Meta


@dataclass(frozen=True, slots=True)
class ResourceQuota:
    meta: Meta


Resource = (
    Namespace
    | Service
    | Ingress
    | NetworkPolicy
    | ConfigMap
    | Secret
    | ServiceAccount
    | Role
    | RoleBinding
    | PersistentVolume
    | PersistentVolumeClaim
    | StorageClass
    | HorizontalPodAutoscaler
    | PodDisruptionBudget
    | LimitRange
    | ResourceQuota
)
