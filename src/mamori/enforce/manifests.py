"""Kubernetes manifests that run mamori as a validating and mutating admission webhook.

The objects follow mamori's own rules (the tests scan them under the default policy and
find nothing at or above medium): two non-root, read-only, capability-less replicas spread
over nodes, a disruption budget, a NetworkPolicy, no service-account token. The webhook
configurations skip kube-system, mamori's own namespace and the policy's exempt
namespaces, so that mamori can always be restarted even when it is down and
``failurePolicy`` is ``Fail``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from mamori.enforce.certs import ServingBundle

SERVICE = "mamori"
PORT = 8443
FAILURE_POLICIES = ("Fail", "Ignore")
MIN_TIMEOUT, MAX_TIMEOUT = 1, 30  # the API server's bounds for timeoutSeconds
UID = 65532  # the conventional "nonroot" user of distroless images; any non-zero UID works
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,511}")

# Kinds with a pod spec, by API group: what the webhooks are called for.
WORKLOADS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("", "v1", ("replicationcontrollers",)),
    ("apps", "v1", ("deployments", "statefulsets", "daemonsets", "replicasets")),
    ("batch", "v1", ("jobs", "cronjobs")),
)

DEFAULT_POLICY = """\
# mamori policy for the admission webhook: the built-in defaults, written out.
# Rules and severities are those of `mamori scan`; see docs/admission.md.
enforcement:
  mode: enforce          # enforce | warn | audit
  exempt-namespaces: [kube-system, {namespace}]
  mutate:
    no-privilege-escalation: true
    drop-capabilities: true
    seccomp-runtime-default: true
    run-as-non-root: false
    read-only-root: false
"""


class ManifestError(ValueError):
    """An option that would produce manifests the API server refuses."""


@dataclass(frozen=True, slots=True)
class Options:
    """Everything the manifests depend on; ``policy_text`` is stored verbatim in the ConfigMap."""

    image: str
    certs: ServingBundle
    policy_text: str
    namespace: str = "mamori"
    failure_policy: str = "Fail"
    timeout: int = 5
    replicas: int = 2
    exempt_namespaces: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        if not _NAMESPACE.fullmatch(self.namespace):
            raise ManifestError(f"{self.namespace!r} is not a valid namespace name")
        if self.failure_policy not in FAILURE_POLICIES:
            raise ManifestError(f"failure policy {self.failure_policy!r} is not one of {', '.join(FAILURE_POLICIES)}")
        if not MIN_TIMEOUT <= self.timeout <= MAX_TIMEOUT:
            raise ManifestError(f"timeout {self.timeout}s is outside {MIN_TIMEOUT}..{MAX_TIMEOUT} seconds "
                                "(the API server's limits)")
        if not 2 <= self.replicas <= 50:
            raise ManifestError(f"replicas {self.replicas} is outside 2..50 (one replica is an outage at each "
                                "restart when failurePolicy is Fail)")
        if not _IMAGE.fullmatch(self.image):
            raise ManifestError(f"{self.image!r} is not an image reference")
        for ns in self.exempt_namespaces:
            if not _NAMESPACE.fullmatch(ns):
                raise ManifestError(f"exempt namespace {ns!r} is not a valid namespace name")


def default_policy(namespace: str) -> str:
    return DEFAULT_POLICY.format(namespace=namespace)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _meta(o: Options, name: str, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = o.namespace
    meta["labels"] = dict(_labels(o))
    return meta


def _labels(o: Options) -> dict[str, str]:
    """Recommended app labels and the default policy's required ones; the policy's default labels win."""
    return {"app.kubernetes.io/name": SERVICE, "app.kubernetes.io/component": "admission-webhook",
            "app.kubernetes.io/part-of": "mamori", "tenant": "platform", "data-classification": "internal",
            **o.labels}


SELECTOR = {"app.kubernetes.io/name": SERVICE, "app.kubernetes.io/component": "admission-webhook"}


def namespace(o: Options) -> dict[str, Any]:
    meta = _meta(o, o.namespace, namespaced=False)
    meta["labels"].update({"pod-security.kubernetes.io/enforce": "restricted",
                           "pod-security.kubernetes.io/enforce-version": "latest"})
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(o: Options) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(o, SERVICE),
            "automountServiceAccountToken": False}


def config_map(o: Options) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(o, f"{SERVICE}-policy"),
            "data": {"mamori.yaml": o.policy_text}}


def secret(o: Options) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(o, f"{SERVICE}-tls"),
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": _b64(o.certs.cert_pem), "tls.key": _b64(o.certs.key_pem),
                     "ca.crt": _b64(o.certs.ca_pem)}}


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "https", "scheme": "HTTPS"}, "periodSeconds": period,
            "timeoutSeconds": 2, "failureThreshold": failures}


def deployment(o: Options) -> dict[str, Any]:
    container = {
        "name": SERVICE,
        "image": o.image,
        # a digest cannot change, so a cached copy is the same image, and a registry outage then cannot stop
        # mamori (and, with failurePolicy Fail, every pod creation) from restarting
        "imagePullPolicy": "IfNotPresent" if "@sha256:" in o.image else "Always",
        "command": ["mamori", "serve", "--tls-cert", "/tls/tls.crt", "--tls-key", "/tls/tls.key",
                    "--policy", "/policy/mamori.yaml", "--listen", f"0.0.0.0:{PORT}"],
        "env": [{"name": "MAMORI_HOME", "value": "/var/lib/mamori"}],
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
                      "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "256Mi"}},
        "livenessProbe": _probe("/healthz", 10, 3),
        "readinessProbe": _probe("/readyz", 5, 2),
        "startupProbe": _probe("/healthz", 2, 30),
        "volumeMounts": [
            {"name": "tls", "mountPath": "/tls", "readOnly": True},
            {"name": "policy", "mountPath": "/policy", "readOnly": True},
            {"name": "data", "mountPath": "/var/lib/mamori"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    spread = {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": SELECTOR},
                                                 "topologyKey": "kubernetes.io/hostname"}}
    pod = {
        "serviceAccountName": SERVICE,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [spread]}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": SELECTOR}}],
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": [
            {"name": "tls", "secret": {"secretName": f"{SERVICE}-tls", "defaultMode": 0o440}},
            {"name": "policy", "configMap": {"name": f"{SERVICE}-policy"}},
            {"name": "data", "emptyDir": {"sizeLimit": "128Mi"}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        ],
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(o, SERVICE),
            "spec": {"replicas": o.replicas, "revisionHistoryLimit": 3,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                     "selector": {"matchLabels": dict(SELECTOR)},
                     "template": {"metadata": {"labels": _labels(o)}, "spec": pod}}}


def limit_range(o: Options) -> dict[str, Any]:
    """Defaults for any other container in the namespace (a debug pod, say)."""
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": _meta(o, SERVICE),
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
                                 "defaultRequest": {"cpu": "50m", "memory": "64Mi"}}]}}


def resource_quota(o: Options) -> dict[str, Any]:
    """Room for the replicas plus one surge pod during a rollout, and nothing much else."""
    pods = o.replicas + 2
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta(o, SERVICE),
            "spec": {"hard": {"pods": str(pods), "requests.cpu": f"{pods * 100}m",
                              "requests.memory": f"{pods * 128}Mi", "limits.cpu": str(pods),
                              "limits.memory": f"{pods * 512}Mi"}}}


def service(o: Options) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(o, SERVICE),
            "spec": {"type": "ClusterIP", "selector": dict(SELECTOR),
                     "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]}}


def disruption_budget(o: Options) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(o, SERVICE),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": dict(SELECTOR)}}}


def network_policy(o: Options) -> dict[str, Any]:
    """Ingress to the webhook port only. The API server is not a pod, so no ``from`` can name it."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(o, SERVICE),
            "spec": {"podSelector": {"matchLabels": dict(SELECTOR)}, "policyTypes": ["Ingress"],
                     "ingress": [{"ports": [{"port": PORT, "protocol": "TCP"}]}]}}


def excluded_namespaces(o: Options) -> list[str]:
    """Namespaces the API server never sends to mamori: kube-system, mamori's own, the policy's exempt ones."""
    out: list[str] = []
    for ns in ("kube-system", o.namespace, *o.exempt_namespaces):
        if ns not in out:
            out.append(ns)
    return out


def _rule(group: str, version: str, resources: tuple[str, ...], operations: tuple[str, ...]) -> dict[str, Any]:
    return {"apiGroups": [group], "apiVersions": [version], "resources": list(resources),
            "operations": list(operations), "scope": "Namespaced"}


def _webhook(o: Options, name: str, path: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",  # dry-run requests are judged, never recorded
        "failurePolicy": o.failure_policy,
        "matchPolicy": "Equivalent",
        "timeoutSeconds": o.timeout,
        "clientConfig": {"caBundle": _b64(o.certs.ca_pem),
                         "service": {"namespace": o.namespace, "name": SERVICE, "path": path, "port": 443}},
        "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                                    "values": excluded_namespaces(o)}]},
        "rules": rules,
    }


def validating_webhook(o: Options) -> dict[str, Any]:
    rules = [_rule("", "v1", ("pods",), ("CREATE", "UPDATE")),
             _rule("", "v1", ("pods/ephemeralcontainers",), ("UPDATE",)),  # `kubectl debug` adds containers
             *(_rule(g, v, r, ("CREATE", "UPDATE")) for g, v, r in WORKLOADS)]
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": _meta(o, SERVICE, namespaced=False),
            "webhooks": [_webhook(o, "validate.mamori.io", "/validate", rules)]}


def mutating_webhook(o: Options) -> dict[str, Any]:
    """Pods on CREATE only: their spec is immutable afterwards, so a default patched in on UPDATE is refused."""
    rules = [_rule("", "v1", ("pods",), ("CREATE",)),
             *(_rule(g, v, r, ("CREATE", "UPDATE")) for g, v, r in WORKLOADS)]
    hook = _webhook(o, "mutate.mamori.io", "/mutate", rules)
    hook["reinvocationPolicy"] = "IfNeeded"  # containers injected by a later webhook get the defaults too
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": _meta(o, SERVICE, namespaced=False), "webhooks": [hook]}


def objects(o: Options) -> list[dict[str, Any]]:
    """Every object, in the order ``kubectl apply`` needs (namespace first, webhooks last)."""
    o.check()
    return [namespace(o), limit_range(o), resource_quota(o), service_account(o), config_map(o), secret(o),
            deployment(o), service(o), disruption_budget(o), network_policy(o), validating_webhook(o),
            mutating_webhook(o)]


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors; multi-line strings (the policy) as literal blocks, readable in the ConfigMap."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(o: Options) -> str:
    """The manifests as one multi-document YAML stream."""
    head = (f"# mamori admission webhook in namespace {o.namespace}: generated by `mamori admission manifests`.\n"
            "# Apply with `kubectl apply -f`; see docs/admission.md before choosing failurePolicy.\n")
    return head + yaml.dump_all(objects(o), Dumper=_Dumper, explicit_start=True, sort_keys=False,
                                default_flow_style=False, width=120)
