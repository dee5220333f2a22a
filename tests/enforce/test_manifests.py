"""The installation manifests: valid webhook configurations, a verifiable caBundle, and no findings of our own."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.verification import DNSName, PolicyBuilder, Store

from mamori.enforce.certs import service_names, serving_bundle
from mamori.enforce.manifests import ManifestError, Options, default_policy, objects, render
from mamori.enforce.mutate import mutate
from mamori.model import Severity
from mamori.policy.config import Policy, load_policy
from mamori.policy.engine import decide
from mamori.sources import load_text

IMAGE = "registry.example/platform/mamori@sha256:" + "0123456789abcdef" * 4
WORKLOAD_RESOURCES = {("", "pods"), ("", "replicationcontrollers"), ("apps", "deployments"),
                      ("apps", "statefulsets"), ("apps", "daemonsets"), ("apps", "replicasets"), ("batch", "jobs"),
                      ("batch", "cronjobs")}


@pytest.fixture(scope="module")
def bundle() -> Any:
    return serving_bundle(service_names("mamori", "sec"))


def options(bundle: Any, **kw: Any) -> Options:
    base = Options(image=IMAGE, certs=bundle, policy_text=default_policy("sec"), namespace="sec")
    return replace(base, **kw)


def docs(o: Options) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render(o)) if d is not None]


def by_kind(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in items}


def test_render_is_multi_document_yaml_with_every_object(bundle: Any) -> None:
    kinds = [d["kind"] for d in docs(options(bundle))]
    assert kinds == ["Namespace", "LimitRange", "ResourceQuota", "ServiceAccount", "ConfigMap", "Secret",
                     "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy",
                     "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]
    for d in docs(options(bundle)):
        if d["kind"] not in ("Namespace", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            assert d["metadata"]["namespace"] == "sec"
    assert "&id" not in render(options(bundle)), "no YAML anchors: some tools mishandle them"


def test_ca_bundle_verifies_the_served_certificate_for_the_service_name(bundle: Any) -> None:
    k = by_kind(docs(options(bundle)))
    secret = k["Secret"]
    assert secret["type"] == "kubernetes.io/tls"
    cert_pem = base64.b64decode(secret["data"]["tls.crt"])
    assert base64.b64decode(secret["data"]["tls.key"]).startswith(b"-----BEGIN PRIVATE KEY-----")
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        hook = k[kind]["webhooks"][0]
        ca_pem = base64.b64decode(hook["clientConfig"]["caBundle"])
        svc = hook["clientConfig"]["service"]
        # the API server connects to <service>.<namespace>.svc
        host = f"{svc['name']}.{svc['namespace']}.svc"
        verifier = PolicyBuilder().store(Store(x509.load_pem_x509_certificates(ca_pem))).build_server_verifier(
            DNSName(host))
        verifier.verify(x509.load_pem_x509_certificate(cert_pem), [])


def test_webhook_fields_are_present_and_valid(bundle: Any) -> None:
    k = by_kind(docs(options(bundle, exempt_namespaces=("kube-system", "monitoring"))))
    service = k["Service"]
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]
    for kind, path in (("ValidatingWebhookConfiguration", "/validate"), ("MutatingWebhookConfiguration", "/mutate")):
        obj = k[kind]
        assert obj["apiVersion"] == "admissionregistration.k8s.io/v1"
        (hook,) = obj["webhooks"]
        assert hook["name"].count(".") >= 2, "webhook names must be fully qualified"
        assert hook["admissionReviewVersions"] == ["v1"]
        assert hook["sideEffects"] == "None"
        assert hook["failurePolicy"] == "Fail"
        assert hook["timeoutSeconds"] == 5
        assert hook["clientConfig"]["service"] == {"namespace": "sec", "name": service["metadata"]["name"],
                                                   "path": path, "port": 443}
        assert "url" not in hook["clientConfig"]
        (expr,) = hook["namespaceSelector"]["matchExpressions"]
        assert expr == {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                        "values": ["kube-system", "sec", "monitoring"]}
        covered = {(g, r) for rule in hook["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
        assert covered >= WORKLOAD_RESOURCES
        for rule in hook["rules"]:
            assert set(rule["operations"]) <= {"CREATE", "UPDATE"} and rule["apiVersions"] == ["v1"]
            assert rule["scope"] == "Namespaced"
            assert "*" not in rule["resources"]
    validating = k["ValidatingWebhookConfiguration"]["webhooks"][0]
    mutating = k["MutatingWebhookConfiguration"]["webhooks"][0]
    assert any("pods/ephemeralcontainers" in r["resources"] for r in validating["rules"])
    pods = [r for r in mutating["rules"] if "pods" in r["resources"]]
    assert pods and all(r["operations"] == ["CREATE"] for r in pods), "a pod's spec cannot be patched on UPDATE"
    assert mutating["reinvocationPolicy"] == "IfNeeded"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("timeout", 31, "timeout 31s"), ("timeout", 0, "timeout 0s"), ("failure_policy", "fail", "failure policy"),
    ("namespace", "Bad_NS", "namespace name"), ("replicas", 1, "replicas 1"), ("image", "a b", "image reference"),
    ("exempt_namespaces", ("ok", "NOT OK"), "exempt namespace"),
])
def test_invalid_options_are_refused(bundle: Any, field: str, value: Any, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        objects(options(bundle, **{field: value}))


def test_failure_policy_and_timeout_reach_both_webhooks(bundle: Any) -> None:
    k = by_kind(docs(options(bundle, failure_policy="Ignore", timeout=30)))
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        assert k[kind]["webhooks"][0]["failurePolicy"] == "Ignore"
        assert k[kind]["webhooks"][0]["timeoutSeconds"] == 30


def test_deployment_runs_the_documented_server(bundle: Any) -> None:
    dep = by_kind(docs(options(bundle, replicas=3)))["Deployment"]
    assert dep["spec"]["replicas"] == 3
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == IMAGE
    assert c["imagePullPolicy"] == "IfNotPresent", "pinned by digest: no registry needed to restart"
    tagged = by_kind(docs(options(bundle, image="registry.example/mamori:0.1.0")))["Deployment"]
    assert tagged["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert c["command"] == ["mamori", "serve", "--tls-cert", "/tls/tls.crt", "--tls-key", "/tls/tls.key",
                            "--policy", "/policy/mamori.yaml", "--listen", "0.0.0.0:8443"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
    assert {"name": "https", "containerPort": 8443, "protocol": "TCP"} in c["ports"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/tls"]["readOnly"] is True and mounts["/policy"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/tls"]["name"]]["secret"]["secretName"] == by_kind(docs(options(bundle)))["Secret"][
        "metadata"]["name"]
    assert pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    selector = dep["spec"]["selector"]["matchLabels"]
    assert selector.items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    k = by_kind(docs(options(bundle)))
    assert k["Service"]["spec"]["selector"] == selector
    assert k["PodDisruptionBudget"]["spec"] == {"minAvailable": 1, "selector": {"matchLabels": selector}}
    netpol = k["NetworkPolicy"]["spec"]
    assert netpol["podSelector"]["matchLabels"] == selector
    assert netpol["ingress"] == [{"ports": [{"port": 8443, "protocol": "TCP"}]}]
    assert k["ServiceAccount"]["automountServiceAccountToken"] is False


def test_policy_config_map_holds_a_loadable_policy(bundle: Any, tmp_path: Any) -> None:
    cm = by_kind(docs(options(bundle)))["ConfigMap"]
    f = tmp_path / "mamori.yaml"
    f.write_text(cm["data"]["mamori.yaml"], encoding="utf-8")
    loaded = load_policy(str(f))
    assert loaded.enforcement.exempt_namespaces == ("kube-system", "sec")
    assert loaded.enforcement.mutate == Policy().enforcement.mutate, "the written-out defaults are the defaults"


def test_manifests_pass_mamori_scan_under_the_default_policy(bundle: Any) -> None:
    """Eat our own cooking: nothing at or above medium."""
    text = render(options(bundle))
    scan = load_text("mamori-admission.yaml", text)
    assert not scan.errors
    assert {w.ident.kind for w in scan.workloads} == {"Deployment"}
    decision = decide(scan, Policy(), today=date(2026, 11, 26))
    serious = [f"{f.rule_id} {f.message}" for f in decision.findings if f.severity >= Severity.MEDIUM]
    assert serious == []


def test_mamori_own_deployment_needs_no_mutation(bundle: Any) -> None:
    dep = by_kind(docs(options(bundle)))["Deployment"]
    dep["metadata"]["namespace"] = "elsewhere"  # outside the exemption, the defaults would still find nothing
    assert mutate(dep, Policy()).patch == []


def test_policy_labels_override_defaults(bundle: Any) -> None:
    dep = by_kind(docs(options(bundle, labels={"tenant": "sec-team"})))["Deployment"]
    assert dep["metadata"]["labels"]["tenant"] == "sec-team"
    assert dep["spec"]["template"]["metadata"]["labels"]["tenant"] == "sec-team"
