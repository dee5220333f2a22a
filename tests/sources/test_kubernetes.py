"""Kubernetes manifests -> model: kinds, inheritance, lists, JSON, Helm output, errors."""

from __future__ import annotations

import json

from mamori.model import Role, ScanSet, SourceKind
from mamori.model import resources as r
from mamori.sources import load_text


def load(text: str, name: str = "m.yaml") -> ScanSet:
    return load_text(name, text)


POD_SPEC = """
      securityContext:
        runAsNonRoot: true
        runAsUser: 20000
        seccompProfile: {type: RuntimeDefault}
      initContainers:
        - name: init
          image: busybox:1.36
      containers:
        - name: app
          image: ghcr.io/acme/app:2.0@sha256:%s
          securityContext:
            runAsUser: 0
            privileged: true
            capabilities: {add: [net_admin], drop: [ALL]}
          volumeMounts:
            - {name: host, mountPath: /h, readOnly: true}
          resources:
            limits: {cpu: "1", memory: 1Gi}
          env:
            - {name: A, value: "1"}
            - name: B
              valueFrom: {secretKeyRef: {name: s, key: k}}
          ports:
            - {containerPort: 80, hostPort: 8080}
      volumes:
        - name: host
          hostPath: {path: /var/log}
""" % ("a" * 64)


def test_every_workload_kind_is_read() -> None:
    kinds = {
        "Pod": "spec:\n  containers: [{name: a, image: x:1}]\n",
        "Deployment": "spec:\n  template:\n    spec:\n      containers: [{name: a, image: x:1}]\n",
        "StatefulSet": "spec:\n  template:\n    spec:\n      containers: [{name: a, image: x:1}]\n",
        "DaemonSet": "spec:\n  template:\n    spec:\n      containers: [{name: a, image: x:1}]\n",
        "ReplicaSet": "spec:\n  template:\n    spec:\n      containers: [{name: a, image: x:1}]\n",
        "ReplicationController": "spec:\n  template:\n    spec:\n      containers: [{name: a, image: x:1}]\n",
        "Job": "spec:\n  template:\n    spec:\n      containers: [{name: a, image: x:1}]\n",
        "CronJob": "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n"
                   "          containers: [{name: a, image: x:1}]\n",
    }
    docs = "\n---\n".join(f"apiVersion: v1\nkind: {k}\nmetadata: {{name: {k.lower()}}}\n{body}"
                           for k, body in kinds.items())
    s = load(docs)
    assert not s.errors
    assert sorted(w.ident.kind for w in s.workloads) == sorted(kinds)
    assert all(w.containers[0].image.value is not None for w in s.workloads)


def test_pod_level_settings_are_inherited_and_overridden() -> None:
    s = load("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: ns}\nspec:\n  template:\n"
             "    spec:" + POD_SPEC)
    w = s.workloads[0]
    init, app = w.containers
    assert init.role is Role.INIT and app.role is Role.CONTAINER
    # inherited from the pod
    assert init.run_as_user is not None and init.run_as_user.value == 20000
    assert init.run_as_non_root is not None and init.run_as_non_root.value is True
    assert init.seccomp is not None and init.seccomp.value == "RuntimeDefault"
    assert init.seccomp.loc.line == 10  # points at the pod's seccompProfile.type
    # overridden by the container
    assert app.run_as_user is not None and app.run_as_user.value == 0
    assert app.run_as_user.loc.line == 18
    assert app.privileged is not None and app.privileged.value is True
    assert [c.value for c in app.cap_add] == ["net_admin"]
    assert app.mounts[0].kind == "host" and app.mounts[0].source == "/var/log" and app.mounts[0].read_only
    assert app.resources is not None and app.resources.cpu_limit.value == "1"
    assert app.resources.cpu_request.value is None and not app.resources.cpu_request.explicit
    assert [(e.name, e.value, e.from_secret) for e in app.env] == [("A", "1", False), ("B", None, True)]
    assert app.ports[0].host_port == 8080
    ref = app.image.value
    assert ref is not None and ref.registry == "ghcr.io" and ref.tag == "2.0" and ref.digest
    assert w.ident.namespace == "ns" and w.ident.display == "Deployment/ns/d"


def test_defaults_point_at_the_container() -> None:
    s = load("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: x:1\n")
    c = s.workloads[0].containers[0]
    assert c.privileged is not None and c.privileged.value is False and not c.privileged.explicit
    assert c.privileged.loc.line == 6
    assert c.read_only_root is not None and c.read_only_root.value is False


def test_legacy_seccomp_and_apparmor_annotations() -> None:
    s = load("""apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    seccomp.security.alpha.kubernetes.io/pod: runtime/default
    container.apparmor.security.beta.kubernetes.io/c: unconfined
spec:
  containers: [{name: c, image: x:1}]
""")
    c = s.workloads[0].containers[0]
    assert c.seccomp is not None and c.seccomp.value == "RuntimeDefault"
    assert c.apparmor is not None and c.apparmor.value == "unconfined"


def test_list_json_and_helm_output() -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "NodePort"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}},
    ]}
    s = load(json.dumps(doc, indent=2), "list.json")
    assert not s.errors
    assert [w.ident.name for w in s.workloads] == ["p"]
    assert isinstance(s.resources[0], r.Service) and s.resources[0].type.value == "NodePort"
    helm = ("---\n# Source: chart/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
            "---\n# Source: chart/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"
            "data: {k: v}\n")
    s2 = load(helm)
    assert [type(x).__name__ for x in s2.resources] == ["Service", "ConfigMap"]
    assert s2.resources[1].meta.loc.line == 8


def test_unknown_kinds_are_skipped_not_errors() -> None:
    s = load("apiVersion: x/v1\nkind: Widget\nmetadata: {name: w}\n---\nfoo: bar\n")
    assert not s.errors
    assert [k.what for k in s.skipped] == ["Widget/w", "document 2"]


def test_errors_name_file_and_line() -> None:
    s = load("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n"
             "      containers: oops\n")
    assert s.errors and s.errors[0].line == 6 and "containers" in s.errors[0].message
    s2 = load("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n   image: x\n")
    assert s2.errors and s2.errors[0].file == "m.yaml" and s2.errors[0].line >= 6


def test_alias_bomb_is_bounded() -> None:
    bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
    prev = "a"
    for i in range(9):
        bomb += f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join(f"*{prev}" for _ in range(10)) + "]\n"
        prev = chr(98 + i)
    s = load(bomb)
    assert s.errors and "too large" in s.errors[0].message


def test_rbac_and_other_resources() -> None:
    s = load("""apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: r}
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: n}
roleRef: {kind: ClusterRole, name: r}
subjects: [{kind: ServiceAccount, name: default, namespace: n}]
---
apiVersion: v1
kind: Secret
metadata: {name: s}
data: {password: aHVudGVyMg==}
""")
    role, binding, secret = s.resources
    assert isinstance(role, r.Role) and role.cluster and role.rules[0].resources == ("secrets",)
    assert role.rules[0].loc.line == 5
    assert isinstance(binding, r.RoleBinding) and binding.subjects[0].name == "default"
    assert isinstance(secret, r.Secret) and secret.data[0].value == "hunter2"
    assert all(x.meta.ident.source is SourceKind.KUBERNETES for x in s.resources)


def test_annotation_suppression_is_recorded() -> None:
    s = load("""apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    mamori.io/ignore: "MAM-PRIV-001=needs device access exp:2027-01-01; MAM-CAP-002,MAM-CAP-003=vpn"
spec:
  containers: [{name: c, image: x:1}]
""")
    ids = [sp.rule_ids for sp in s.suppressions]
    assert ("MAM-PRIV-001",) in ids and ("MAM-CAP-002", "MAM-CAP-003") in ids
    first = next(sp for sp in s.suppressions if sp.rule_ids == ("MAM-PRIV-001",))
    assert first.reason == "needs device access" and first.expires is not None and first.expires.year == 2027
    bad = load("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    mamori.io/ignore: no-reason\n"
               "spec:\n  containers: [{name: c, image: x:1}]\n")
    assert bad.errors and "=reason" in bad.errors[0].message


def test_list_without_api_version_and_compose_is_not_kubernetes() -> None:
    s = load("kind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: p}\n"
             "    spec: {containers: [{name: c, image: 'x:1'}]}\n")
    assert [w.ident.name for w in s.workloads] == ["p"]
    c = load("services:\n  web: {image: 'x:1'}\n", "docker-compose.yaml")
    assert [w.ident.kind for w in c.workloads] == ["ComposeService"]
