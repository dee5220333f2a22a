"""Kubernetes manifests -> model.

Workload kinds are reduced to their pod spec; containers get their *effective* security
settings the way the kubelet computes them (container ``securityContext`` overrides the
pod's for the fields both have), which is what avoids the peers' context-blind false
positives. Non-workload kinds the rules need become typed resources; other kinds are
reported as skipped.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from typing import Any

from mamori.model import (
    Container,
    EnvVar,
    Health,
    Identity,
    InputError,
    Loc,
    Mount,
    Port,
    Resources,
    Role,
    ScanSet,
    Skipped,
    SourceKind,
    Suppression,
    Sysctl,
    Val,
    Volume,
    Workload,
)
from mamori.model import resources as r
from mamori.sources.imageref import parse_image_ref
from mamori.sources.suppress import parse_annotation
from mamori.sources.yamldoc import Doc, escape

# kind -> pointer of the pod spec inside the object
POD_SPEC = {
    "Pod": "/spec",
    "Deployment": "/spec/template/spec",
    "StatefulSet": "/spec/template/spec",
    "DaemonSet": "/spec/template/spec",
    "ReplicaSet": "/spec/template/spec",
    "ReplicationController": "/spec/template/spec",
    "Job": "/spec/template/spec",
    "CronJob": "/spec/jobTemplate/spec/template/spec",
    "PodTemplate": "/template/spec",
    "DeploymentConfig": "/spec/template/spec",  # OpenShift
    "Rollout": "/spec/template/spec",  # Argo Rollouts
}
KNOWN_IGNORED = {
    "CustomResourceDefinition", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "PriorityClass", "PodSecurityPolicy", "Endpoints", "EndpointSlice", "Lease", "Event", "CSIDriver",
    "IngressClass", "RuntimeClass", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
}
IGNORE_ANNOTATION = "mamori.io/ignore"


def is_kubernetes(data: object) -> bool:
    """An object with ``apiVersion`` and ``kind``, or a ``kind: ...List`` of items (kubectl omits apiVersion)."""
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return False
    return "apiVersion" in data or isinstance(data.get("items"), list)


def _get(data: Any, pointer: str) -> Any:
    cur = data
    for part in pointer.strip("/").split("/") if pointer else []:
        if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            cur = cur.get(part.replace("~1", "/").replace("~0", "~"))
        else:
            return None
    return cur


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strmap(value: Any) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in _dict(value).items()}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _strict_bool(value: Any) -> bool | None:
    """Only a YAML boolean: the API server rejects `"false"`, so it protects nothing."""
    return value if isinstance(value, bool) else None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


class _Reader:
    """Reads one document (or one item of a List) at ``base`` pointer."""

    def __init__(self, doc: Doc, base: str, out: ScanSet) -> None:
        self.doc = doc
        self.base = base
        self.out = out
        self.data = _get(doc.data, base) if base else doc.data

    def loc(self, rel: str) -> Loc:
        return self.doc.loc(self.base + rel)

    def val(self, obj: Any, rel: str, key: str, default: Any, fallback: str, conv: Any = None) -> Val[Any]:
        """The value of ``obj[key]`` with its line, or ``default`` located at ``fallback``."""
        if isinstance(obj, dict) and key in obj and obj[key] is not None:
            v = obj[key]
            return Val(conv(v) if conv else v, self.loc(f"{rel}/{escape(key)}"))
        return Val(default, self.loc(fallback), explicit=False)

    # --- identity -----------------------------------------------------------------
    def meta(self) -> r.Meta:
        d = self.data
        md = _dict(d.get("metadata"))
        name = md.get("name") or md.get("generateName") or "<unnamed>"
        ns = md.get("namespace")
        ident = Identity(SourceKind.KUBERNETES, self.doc.file, str(d.get("kind")), str(name),
                         str(ns) if ns is not None else None, self.loc("").line, self.doc.helm_source)
        return r.Meta(ident, self.loc(""), _strmap(md.get("labels")), _strmap(md.get("annotations")))

    def annotation_suppressions(self, meta: r.Meta, annotations: dict[str, str], rel: str) -> None:
        span = self.doc.span(self.base)
        for key, value in annotations.items():
            if key == IGNORE_ANNOTATION or key.startswith(IGNORE_ANNOTATION + "-"):
                for ids, reason, expires, problem in parse_annotation(value):
                    if problem:
                        self.out.errors.append(InputError(self.doc.file, self.loc(rel).line, problem))
                        continue
                    self.out.suppressions.append(Suppression(
                        ids, reason, self.doc.file, span[0], span[1], "annotation", expires,
                        meta.ident.display, self.loc(rel).line))

    # --- workloads -----------------------------------------------------------------
    def workload(self, meta: r.Meta, spec_ptr: str) -> Workload:
        kind = meta.ident.kind
        spec = _dict(_get(self.data, spec_ptr))
        tmpl_ptr = spec_ptr.rsplit("/", 1)[0]
        tmpl_meta = _dict(_get(self.data, tmpl_ptr + "/metadata")) if kind != "Pod" else {}
        annotations = dict(meta.annotations)
        pod_annotations = _strmap(tmpl_meta.get("annotations")) if kind != "Pod" else annotations
        annotations.update({k: v for k, v in pod_annotations.items() if k not in annotations})
        self.annotation_suppressions(meta, meta.annotations, "/metadata/annotations")
        if kind != "Pod":
            self.annotation_suppressions(meta, _strmap(tmpl_meta.get("annotations")),
                                         tmpl_ptr + "/metadata/annotations")
        psc = _dict(spec.get("securityContext"))
        psc_ptr = spec_ptr + "/securityContext"
        volumes = tuple(self.volumes(spec, spec_ptr))
        by_name = {v.name: v for v in volumes}
        containers: list[Container] = []
        for role, key in ((Role.INIT, "initContainers"), (Role.CONTAINER, "containers"),
                          (Role.EPHEMERAL, "ephemeralContainers")):
            for i, c in enumerate(_list(spec.get(key))):
                if isinstance(c, dict):
                    containers.append(self.container(c, f"{spec_ptr}/{key}/{i}", role, psc, psc_ptr, by_name,
                                                     pod_annotations, spec_ptr))
        sysctls = tuple(
            Val(Sysctl(str(s.get("name")), str(s.get("value"))), self.loc(f"{psc_ptr}/sysctls/{i}"))
            for i, s in enumerate(_list(psc.get("sysctls"))) if isinstance(s, dict)
        )
        ns = meta.ident.namespace
        top = _dict(self.data.get("spec"))
        replicas: Val[int | None] | None = None
        if kind in ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "DeploymentConfig", "Rollout"):
            replicas = self.val(top, "/spec", "replicas", None, "/spec", _int)
        pvc_delete: Val[bool] | None = None
        claims: tuple[str, ...] = ()
        if kind == "StatefulSet":
            claims = tuple(str(_dict(t.get("metadata")).get("name")) for t in _list(top.get("volumeClaimTemplates"))
                           if isinstance(t, dict))
            pol = _dict(top.get("persistentVolumeClaimRetentionPolicy"))
            deleted = pol.get("whenDeleted") == "Delete"
            pvc_delete = Val(deleted, self.loc("/spec/persistentVolumeClaimRetentionPolicy"), explicit=bool(pol))
        return Workload(
            ident=meta.ident,
            loc=meta.loc,
            containers=tuple(containers),
            labels=meta.labels,
            annotations=annotations,
            labels_loc=self.loc("/metadata/labels") if meta.labels else self.loc("/metadata"),
            namespace=Val(ns, self.loc("/metadata/namespace" if ns else "/metadata"), explicit=ns is not None),
            template_labels=_strmap(tmpl_meta.get("labels")) if kind != "Pod" else meta.labels,
            replicas=replicas,
            host_network=self.val(spec, spec_ptr, "hostNetwork", False, spec_ptr, bool),
            host_pid=self.val(spec, spec_ptr, "hostPID", False, spec_ptr, bool),
            host_ipc=self.val(spec, spec_ptr, "hostIPC", False, spec_ptr, bool),
            host_uts=None,
            host_users=self.val(spec, spec_ptr, "hostUsers", True, spec_ptr, lambda v: v is not False),
            service_account=self.val(spec, spec_ptr, "serviceAccountName",
                                     spec.get("serviceAccount") or None, spec_ptr, str),
            automount_token=self.val(spec, spec_ptr, "automountServiceAccountToken", None, spec_ptr, _strict_bool),
            volumes=volumes,
            sysctls=sysctls,
            termination_grace=self.val(spec, spec_ptr, "terminationGracePeriodSeconds", None, spec_ptr, _int),
            restart_policy=self.val(spec, spec_ptr, "restartPolicy", None, spec_ptr, str),
            is_template=kind != "Pod",
            stateful=kind == "StatefulSet",
            volume_claim_templates=claims,
            pvc_retention_delete=pvc_delete,
            extra={
                "spec_pointer": Val(spec_ptr, self.loc(spec_ptr)),
                "node_selector": Val(bool(spec.get("nodeSelector") or spec.get("affinity")), self.loc(spec_ptr)),
                "tolerations": Val(bool(spec.get("tolerations")), self.loc(spec_ptr)),
                "priority_class": Val(spec.get("priorityClassName"), self.loc(spec_ptr)),
                "runtime_class": Val(spec.get("runtimeClassName"), self.loc(spec_ptr)),
                "pod_security_context": Val(bool(psc), self.loc(psc_ptr if psc else spec_ptr)),
            },
        )

    def volumes(self, spec: dict[str, Any], spec_ptr: str) -> list[Volume]:
        out = []
        for i, v in enumerate(_list(spec.get("volumes"))):
            if not isinstance(v, dict):
                continue
            kinds = [k for k in v if k != "name"]
            kind = kinds[0] if kinds else "emptyDir"
            hp = _dict(v.get("hostPath"))
            claim = _dict(v.get("persistentVolumeClaim")).get("claimName")
            medium = _dict(v.get("emptyDir")).get("medium")
            ptr = f"{spec_ptr}/volumes/{i}"
            out.append(Volume(str(v.get("name")), kind, str(hp["path"]) if hp.get("path") is not None else None,
                              self.loc(f"{ptr}/hostPath/path" if hp else ptr),
                              str(claim) if claim else None, medium))
        return out

    def container(self, c: dict[str, Any], ptr: str, role: Role, psc: dict[str, Any], psc_ptr: str,
                  volumes: dict[str, Volume], pod_annotations: dict[str, str], spec_ptr: str) -> Container:
        name = str(c.get("name") or "<unnamed>")
        sc = _dict(c.get("securityContext"))
        sc_ptr = ptr + "/securityContext"
        cloc = self.loc(ptr)

        def eff(key: str, conv: Any, default: Any = None) -> Val[Any]:
            """Container value, else the pod's, else the default located at the container."""
            if sc.get(key) is not None:
                return Val(conv(sc[key]), self.loc(f"{sc_ptr}/{key}"))
            if psc.get(key) is not None:
                return Val(conv(psc[key]), self.loc(f"{psc_ptr}/{key}"))
            return Val(default, self.loc(sc_ptr if sc else ptr), explicit=False)

        caps = _dict(sc.get("capabilities"))
        cap_add = tuple(Val(str(x), self.loc(f"{sc_ptr}/capabilities/add/{i}"))
                        for i, x in enumerate(_list(caps.get("add"))))
        cap_drop = tuple(Val(str(x), self.loc(f"{sc_ptr}/capabilities/drop/{i}"))
                         for i, x in enumerate(_list(caps.get("drop"))))
        image_text = c.get("image")
        image = Val(parse_image_ref(str(image_text)) if image_text else None,
                    self.loc(f"{ptr}/image") if image_text else cloc, explicit=bool(image_text))
        return Container(
            name=name,
            role=role,
            loc=cloc,
            image=image,
            pull_policy=self.val(c, ptr, "imagePullPolicy", None, ptr, str),
            run_as_user=eff("runAsUser", _int),
            run_as_group=eff("runAsGroup", _int),
            run_as_non_root=eff("runAsNonRoot", _bool),
            privileged=self.val(sc, sc_ptr, "privileged", False, sc_ptr if sc else ptr, lambda v: v is True),
            allow_privilege_escalation=self.val(sc, sc_ptr, "allowPrivilegeEscalation", None,
                                                sc_ptr if sc else ptr, _strict_bool),
            cap_add=cap_add,
            cap_drop=cap_drop,
            capabilities=Val(bool(caps), self.loc(f"{sc_ptr}/capabilities" if caps else (sc_ptr if sc else ptr)),
                             explicit=bool(caps)),
            read_only_root=self.val(sc, sc_ptr, "readOnlyRootFilesystem", False, sc_ptr if sc else ptr,
                                    lambda v: v is True),
            seccomp=self.seccomp(sc, sc_ptr, psc, psc_ptr, ptr, name, pod_annotations),
            apparmor=self.apparmor(sc, sc_ptr, psc, psc_ptr, ptr, name, pod_annotations),
            selinux_type=self.selinux(sc, sc_ptr, psc, psc_ptr, ptr),
            proc_mount=self.val(sc, sc_ptr, "procMount", None, sc_ptr if sc else ptr, str),
            windows_host_process=self.host_process(sc, sc_ptr, psc, psc_ptr, ptr),
            security_context=Val(bool(sc), self.loc(sc_ptr if sc else ptr), explicit=bool(sc)),
            mounts=tuple(self.mounts(c, ptr, volumes)),
            resources=self.resources(c, ptr),
            env=tuple(self.env(c, ptr)),
            ports=tuple(self.ports(c, ptr)),
            health=Health(
                liveness=Val(bool(c.get("livenessProbe")), self.loc(f"{ptr}/livenessProbe"),
                             explicit="livenessProbe" in c),
                readiness=Val(bool(c.get("readinessProbe")), self.loc(f"{ptr}/readinessProbe"),
                              explicit="readinessProbe" in c),
                startup=Val(bool(c.get("startupProbe")), self.loc(f"{ptr}/startupProbe"),
                            explicit="startupProbe" in c),
                pre_stop=Val(bool(_dict(c.get("lifecycle")).get("preStop")), self.loc(f"{ptr}/lifecycle"),
                             explicit="lifecycle" in c),
            ),
            command=tuple(str(x) for x in _list(c.get("command")) + _list(c.get("args"))),
        )

    def seccomp(self, sc: dict[str, Any], sc_ptr: str, psc: dict[str, Any], psc_ptr: str, ptr: str, name: str,
                ann: dict[str, str]) -> Val[str | None]:
        for obj, base in ((sc, sc_ptr), (psc, psc_ptr)):
            prof = _dict(obj.get("seccompProfile"))
            if prof.get("type"):
                t = str(prof["type"])
                if t == "Localhost":
                    t = f"Localhost/{prof.get('localhostProfile', '')}"
                return Val(t, self.loc(f"{base}/seccompProfile/type"))
        legacy = ann.get(f"container.seccomp.security.alpha.kubernetes.io/{name}") or ann.get(
            "seccomp.security.alpha.kubernetes.io/pod")
        if legacy:
            mapped = {"runtime/default": "RuntimeDefault", "docker/default": "RuntimeDefault",
                      "unconfined": "Unconfined"}.get(legacy, f"Localhost/{legacy.removeprefix('localhost/')}")
            return Val(mapped, self.loc("/metadata/annotations"))
        return Val(None, self.loc(sc_ptr if sc else ptr), explicit=False)

    def apparmor(self, sc: dict[str, Any], sc_ptr: str, psc: dict[str, Any], psc_ptr: str, ptr: str, name: str,
                 ann: dict[str, str]) -> Val[str | None]:
        for obj, base in ((sc, sc_ptr), (psc, psc_ptr)):
            prof = _dict(obj.get("appArmorProfile"))
            if prof.get("type"):
                t = {"RuntimeDefault": "runtime/default", "Unconfined": "unconfined"}.get(
                    str(prof["type"]), f"localhost/{prof.get('localhostProfile', '')}")
                return Val(t, self.loc(f"{base}/appArmorProfile/type"))
        legacy = ann.get(f"container.apparmor.security.beta.kubernetes.io/{name}")
        if legacy:
            return Val(legacy, self.loc("/metadata/annotations"))
        return Val(None, self.loc(sc_ptr if sc else ptr), explicit=False)

    def selinux(self, sc: dict[str, Any], sc_ptr: str, psc: dict[str, Any], psc_ptr: str, ptr: str) -> Val[str | None]:
        for obj, base in ((sc, sc_ptr), (psc, psc_ptr)):
            opts = _dict(obj.get("seLinuxOptions"))
            if opts.get("type"):
                return Val(str(opts["type"]), self.loc(f"{base}/seLinuxOptions/type"))
        return Val(None, self.loc(ptr), explicit=False)

    def host_process(self, sc: dict[str, Any], sc_ptr: str, psc: dict[str, Any], psc_ptr: str, ptr: str) -> Val[bool]:
        for obj, base in ((sc, sc_ptr), (psc, psc_ptr)):
            win = _dict(obj.get("windowsOptions"))
            if "hostProcess" in win:
                return Val(win["hostProcess"] is True, self.loc(f"{base}/windowsOptions/hostProcess"))
        return Val(False, self.loc(ptr), explicit=False)

    def mounts(self, c: dict[str, Any], ptr: str, volumes: dict[str, Volume]) -> list[Mount]:
        out = []
        kinds = {"hostPath": "host", "persistentVolumeClaim": "volume", "secret": "secret", "configMap": "config",
                 "projected": "projected", "emptyDir": "emptydir", "ephemeral": "volume", "csi": "volume",
                 "nfs": "volume", "downwardAPI": "config"}
        for i, m in enumerate(_list(c.get("volumeMounts"))):
            if not isinstance(m, dict):
                continue
            vol = volumes.get(str(m.get("name")))
            kind = kinds.get(vol.kind, "other") if vol else "other"
            source = vol.host_path if vol and vol.kind == "hostPath" else (vol.claim if vol else None)
            out.append(Mount(str(m.get("mountPath", "")), kind, source, m.get("readOnly") is True,
                             self.loc(f"{ptr}/volumeMounts/{i}"), shared_name=vol.claim if vol else None,
                             propagation=m.get("mountPropagation")))
        return out

    def resources(self, c: dict[str, Any], ptr: str) -> Resources:
        res = _dict(c.get("resources"))
        base = f"{ptr}/resources"
        req, lim = _dict(res.get("requests")), _dict(res.get("limits"))
        at = base if res else ptr

        def q(obj: dict[str, Any], sub: str, key: str) -> Val[str | None]:
            if obj.get(key) is not None:
                return Val(str(obj[key]), self.loc(f"{base}/{sub}/{key}"))
            return Val(None, self.loc(f"{base}/{sub}" if obj else at), explicit=False)

        return Resources(q(req, "requests", "cpu"), q(lim, "limits", "cpu"), q(req, "requests", "memory"),
                         q(lim, "limits", "memory"))

    def env(self, c: dict[str, Any], ptr: str) -> list[EnvVar]:
        out = []
        for i, e in enumerate(_list(c.get("env"))):
            if not isinstance(e, dict) or "name" not in e:
                continue
            vf = _dict(e.get("valueFrom"))
            value = e.get("value")
            out.append(EnvVar(str(e["name"]), None if value is None else str(value), self.loc(f"{ptr}/env/{i}"),
                              from_secret="secretKeyRef" in vf, origin="env"))
        return out

    def ports(self, c: dict[str, Any], ptr: str) -> list[Port]:
        out = []
        for i, p in enumerate(_list(c.get("ports"))):
            if isinstance(p, dict):
                out.append(Port(_int(p.get("containerPort")), self.loc(f"{ptr}/ports/{i}"), _int(p.get("hostPort")),
                                p.get("hostIP"), str(p.get("protocol") or "TCP")))
        return out

    # --- other kinds ---------------------------------------------------------------------
    def resource(self, meta: r.Meta) -> r.Resource | None:
        kind = meta.ident.kind
        d = self.data
        spec = _dict(d.get("spec"))
        if kind == "Namespace":
            return r.Namespace(meta)
        if kind == "Service":
            ports = tuple(r.ServicePort(_int(p.get("port")), _int(p.get("nodePort")), self.loc(f"/spec/ports/{i}"))
                          for i, p in enumerate(_list(spec.get("ports"))) if isinstance(p, dict))
            ext = spec.get("externalIPs")
            return r.Service(meta, self.val(spec, "/spec", "type", "ClusterIP", "/spec", str), ports,
                             Val(tuple(str(x) for x in _list(ext)), self.loc("/spec/externalIPs")) if ext else None,
                             _strmap(spec.get("selector")))
        if kind == "Ingress":
            tls = _list(spec.get("tls"))
            hosts = tuple(str(x.get("host")) for x in _list(spec.get("rules")) if isinstance(x, dict) and x.get("host"))
            return r.Ingress(meta, Val(bool(tls), self.loc("/spec/tls" if tls else "/spec"), explicit=bool(tls)), hosts)
        if kind == "NetworkPolicy":
            sel = _dict(spec.get("podSelector"))
            labels = _strmap(sel.get("matchLabels"))
            types = tuple(str(t) for t in _list(spec.get("policyTypes"))) or (
                ("Ingress", "Egress") if "egress" in spec else ("Ingress",))
            return r.NetworkPolicy(meta, labels, types, not labels and not sel.get("matchExpressions"))
        if kind == "ConfigMap":
            return r.ConfigMap(meta, tuple(self.entries(d, "data", False) + self.entries(d, "binaryData", True)))
        if kind == "Secret":
            return r.Secret(meta, str(d.get("type") or "Opaque"),
                            tuple(self.entries(d, "data", True) + self.entries(d, "stringData", False)))
        if kind == "ServiceAccount":
            return r.ServiceAccount(meta, self.val(d, "", "automountServiceAccountToken", None, "", _bool))
        if kind in ("Role", "ClusterRole"):
            rules = tuple(
                r.PolicyRule(tuple(map(str, _list(x.get("apiGroups")))), tuple(map(str, _list(x.get("resources")))),
                             tuple(map(str, _list(x.get("verbs")))), self.loc(f"/rules/{i}"),
                             tuple(map(str, _list(x.get("resourceNames")))),
                             tuple(map(str, _list(x.get("nonResourceURLs")))))
                for i, x in enumerate(_list(d.get("rules"))) if isinstance(x, dict))
            return r.Role(meta, kind == "ClusterRole", rules)
        if kind in ("RoleBinding", "ClusterRoleBinding"):
            ref = _dict(d.get("roleRef"))
            subjects = tuple(r.Subject(str(s.get("kind")), str(s.get("name")),
                                       str(s["namespace"]) if s.get("namespace") else None)
                             for s in _list(d.get("subjects")) if isinstance(s, dict))
            return r.RoleBinding(meta, kind == "ClusterRoleBinding", str(ref.get("kind") or ""),
                                 self.val(ref, "/roleRef", "name", "", "/roleRef", str), subjects)
        if kind == "PersistentVolume":
            hp = _dict(spec.get("hostPath"))
            reclaim = self.val(spec, "/spec", "persistentVolumeReclaimPolicy", None, "/spec", str)
            return r.PersistentVolume(meta, reclaim,
                                      Val(hp.get("path"), self.loc("/spec/hostPath")) if hp else None,
                                      spec.get("storageClassName"))
        if kind == "PersistentVolumeClaim":
            return r.PersistentVolumeClaim(meta, spec.get("storageClassName"))
        if kind == "StorageClass":
            return r.StorageClass(meta, self.val(d, "", "reclaimPolicy", None, "", str),
                                  str(d.get("provisioner") or ""), _strmap(d.get("parameters")))
        if kind == "HorizontalPodAutoscaler":
            target = _dict(spec.get("scaleTargetRef"))
            return r.HorizontalPodAutoscaler(meta, self.val(spec, "/spec", "minReplicas", None, "/spec", _int),
                                             self.val(spec, "/spec", "maxReplicas", None, "/spec", _int),
                                             target.get("kind"), target.get("name"))
        if kind == "PodDisruptionBudget":
            return r.PodDisruptionBudget(meta, self.val(spec, "/spec", "minAvailable", None, "/spec", str),
                                         self.val(spec, "/spec", "maxUnavailable", None, "/spec", str),
                                         _strmap(_dict(spec.get("selector")).get("matchLabels")))
        if kind == "LimitRange":
            return r.LimitRange(meta)
        if kind == "ResourceQuota":
            return r.ResourceQuota(meta)
        return None

    def entries(self, d: dict[str, Any], key: str, b64: bool) -> list[r.DataEntry]:
        out = []
        for k, v in _dict(d.get(key)).items():
            text = "" if v is None else str(v)
            if b64:
                with contextlib.suppress(binascii.Error, ValueError):
                    text = base64.b64decode(text, validate=False).decode("utf-8", "replace")
            out.append(r.DataEntry(str(k), text, self.loc(f"/{key}/{escape(str(k))}")))
        return out


def load(doc: Doc, out: ScanSet, base: str = "", depth: int = 0) -> None:
    """Add the object at ``base`` of ``doc`` (recursing into ``kind: List``) to ``out``."""
    data = _get(doc.data, base) if base else doc.data
    if not isinstance(data, dict):
        return
    kind = data.get("kind")
    line = doc.line_of(base)
    if not isinstance(kind, str):
        out.errors.append(InputError(doc.file, line, "Kubernetes object without a `kind`"))
        return
    if kind == "List" or (kind.endswith("List") and isinstance(data.get("items"), list)):
        if depth > 4:
            out.errors.append(InputError(doc.file, line, "List nested too deeply"))
            return
        for i, _ in enumerate(_list(data.get("items"))):
            load(doc, out, f"{base}/items/{i}", depth + 1)
        return
    reader = _Reader(doc, base, out)
    if not isinstance(data.get("metadata", {}), dict):
        out.errors.append(InputError(doc.file, doc.line_of(base + "/metadata"), "`metadata` is not a mapping"))
        return
    meta = reader.meta()
    spec_ptr = POD_SPEC.get(kind)
    if spec_ptr is not None:
        spec = _get(data, spec_ptr)
        if not isinstance(spec, dict):
            out.errors.append(InputError(doc.file, line, f"{kind} {meta.ident.name}: no pod spec at {spec_ptr}"))
            return
        if not isinstance(spec.get("containers"), list):
            out.errors.append(InputError(doc.file, doc.line_of(base + spec_ptr),
                                         f"{kind} {meta.ident.name}: `containers` is missing or not a list"))
            return
        out.workloads.append(reader.workload(meta, spec_ptr))
        return
    res = reader.resource(meta)
    if res is None:
        why = "no rules for this kind" if kind in KNOWN_IGNORED else "unknown kind"
        out.skipped.append(Skipped(doc.file, line, f"{kind}/{meta.ident.name}", why))
        return
    reader.annotation_suppressions(meta, meta.annotations, "/metadata/annotations")
    out.resources.append(res)
