"""AdmissionReview payloads as the API server sends them, for every workload kind."""

from __future__ import annotations

import copy
import uuid
from typing import Any

DIGEST = "sha256:" + "ab" * 32

HARDENED_POD: dict[str, Any] = {
    "automountServiceAccountToken": False,
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{
        "name": "app",
        "image": f"registry.example.com/shop/web:1.4.2@{DIGEST}",
        "imagePullPolicy": "Always",
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
    }],
}


def insecure_pod() -> dict[str, Any]:
    spec = copy.deepcopy(HARDENED_POD)
    spec["hostPID"] = True
    c = spec["containers"][0]
    c["securityContext"] = {"privileged": True}
    c["volumeMounts"] = [{"name": "sock", "mountPath": "/var/run/docker.sock"}]
    spec["volumes"] = [{"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}]
    return spec


LABELS = {"app": "web", "tenant": "shop", "data-classification": "internal"}
GVR = {
    "Pod": ("", "v1", "pods"),
    "Deployment": ("apps", "v1", "deployments"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "DaemonSet": ("apps", "v1", "daemonsets"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
}


def workload(kind: str, pod_spec: dict[str, Any], name: str = "web", namespace: str = "shop",
             replicas: int = 3) -> dict[str, Any]:
    """A workload object of ``kind`` whose pod template is ``pod_spec``."""
    group, version, _ = GVR[kind]
    meta = {"name": name, "namespace": namespace, "labels": dict(LABELS)}
    template = {"metadata": {"labels": dict(LABELS)}, "spec": copy.deepcopy(pod_spec)}
    obj: dict[str, Any] = {"apiVersion": f"{group}/{version}" if group else version, "kind": kind, "metadata": meta}
    if kind == "Pod":
        obj["spec"] = copy.deepcopy(pod_spec)
    elif kind == "CronJob":
        template["spec"]["restartPolicy"] = "OnFailure"
        obj["spec"] = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        template["spec"]["restartPolicy"] = "OnFailure"
        obj["spec"] = {"template": template}
    else:
        obj["spec"] = {"selector": {"matchLabels": {"app": "web"}}, "template": template}
        if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            obj["spec"]["replicas"] = replicas
        if kind == "StatefulSet":
            obj["spec"]["serviceName"] = name
    return obj


def review(obj: dict[str, Any] | None, operation: str = "CREATE", old: dict[str, Any] | None = None,
           dry_run: bool = False, user: str = "alice", uid: str | None = None, kind: str | None = None,
           namespace: str | None = None, sub_resource: str | None = None) -> dict[str, Any]:
    """An ``admission.k8s.io/v1`` AdmissionReview carrying ``obj``."""
    src = obj or old or {}
    kind = kind or src.get("kind", "Pod")
    group, version, resource = GVR.get(kind, ("", "v1", kind.lower() + "s"))
    meta = src.get("metadata", {})
    req: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": meta.get("name", ""),
        "namespace": namespace or meta.get("namespace", "default"),
        "operation": operation,
        "userInfo": {"username": user, "uid": "u-" + user, "groups": ["system:authenticated"]},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": f"{operation.title()}Options"},
    }
    if sub_resource:
        req["subResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}
