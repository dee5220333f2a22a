"""The mutating defaults: a real RFC 6902 implementation applies the patch, mamori re-scans the result."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import date
from typing import Any

import jsonpatch
import pytest

from mamori.enforce.mutate import Mutation, escape, mutate, valid_label
from mamori.model import ScanSet
from mamori.policy.config import Policy
from mamori.policy.enforcement import Enforcement, Mutations
from mamori.policy.engine import decide
from mamori.policy.settings import Settings
from mamori.sources import kubernetes
from mamori.sources.yamldoc import Doc

APE, CAPS, NET_RAW, SECCOMP = "MAM-PRIV-002", "MAM-CAP-001", "MAM-CAP-005", "MAM-HARD-003"
DEFAULT_ON = {APE, CAPS, NET_RAW, SECCOMP}


def policy(settings: Settings | None = None, exempt: tuple[str, ...] = ("kube-system", "mamori"),
           **switches: Any) -> Policy:
    return Policy(settings=settings or Settings(),
                  enforcement=Enforcement(exempt_namespaces=exempt, mutate=Mutations(**switches)))


def container(name: str = "app", **sc: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": "registry.example/shop/app:1.2"}
    if sc:
        c["securityContext"] = sc
    return c


def pod_spec(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = (), **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers) or [container()], **extra}
    if init:
        spec["initContainers"] = list(init)
    return spec


def workload(kind: str, spec: dict[str, Any], namespace: str = "shop", **meta: Any) -> dict[str, Any]:
    """``spec`` placed where ``kind`` keeps its pod spec, the way the API server sends the object."""
    template = {"metadata": {"labels": {"app": "web"}}, "spec": spec}
    api = {"Pod": "v1", "ReplicationController": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
    obj: dict[str, Any] = {"apiVersion": api, "kind": kind,
                           "metadata": {"name": "web", "namespace": namespace, **meta}}
    if kind == "Pod":
        obj["spec"] = spec
    elif kind == "CronJob":
        obj["spec"] = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        obj["spec"] = {"selector": {"matchLabels": {"app": "web"}}, "template": template}
    return obj


def apply(obj: dict[str, Any], m: Mutation) -> dict[str, Any]:
    """Apply the patch as the API server would receive it: JSON text, then RFC 6902, without touching ``obj``."""
    before = copy.deepcopy(obj)
    ops = json.loads(json.dumps(m.patch))
    out: dict[str, Any] = jsonpatch.apply_patch(obj, ops, in_place=False)
    assert obj == before, "mutate() or the patch changed the input object"
    return out


def findings(obj: dict[str, Any], p: Policy | None = None) -> set[tuple[str, str]]:
    """(rule id, message) of every finding mamori reports on ``obj``."""
    out = ScanSet(files=["admission"], complete=False)
    kubernetes.load(Doc("admission", 0, obj, {}), out)
    assert not out.errors, out.errors
    return {(f.rule_id, f.message) for f in decide(out, p or Policy(), today=date(2026, 11, 26)).findings}


def ids(obj: dict[str, Any], p: Policy | None = None) -> set[str]:
    return {rule for rule, _ in findings(obj, p)}


def api_server_rejects(obj: dict[str, Any]) -> list[str]:
    """The API server's container securityContext checks that a default could trip (validation.go)."""
    errors = []
    for ptr in kubernetes.POD_SPEC.values():
        cur: Any = obj
        for part in ptr.strip("/").split("/"):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if not isinstance(cur, dict) or obj.get("kind") not in kubernetes.POD_SPEC:
            continue
        if kubernetes.POD_SPEC[obj["kind"]] != ptr:
            continue
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for c in cur.get(key) or []:
                sc = c.get("securityContext") or {}
                if sc.get("allowPrivilegeEscalation") is False:
                    if sc.get("privileged") is True:
                        errors.append(f"{c['name']}: cannot set allowPrivilegeEscalation to false and privileged")
                    if "CAP_SYS_ADMIN" in (sc.get("capabilities") or {}).get("add", []):
                        errors.append(f"{c['name']}: cannot set allowPrivilegeEscalation to false and CAP_SYS_ADMIN")
    return errors


KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController")


@pytest.mark.parametrize("kind", KINDS)
def test_defaults_remove_the_findings_for_every_workload_kind(kind: str) -> None:
    obj = workload(kind, pod_spec(container("app"), container("sidecar"), init=(container("migrate"),)))
    before = ids(obj)
    assert before >= DEFAULT_ON, f"fixture should start with the findings the defaults fix: {before}"
    m = mutate(obj, policy())
    after = apply(obj, m)
    assert not ids(after) & DEFAULT_ON
    assert ids(after) <= before, "a default introduced a new finding"
    assert api_server_rejects(after) == []
    spec = after
    for part in kubernetes.POD_SPEC[kind].strip("/").split("/"):
        spec = spec[part]
    for c in spec["initContainers"] + spec["containers"]:
        assert c["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    # one line per default: 3 containers x 2 defaults + the pod's seccomp, each naming object and container
    assert len(m.applied) == 7 and m.skipped == ()
    assert f"{kind}/shop/web init container migrate: set securityContext.allowPrivilegeEscalation=false" in m.applied
    assert f"{kind}/shop/web container sidecar: set securityContext.capabilities.drop=[ALL]" in m.applied
    assert f"{kind}/shop/web: set pod securityContext.seccompProfile.type=RuntimeDefault" in m.applied


@pytest.mark.parametrize("kind", KINDS)
def test_mutating_a_mutated_object_changes_nothing(kind: str) -> None:
    p = policy(run_as_non_root=True, read_only_root=True, default_labels={"tenant": "shop", "a.io/b": "c"})
    obj = workload(kind, pod_spec(container("app", capabilities={"add": ["NET_BIND_SERVICE"]}),
                                  init=(container("i", runAsUser=1000),)))
    once = apply(obj, mutate(obj, p))
    assert once != obj
    again = mutate(once, p)
    assert again.patch == [] and again.applied == ()


def test_patch_paths_use_indexes_of_the_existing_containers() -> None:
    obj = workload("Deployment", pod_spec(container("a", allowPrivilegeEscalation=False,
                                                    capabilities={"drop": ["ALL"]}), container("b")))
    m = mutate(obj, policy(seccomp_runtime_default=False))
    assert m.patch == [{"op": "add", "path": "/spec/template/spec/containers/1/securityContext",
                        "value": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]


def test_privileged_container_keeps_escalation_unset_and_says_why() -> None:
    obj = workload("DaemonSet", pod_spec(container("agent", privileged=True), container("app")))
    m = mutate(obj, policy())
    after = apply(obj, m)
    assert api_server_rejects(after) == []
    agent, app = after["spec"]["template"]["spec"]["containers"]
    assert agent["securityContext"] == {"privileged": True}, "nothing is written on a privileged container"
    assert app["securityContext"]["allowPrivilegeEscalation"] is False
    assert any("agent: allowPrivilegeEscalation left unset: the container is privileged" in s for s in m.skipped)
    assert any("agent: capabilities left as they are" in s for s in m.skipped)
    assert set(m.warnings) == set(m.applied) | set(m.skipped)
    # honest: the privileged container's findings remain, the other container's are gone
    remaining = {msg for rule, msg in findings(after) if rule == APE}
    assert remaining == {"container 'agent' does not disable privilege escalation"}


@pytest.mark.parametrize("cap", ["CAP_SYS_ADMIN", "SYS_ADMIN"])
def test_container_adding_sys_admin_keeps_escalation_unset(cap: str) -> None:
    obj = workload("Pod", pod_spec(container("fuse", capabilities={"add": [cap]})))
    m = mutate(obj, policy())
    after = apply(obj, m)
    assert api_server_rejects(after) == []
    sc = after["spec"]["containers"][0]["securityContext"]
    assert "allowPrivilegeEscalation" not in sc
    assert sc["capabilities"] == {"add": [cap], "drop": ["ALL"]}, "drop ALL is added, the add list is kept"
    assert any("adds CAP_SYS_ADMIN" in s for s in m.skipped)


def test_partial_security_contexts_are_completed_not_replaced() -> None:
    obj = workload("StatefulSet", pod_spec(
        container("a", runAsUser=1000, capabilities={"drop": ["NET_RAW"], "add": ["CHOWN"]}),
        container("b", allowPrivilegeEscalation=True, readOnlyRootFilesystem=False, capabilities={"add": ["KILL"]}),
        container("c", capabilities=None),
        securityContext={"runAsUser": 1000, "fsGroup": 2000}))
    m = mutate(obj, policy(read_only_root=True))
    after = apply(obj, m)
    a, b, c = after["spec"]["template"]["spec"]["containers"]
    assert a["securityContext"] == {"runAsUser": 1000, "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["NET_RAW", "ALL"], "add": ["CHOWN"]}}
    assert b["securityContext"] == {"allowPrivilegeEscalation": True, "readOnlyRootFilesystem": False,
                                    "capabilities": {"add": ["KILL"], "drop": ["ALL"]}}, "explicit values stay"
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert after["spec"]["template"]["spec"]["securityContext"] == {
        "runAsUser": 1000, "fsGroup": 2000, "seccompProfile": {"type": "RuntimeDefault"}}
    assert "/spec/template/spec/containers/0/securityContext/capabilities/drop/1" in {op["path"] for op in m.patch}
    # the explicit opt-out is still reported: mutation fills gaps, validation judges choices
    assert "MAM-PRIV-016" in ids(after) and "MAM-HARD-001" in ids(after)


def test_already_dropped_all_in_any_spelling_is_left_alone() -> None:
    obj = workload("Pod", pod_spec(container("a", capabilities={"drop": ["all"]})))
    assert not any(op["path"].endswith("/drop") or "/drop/" in op["path"] for op in mutate(obj, policy()).patch)


def test_allowed_runtime_default_capabilities_are_added_back() -> None:
    allowed = Settings(allowed_capabilities=("NET_BIND_SERVICE", "SETUID", "SYS_TIME", "NET_RAW", "CHOWN"))
    p = replace(policy(), settings=allowed)
    obj = workload("Deployment", pod_spec(container("web"), container("own", capabilities={"add": ["SETUID"]}),
                                          container("drops", capabilities={"drop": ["CHOWN"]})))
    before = ids(obj, p)
    m = mutate(obj, p)
    after = apply(obj, m)
    web, own, drops = after["spec"]["template"]["spec"]["containers"]
    # the runtime's default set intersected with the allowlist: not SYS_TIME (never had it), not NET_RAW
    assert web["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "NET_BIND_SERVICE", "SETUID"]}
    assert own["securityContext"]["capabilities"] == {"add": ["SETUID", "CHOWN", "NET_BIND_SERVICE"],
                                                      "drop": ["ALL"]}
    assert drops["securityContext"]["capabilities"] == {"drop": ["CHOWN", "ALL"], "add": ["NET_BIND_SERVICE", "SETUID"]}
    new = ids(after, p) - before
    assert not new, f"adding back allowed capabilities produced findings {new}"
    assert not ids(after, p) & {CAPS, NET_RAW, "MAM-CAP-002", "MAM-CAP-006", "MAM-CAP-007"}
    assert any("adding back CHOWN, NET_BIND_SERVICE, SETUID" in a for a in m.applied)


def test_seccomp_default_respects_the_pod_the_containers_and_legacy_annotations() -> None:
    set_pod = workload("Pod", pod_spec(securityContext={"seccompProfile": {"type": "Localhost",
                                                                           "localhostProfile": "p.json"}}))
    assert not [op for op in mutate(set_pod, policy()).patch if "seccomp" in json.dumps(op)]
    all_own = workload("Pod", pod_spec(container("a", seccompProfile={"type": "Unconfined"})))
    assert not [op for op in mutate(all_own, policy()).patch if "seccomp" in json.dumps(op)]
    for key in ("seccomp.security.alpha.kubernetes.io/pod", "container.seccomp.security.alpha.kubernetes.io/app"):
        legacy = workload("Pod", pod_spec(), annotations={key: "runtime/default"})
        m = mutate(legacy, policy())
        assert not [op for op in m.patch if "seccomp" in json.dumps(op)]
        assert any(key in s for s in m.skipped)
    # one container chose a profile, the other did not: the pod default covers only the second
    mixed = workload("Deployment", pod_spec(container("a", seccompProfile={"type": "Unconfined"}), container("b")))
    after = apply(mixed, mutate(mixed, policy()))
    assert after["spec"]["template"]["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert after["spec"]["template"]["spec"]["containers"][0]["securityContext"]["seccompProfile"] == {
        "type": "Unconfined"}
    assert {msg for rule, msg in findings(after) if rule in ("MAM-HARD-002", SECCOMP)} == {
        "container 'a' runs without seccomp (Unconfined)"}


def test_template_legacy_annotation_counts_for_workloads() -> None:
    obj = workload("Deployment", pod_spec())
    obj["spec"]["template"]["metadata"]["annotations"] = {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}
    assert not [op for op in mutate(obj, policy()).patch if "seccomp" in json.dumps(op)]


SWITCHES = {
    "no_privilege_escalation": "allowPrivilegeEscalation",
    "drop_capabilities": "capabilities",
    "seccomp_runtime_default": "seccompProfile",
}


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_each_default_can_be_switched_off(switch: str) -> None:
    obj = workload("Deployment", pod_spec())
    on = json.dumps(apply(obj, mutate(obj, policy())))
    off = json.dumps(apply(obj, mutate(obj, policy(**{switch: False}))))
    assert SWITCHES[switch] in on and SWITCHES[switch] not in off
    for other, field_name in SWITCHES.items():
        if other != switch:
            assert field_name in off


def test_everything_off_is_an_empty_patch() -> None:
    obj = workload("Pod", pod_spec())
    m = mutate(obj, policy(no_privilege_escalation=False, drop_capabilities=False, seccomp_runtime_default=False))
    assert m == Mutation()


def test_opt_in_defaults_run_as_non_root_and_read_only_root() -> None:
    obj = workload("Job", pod_spec(container("a"), init=(container("i"),)))
    assert "runAsNonRoot" not in json.dumps(mutate(obj, policy()).patch), "off by default"
    p = policy(run_as_non_root=True, read_only_root=True)
    before = ids(obj, p)
    assert {"MAM-HARD-001", "MAM-PRIV-017"} <= before
    after = apply(obj, mutate(obj, p))
    spec = after["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    every = spec["containers"] + spec["initContainers"]
    assert all(c["securityContext"]["readOnlyRootFilesystem"] is True for c in every)
    assert not ids(after, p) & {"MAM-HARD-001", "MAM-PRIV-017", "MAM-PRIV-008"}


def test_run_as_non_root_is_not_forced_on_an_explicit_root_pod() -> None:
    obj = workload("Pod", pod_spec(container("a", runAsUser=0)))
    m = mutate(obj, policy(run_as_non_root=True))
    assert "runAsNonRoot" not in json.dumps(m.patch)
    assert any("explicitly runs as UID 0" in s for s in m.skipped)


def test_default_labels_on_object_and_pod_template_with_escaped_keys() -> None:
    labels = {"tenant": "shop", "example.com/data-classification": "internal"}
    obj = workload("Deployment", pod_spec(), labels={"tenant": "payments"})
    m = mutate(obj, policy(default_labels=labels, no_privilege_escalation=False, drop_capabilities=False,
                           seccomp_runtime_default=False))
    assert {op["path"] for op in m.patch} == {
        "/metadata/labels/example.com~1data-classification", "/spec/template/metadata/labels/tenant",
        "/spec/template/metadata/labels/example.com~1data-classification"}
    after = apply(obj, m)
    assert after["metadata"]["labels"] == {"tenant": "payments", "example.com/data-classification": "internal"}, (
        "an existing label keeps its value")
    assert after["spec"]["template"]["metadata"]["labels"] == {"app": "web", **labels}
    assert after["spec"]["selector"] == {"matchLabels": {"app": "web"}}


def test_default_labels_fill_the_missing_required_labels() -> None:
    p = policy(default_labels={"tenant": "unassigned", "data-classification": "internal"})
    for kind in ("Pod", "CronJob"):
        obj = workload(kind, pod_spec())
        assert "MAM-TEN-001" in ids(obj, p)
        assert "MAM-TEN-001" not in ids(apply(obj, mutate(obj, p)), p)


def test_missing_metadata_and_labels_are_created_whole() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment",
           "spec": {"template": {"spec": {"containers": [container()]}}}}
    m = mutate(obj, policy(default_labels={"tenant": "t"}))
    after = apply(obj, m)
    assert after["metadata"] == {"labels": {"tenant": "t"}}
    assert after["spec"]["template"]["metadata"] == {"labels": {"tenant": "t"}}
    assert {"op": "add", "path": "/metadata", "value": {"labels": {"tenant": "t"}}} in m.patch


def test_invalid_default_label_is_skipped_not_sent() -> None:
    m = mutate(workload("Pod", pod_spec()), policy(default_labels={"bad key": "x", "ok": "not ok!", "fine": ""}))
    assert [op for op in m.patch if "labels" in op["path"]] == [
        {"op": "add", "path": "/metadata/labels", "value": {"fine": ""}}]
    assert sum("not a valid Kubernetes label" in s for s in m.skipped) == 2


@pytest.mark.parametrize(("key", "value", "ok"), [
    ("app", "web", True), ("app.kubernetes.io/name", "web-1_a.b", True), ("x" * 63, "", True),
    ("x" * 64, "v", False), ("-a", "v", False), ("UPPER.io/a", "v", False), ("a/b/c", "v", False),
    ("a", "v" * 64, False), ("", "v", False),
])
def test_label_syntax(key: str, value: str, ok: bool) -> None:
    assert valid_label(key, value) is ok


def test_exempt_namespaces_are_never_touched() -> None:
    obj = workload("Pod", pod_spec(), namespace="kube-system")
    assert mutate(obj, policy()) == Mutation()
    assert mutate(workload("Pod", pod_spec(), namespace="shop"), policy(), namespace="mamori") == Mutation()
    custom = policy(exempt=("ops",))
    assert mutate(workload("Pod", pod_spec(), namespace="ops"), custom) == Mutation()
    assert mutate(workload("Pod", pod_spec(), namespace="kube-system"), custom).patch


def test_ephemeral_containers_get_the_defaults() -> None:
    obj = workload("Pod", pod_spec(ephemeralContainers=[{"name": "debug", "image": "busybox:1.36"}]))
    after = apply(obj, mutate(obj, policy()))
    assert after["spec"]["ephemeralContainers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_windows_pods_get_no_linux_only_fields() -> None:
    obj = workload("Pod", pod_spec(os={"name": "windows"}))
    m = mutate(obj, policy(run_as_non_root=True))
    assert m.patch == [{"op": "add", "path": "/spec/securityContext", "value": {"runAsNonRoot": True}}]
    assert any("windows" in s for s in m.skipped)


@pytest.mark.parametrize("obj", [
    {}, {"kind": "Service", "spec": {}}, {"kind": "Pod"}, {"kind": "Pod", "spec": "x"},
    {"kind": "Pod", "metadata": "x", "spec": {"containers": "x"}},
    {"kind": "Pod", "spec": {"containers": [1, None, "x"], "initContainers": {"a": 1}}},
    {"kind": 7, "spec": {"containers": []}},
])
def test_malformed_objects_get_no_container_or_pod_default(obj: dict[str, Any]) -> None:
    m = mutate(obj, policy(default_labels={"t": "v"}))
    assert m.patch in ([], [{"op": "add", "path": "/metadata", "value": {"labels": {"t": "v"}}}])
    if m.patch:
        jsonpatch.apply_patch(obj, m.patch, in_place=False)


def test_malformed_fields_are_skipped_with_a_reason() -> None:
    obj = workload("Pod", pod_spec(container("a"), securityContext="x"))
    obj["spec"]["containers"] += [{"name": "b", "securityContext": "no"},
                                  {"name": "c", "securityContext": {"capabilities": ["ALL"]}},
                                  {"name": "d", "securityContext": {"capabilities": {"drop": "ALL"}}},
                                  {"name": "e", "securityContext": {"capabilities": {"add": "NET_ADMIN"}}}]
    obj["metadata"]["labels"] = "x"
    m = mutate(obj, policy(default_labels={"t": "v"}))
    jsonpatch.apply_patch(obj, m.patch, in_place=False)  # still applies cleanly
    text = "\n".join(m.skipped)
    for expected in ("container b: securityContext is not a mapping", "container c: capabilities is not a mapping",
                     "container d: capabilities.drop is not a list", "container e: capabilities.add is not a list",
                     "pod securityContext is not a mapping", "labels are not a mapping"):
        assert expected in text
    assert {op["path"] for op in m.patch} == {
        "/spec/containers/0/securityContext", "/spec/containers/2/securityContext/allowPrivilegeEscalation",
        "/spec/containers/3/securityContext/allowPrivilegeEscalation",
        "/spec/containers/4/securityContext/allowPrivilegeEscalation"}


def test_escape_follows_rfc_6901() -> None:
    assert escape("a/b~c") == "a~1b~0c"
    assert escape("~1") == "~01"
