"""The admission webhook over HTTPS against a running `mamori serve`."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable

import pytest

from tests.server.conftest import Served
from tests.server.reviews import GVR, HARDENED_POD, insecure_pod, review, workload

KINDS = ["Pod", "Deployment", "CronJob", "DaemonSet", "StatefulSet", "Job", "ReplicaSet"]


@pytest.fixture
def server(serve: Callable[..., Served]) -> Served:
    return serve()


@pytest.mark.parametrize("kind", KINDS)
def test_insecure_workloads_are_denied_with_rule_ids_and_fields(server: Served, kind: str) -> None:
    rv = review(workload(kind, insecure_pod()))
    r = server.review("/validate", rv)
    assert r.status_code == 200
    body = r.json()
    assert body["apiVersion"] == "admission.k8s.io/v1" and body["kind"] == "AdmissionReview"
    resp = body["response"]
    assert resp["uid"] == rv["request"]["uid"]
    assert resp["allowed"] is False
    assert resp["status"]["code"] == 403
    msg = resp["status"]["message"]
    for rule in ("MAM-PRIV-001", "MAM-PRIV-003", "MAM-HOST-003"):
        assert f"[{rule}]" in msg
    assert "securityContext/privileged" in msg  # the field to change
    assert resp["auditAnnotations"]["mamori.io/rules"].startswith("MAM-")


@pytest.mark.parametrize("kind", KINDS)
def test_hardened_workloads_are_allowed(server: Served, kind: str) -> None:
    rv = review(workload(kind, HARDENED_POD))
    resp = server.review("/validate", rv).json()["response"]
    assert resp == {"uid": rv["request"]["uid"], "allowed": True}


def test_every_decision_is_recorded_with_who_what_and_rules(server: Served) -> None:
    server.review("/validate", review(workload("Deployment", insecure_pod(), name="bad"), user="mallory"))
    server.review("/validate", review(workload("Deployment", HARDENED_POD, name="good"), user="alice"))
    rows = {r["subject"]: r for r in server.decisions()}
    bad, good = rows["Deployment/shop/bad"], rows["Deployment/shop/good"]
    assert (bad["allowed"], bad["result"], bad["user"], bad["operation"]) == (False, "denied", "mallory", "CREATE")
    assert "MAM-PRIV-001" in bad["rules"]
    assert any(f["rule"] == "MAM-PRIV-001" and f["mode"] == "enforce" and "privileged" in f["field"]
               for f in bad["detail"]["findings"])
    assert (good["allowed"], good["result"], good["user"]) == (True, "allowed", "alice")
    assert bad["time"].endswith("Z") and "T" in bad["time"]


def test_dry_run_is_answered_but_not_recorded(server: Served) -> None:
    rv = review(workload("Pod", insecure_pod(), name="dry"), dry_run=True)
    assert server.review("/validate", rv).json()["response"]["allowed"] is False
    assert not [r for r in server.decisions() if r["subject"] == "Pod/shop/dry"]
    metrics = server.client().get("/metrics").text
    assert 'mamori_decisions_total{adapter="admission-validate",result="denied"} 1.0' in metrics


def test_warn_mode_admits_with_warnings(serve: Callable[..., Served]) -> None:
    server = serve("enforcement:\n  rules:\n    MAM-PRIV-*: warn\n    MAM-HOST-*: warn\n")
    resp = server.review("/validate", review(workload("Pod", insecure_pod()))).json()["response"]
    assert resp["allowed"] is True
    assert any(w.startswith("[MAM-PRIV-001]") for w in resp["warnings"])
    assert all(len(w) <= 256 for w in resp["warnings"])
    assert server.decisions()[0]["result"] == "warned"


def test_audit_mode_only_records(serve: Callable[..., Served]) -> None:
    server = serve("enforcement:\n  mode: audit\n")
    resp = server.review("/validate", review(workload("Pod", insecure_pod()))).json()["response"]
    assert resp["allowed"] is True and "warnings" not in resp
    row = server.decisions()[0]
    assert row["allowed"] is True
    assert {f["mode"] for f in row["detail"]["findings"]} == {"audit"}
    assert any(f["rule"] == "MAM-PRIV-001" for f in row["detail"]["findings"])


def test_policy_fail_on_is_the_admission_threshold(serve: Callable[..., Served]) -> None:
    server = serve("fail-on: low\n")
    spec = copy.deepcopy(HARDENED_POD)
    del spec["containers"][0]["resources"]["limits"]  # a MEDIUM-or-lower finding only
    resp = server.review("/validate", review(workload("Deployment", spec))).json()["response"]
    assert resp["allowed"] is False
    assert "[MAM-RES-" in resp["status"]["message"]


def test_update_judges_what_the_update_introduces(server: Served) -> None:
    old = workload("Deployment", insecure_pod())
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    resp = server.review("/validate", review(scaled, "UPDATE", old=old)).json()["response"]
    assert resp["allowed"] is True  # violations that were already there do not block a scale
    assert any("MAM-PRIV-001" in w for w in resp["warnings"])
    hardened = workload("Deployment", HARDENED_POD)
    worse = copy.deepcopy(hardened)
    worse["spec"]["template"]["spec"]["hostPID"] = True
    resp = server.review("/validate", review(worse, "UPDATE", old=hardened)).json()["response"]
    assert resp["allowed"] is False and "[MAM-PRIV-003]" in resp["status"]["message"]


def test_update_of_existing_violations_can_be_enforced(serve: Callable[..., Served]) -> None:
    server = serve("enforcement:\n  existing-on-update: enforce\n")
    old = workload("Deployment", insecure_pod())
    resp = server.review("/validate", review(old, "UPDATE", old=old)).json()["response"]
    assert resp["allowed"] is False


def test_exempt_namespace_delete_and_status_are_allowed(server: Served) -> None:
    sys_pod = workload("Pod", insecure_pod(), namespace="kube-system")
    assert server.review("/validate", review(sys_pod)).json()["response"]["allowed"] is True
    bad = workload("Pod", insecure_pod())
    assert server.review("/validate", review(None, "DELETE", old=bad)).json()["response"]["allowed"] is True
    rv = review(bad, "UPDATE", old=bad, sub_resource="status")
    assert server.review("/validate", rv).json()["response"]["allowed"] is True
    rows = {r["result"] for r in server.decisions()}
    assert {"exempt", "skipped"} <= rows


def test_ephemeral_container_subresource_is_judged(server: Served) -> None:
    pod = workload("Pod", HARDENED_POD)
    debug = copy.deepcopy(pod)
    debug["spec"]["ephemeralContainers"] = [{"name": "debug", "image": "registry.example.com/busybox:1.36",
                                             "securityContext": {"privileged": True}}]
    rv = review(debug, "UPDATE", old=pod, sub_resource="ephemeralcontainers")
    resp = server.review("/validate", rv).json()["response"]
    assert resp["allowed"] is False and "container debug" in resp["status"]["message"]


def test_create_without_object_fails_closed(server: Served) -> None:
    rv = review(None, kind="Pod")
    rv["request"]["name"] = "ghost"
    resp = server.review("/validate", rv).json()["response"]
    assert resp["allowed"] is False and resp["status"]["code"] == 403


def test_v1beta1_review_is_answered_in_its_own_version(server: Served) -> None:
    rv = review(workload("Pod", insecure_pod()))
    rv["apiVersion"] = "admission.k8s.io/v1beta1"
    body = server.review("/validate", rv).json()
    assert body["apiVersion"] == "admission.k8s.io/v1beta1" and body["response"]["allowed"] is False


@pytest.mark.parametrize(("content", "ctype", "status"), [
    (b"{not json", "application/json", 400),
    (b"[]", "application/json", 400),
    (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(), "application/json", 400),
    (json.dumps({"apiVersion": "v9", "kind": "AdmissionReview", "request": {"uid": "x"}}).encode(),
     "application/json", 400),
    (b"{}", "text/plain", 415),
    (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
])
def test_malformed_requests_are_refused(server: Served, content: bytes, ctype: str, status: int) -> None:
    with server.client() as c:
        r = c.post("/validate", content=content, headers={"content-type": ctype})
    assert r.status_code == status
    assert "error" in r.json()


def test_oversized_body_is_refused(server: Served) -> None:
    rv = review(workload("Pod", HARDENED_POD))
    rv["request"]["object"]["metadata"]["annotations"] = {"big": "x" * (9 * 1024 * 1024)}
    with server.client() as c:
        r = c.post("/validate", content=json.dumps(rv).encode(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_health_readiness_and_metrics(server: Served) -> None:
    server.review("/validate", review(workload("Pod", insecure_pod())))
    with server.client() as c:
        assert c.get("/healthz").text == "ok"
        assert c.get("/readyz").status_code == 200
        m = c.get("/metrics").text
    assert 'mamori_decisions_total{adapter="admission-validate",result="denied"} 1.0' in m
    assert 'mamori_decision_findings_total{adapter="admission-validate",mode="enforce",rule="MAM-PRIV-001"}' in m
    assert 'mamori_decision_duration_seconds_bucket{adapter="admission-validate",le="0.01"}' in m


def test_access_log_is_json_lines(server: Served) -> None:
    server.review("/validate", review(workload("Pod", HARDENED_POD)))
    server.proc.terminate()
    server.proc.wait(10)
    lines = [json.loads(x) for x in server.log.read_text().splitlines() if x.startswith("{")]
    access = [x for x in lines if x.get("path") == "/validate"]
    assert access and access[0]["status"] == 200 and access[0]["method"] == "POST"
    assert isinstance(access[0]["duration_ms"], float)


def test_approved_images_hook(serve: Callable[..., Served]) -> None:
    from tests.server.reviews import DIGEST

    server = serve(f"trust:\n  approved-images: ['registry.example.com/shop/web@{DIGEST}']\n")
    ok = workload("Pod", HARDENED_POD)
    assert server.review("/validate", review(ok)).json()["response"]["allowed"] is True
    other = copy.deepcopy(ok)
    other["spec"]["containers"][0]["image"] = "registry.example.com/shop/web:1.4.2@sha256:" + "cd" * 32
    resp = server.review("/validate", review(other)).json()["response"]
    assert resp["allowed"] is False and "[MAM-IMG-005]" in resp["status"]["message"]


def test_registry_allowlist_is_enforced(serve: Callable[..., Served]) -> None:
    server = serve("allow:\n  registries: [registry.example.com]\n")
    spec = copy.deepcopy(HARDENED_POD)
    spec["containers"][0]["image"] = "docker.io/library/nginx:1.27@sha256:" + "ef" * 32
    resp = server.review("/validate", review(workload("Pod", spec))).json()["response"]
    assert resp["allowed"] is False and "[MAM-IMG-003]" in resp["status"]["message"]


def test_mutate_returns_a_base64_json_patch(server: Served) -> None:
    spec = copy.deepcopy(HARDENED_POD)
    del spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    rv = review(workload("Deployment", spec))
    resp = server.review("/mutate", rv).json()["response"]
    assert resp["allowed"] is True and resp["uid"] == rv["request"]["uid"]
    assert resp["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(resp["patch"]))
    assert any(op["path"].endswith("allowPrivilegeEscalation") and op["value"] is False for op in patch)
    assert resp["warnings"]


def test_kinds_cover_every_workload_of_the_issue() -> None:
    assert {"Pod", "Deployment", "CronJob", "DaemonSet", "StatefulSet"} <= set(GVR)


def test_mutate_reports_skipped_defaults_and_leaves_pod_updates_alone(server: Served) -> None:
    spec = copy.deepcopy(HARDENED_POD)
    spec["containers"][0]["securityContext"] = {"privileged": True}
    pod = workload("Pod", spec)
    resp = server.review("/mutate", review(pod)).json()["response"]
    assert any("allowPrivilegeEscalation" in w and "privileged" in w for w in resp["warnings"])
    upd = server.review("/mutate", review(pod, "UPDATE", old=pod)).json()["response"]
    assert "patch" not in upd and upd["allowed"] is True


def test_decisions_are_appended_to_the_audit_log(serve: Callable[..., Served]) -> None:
    import subprocess
    import sys
    import time

    server = serve(None, "--audit-db", "default")
    rv = review(workload("Pod", insecure_pod(), name="audited"))
    assert server.review("/validate", rv).json()["response"]["allowed"] is False
    time.sleep(0.5)
    out = subprocess.run([sys.executable, "-m", "mamori.cli.main", "log", "query", "--type",
                          "mamori.decision.admission-validate", "--format", "json"], env=server.env,
                         capture_output=True, text=True, check=True)
    entries = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(entries) == 1
    e = entries[0]
    assert e["source"] == "mamori:admission-validate"
    assert e["payload"]["request_id"] == rv["request"]["uid"] and e["payload"]["result"] == "denied"
    assert "MAM-PRIV-001" in e["payload"]["rules"]
    verify = subprocess.run([sys.executable, "-m", "mamori.cli.main", "log", "verify"], env=server.env,
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
