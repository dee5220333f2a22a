"""CSA-3.1.15.1: data survives the container - persistent state lives on retained volumes."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mamori.model import Role, Severity, Workload
from mamori.model import resources as r
from mamori.rules.common import image_text
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.15.1"
DATA_IMAGES = re.compile(
    r"(^|/)(postgres(ql)?|mysql|mariadb|mongo(db)?|redis|valkey|elasticsearch|opensearch|cassandra|couchdb|"
    r"influxdb|clickhouse|neo4j|rabbitmq|kafka|zookeeper|etcd|minio|mssql|cockroach|timescaledb|"
    r"memcached|nextcloud|gitea|wordpress)([:@/-]|$)")
EPHEMERAL_OK = re.compile(r"(^|/)memcached([:@]|$)")


def holds_data(w: Workload) -> bool:
    """StatefulSets, and services whose image is a well-known data store, keep state."""
    if w.stateful:
        return True
    return any(DATA_IMAGES.search(image_text(c).lower()) and not EPHEMERAL_OK.search(image_text(c).lower())
               for c in w.containers if c.role in (Role.CONTAINER, Role.SERVICE))


@rule(id="MAM-DATA-001", title="Stateful workload without a persistent volume", severity=Severity.MEDIUM,
      controls=[C], scope=Scope.WORKLOAD,
      remediation="Store data on a persistent volume (volumeClaimTemplates / PVC / named volume) that is backed "
                  "up, never in the container's writable layer.")
def state_in_container(ctx: Context, w: Workload) -> Iterator[Hit]:
    """Data written into the container's filesystem is lost when the container is destroyed."""
    if not holds_data(w) or w.volume_claim_templates:
        return
    persistent = any(m.kind in ("volume", "host") for c in w.containers for m in c.mounts)
    if not persistent:
        yield hit(w.loc, f"{w.ident.kind} {w.ident.name!r} keeps state but mounts no persistent volume")


@rule(id="MAM-DATA-002", title="Data volume deleted on release", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.RESOURCE, types=[r.PersistentVolume, r.StorageClass],
      remediation="Set `persistentVolumeReclaimPolicy: Retain` (PV) or `reclaimPolicy: Retain` (StorageClass) for "
                  "data that must be backed up before it is destroyed.")
def reclaim_delete(ctx: Context, res: r.PersistentVolume | r.StorageClass) -> Iterator[Hit]:
    """With Delete, releasing the claim destroys the data before anyone can back it up."""
    val = res.reclaim_policy
    if isinstance(res, r.PersistentVolume):
        if val.value == "Delete":
            yield hit(val, f"PersistentVolume {res.meta.ident.name!r} is deleted when released")
    elif val.value in (None, "Delete"):
        how = "defaults to" if val.value is None else "sets"
        yield hit(val, f"StorageClass {res.meta.ident.name!r} {how} reclaimPolicy Delete")


@rule(id="MAM-DATA-003", title="StatefulSet deletes its volumes", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.WORKLOAD,
      remediation="Set `persistentVolumeClaimRetentionPolicy.whenDeleted: Retain`.")
def pvc_retention(ctx: Context, w: Workload) -> Iterator[Hit]:
    """whenDeleted: Delete removes the data volumes together with the StatefulSet."""
    if w.pvc_retention_delete is not None and w.pvc_retention_delete.value:
        yield hit(w.pvc_retention_delete, f"StatefulSet {w.ident.name!r} deletes its PVCs when it is deleted")


# Provisioners whose volumes are not encrypted unless the StorageClass asks for it.
_OPT_IN_ENCRYPTION = {"ebs.csi.aws.com": "encrypted", "kubernetes.io/aws-ebs": "encrypted"}


@rule(id="MAM-DATA-004", title="StorageClass does not request encryption", severity=Severity.MEDIUM,
      controls=["CSA-3.1.17.2", "CSA-3.1.9.2"], scope=Scope.RESOURCE, types=[r.StorageClass],
      remediation="Set `parameters.encrypted: \"true\"` (and a `kmsKeyId`) so every provisioned volume is encrypted.",
      refs=["kubescape:C-0264"])
def storage_unencrypted(ctx: Context, sc: r.StorageClass) -> Iterator[Hit]:
    """Data at rest on volumes of this class is stored in clear unless encryption is requested."""
    key = _OPT_IN_ENCRYPTION.get(sc.provisioner)
    if key is not None and sc.parameters.get(key, "").lower() != "true":
        yield hit(sc.meta.loc, f"StorageClass {sc.meta.ident.name!r} ({sc.provisioner}) does not set {key}: \"true\"")
