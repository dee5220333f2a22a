"""CSA-3.1.10.1: no static secret hard-coded in images or configuration.

Where secrets hide in container configuration: a container's environment (Kubernetes
``env[].value``, Compose ``environment``, Dockerfile ``ENV`` and ``ARG`` defaults, a live
container's ``Config.Env``) and ConfigMap data. Each place has three rules by confidence,
so that each maps cleanly to the peers that fire on the same condition:

* a known credential format (PEM key, cloud keys, vendor tokens, JWT, ``user:pass@`` URL)
  - the condition of Trivy's secret scanner rules and Checkov's ``CKV_SECRET_*`` detectors;
* a random-looking literal under a secret-looking name, and
* any other literal under such a name (a weak default such as ``changeme``)
  - the condition of kubescape C-0012, Polaris ``sensitiveContainerEnvVar`` /
  ``sensitiveConfigmapContent``, kube-linter ``env-var-secret`` and Trivy KSV-0109
  (mamori judges names by word parts and filters placeholders, so it fires on fewer
  values than they do).

Two more rules cover how secrets reach a container: a Dockerfile build argument or ENV
that carries a credential into the image (Trivy DS-0031), and a Secret read into an
environment variable rather than mounted as a file (CIS Kubernetes 5.4.1: Checkov
CKV_K8S_35, kube-linter ``read-secret-from-env-var``, kubescape C-0207).

Messages name the variable or key, the detector and a redacted fingerprint; they never
contain the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mamori.model import Container, EnvVar, Severity, SourceKind, Workload
from mamori.model.resources import ConfigMap
from mamori.rules.registry import Context, Hit, Scope, hit, rule
from mamori.secrets import Confidence, SecretMatch, detect, is_secret_name, literal
from mamori.secrets.values import is_reference

C = "CSA-3.1.10.1"

_FORMAT_REFS = (
    "checkov:CKV_SECRET_2", "checkov:CKV_SECRET_3", "checkov:CKV_SECRET_4", "checkov:CKV_SECRET_9",
    "checkov:CKV_SECRET_13", "checkov:CKV_SECRET_14", "checkov:CKV_SECRET_17", "checkov:CKV_SECRET_43",
    "checkov:CKV_SECRET_44", "checkov:CKV_SECRET_45", "checkov:CKV_SECRET_61",
    "trivy:aws-access-key-id", "trivy:aws-secret-access-key", "trivy:private-key", "trivy:gcp-service-account",
    "trivy:github-pat", "trivy:github-oauth", "trivy:github-app-token", "trivy:github-refresh-token",
    "trivy:github-fine-grained-pat", "trivy:gitlab-pat", "trivy:slack-access-token", "trivy:slack-web-hook",
    "trivy:stripe-secret-token", "trivy:sendgrid-api-token", "trivy:npm-access-token", "trivy:pypi-upload-token",
    "trivy:jwt-token",
)
_ENV_NAME_REFS = ("kubescape:C-0012", "polaris:sensitiveContainerEnvVar", "kube-linter:env-var-secret")
_CM_NAME_REFS = ("kubescape:C-0012", "polaris:sensitiveConfigmapContent")

_ENV_FIX = ("Remove the value from the configuration and rotate the credential: it is exposed to everyone who "
            "can read this file, the image or the API object. Deliver it at run time from a secret store: a "
            "Kubernetes Secret mounted as a file, Compose `secrets:`, or an external KMS/vault.")
_CM_FIX = ("Move the credential out of the ConfigMap into a Secret (mounted as a file) or an external secret "
           "store, and rotate it: ConfigMaps are readable by anyone with `get configmaps` and are not encrypted "
           "at rest.")

# Trivy DS-0031's list of well-known credential variables, with the front-end build prefixes it strips.
_WELL_KNOWN_CREDENTIAL_VARS = frozenset({
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
    "GITHUB_TOKEN", "OPENAI_API_KEY", "HF_TOKEN",
})
_BUILD_PREFIXES = ("VITE_", "REACT_APP_")

_ORIGIN_WORDS = {
    "env": "environment variable",
    "environment": "environment variable",
    "ENV": "ENV variable",
    "ARG": "build argument",
}


def _env_value(env: EnvVar) -> str | None:
    """The variable's literal value as text (sources may hand over numbers or booleans)."""
    value: object = env.value
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _level(matches: list[SecretMatch], level: Confidence) -> list[SecretMatch]:
    return [m for m in matches if m.confidence is level]


def _describe(matches: list[SecretMatch]) -> str:
    return "; ".join(m.describe() for m in matches)


def _env_hits(c: Container, level: Confidence) -> Iterator[Hit]:
    for env in c.env:
        value = _env_value(env)
        if value is None or env.from_secret or env.origin == "configmap":
            continue  # references are fine; ConfigMap values are reported at the ConfigMap
        found = _level(detect(env.name, value), level)
        if found:
            where = _ORIGIN_WORDS.get(env.origin, "environment variable")
            yield hit(env.loc, f"{where} `{env.name}` of container {c.name!r} holds a hard-coded "
                               f"{_describe(found)}", c.name)


@rule(id="MAM-SECRET-001", title="Credential of a known format in a container's environment",
      severity=Severity.CRITICAL, controls=[C], scope=Scope.CONTAINER, remediation=_ENV_FIX, refs=_FORMAT_REFS)
def env_known_format(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A value has the shape of a real credential (private key, cloud key, vendor token, JWT,
    a random password in a URL), whatever the variable is called."""
    yield from _env_hits(c, Confidence.HIGH)


@rule(id="MAM-SECRET-002", title="Random-looking secret in a container's environment",
      severity=Severity.HIGH, controls=[C], scope=Scope.CONTAINER, remediation=_ENV_FIX,
      refs=(*_ENV_NAME_REFS, "trivy:DS-0031"))
def env_random_secret(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A variable whose name says it is a secret (``*_PASSWORD``, ``*_TOKEN``, ``API_KEY`` ...)
    holds a random-looking literal: almost certainly a real key or generated password."""
    yield from _env_hits(c, Confidence.MEDIUM)


@rule(id="MAM-SECRET-003", title="Literal password or secret in a container's environment",
      severity=Severity.MEDIUM, controls=[C], scope=Scope.CONTAINER, remediation=_ENV_FIX,
      refs=(*_ENV_NAME_REFS, "trivy:DS-0031", "checkov:CKV_SECRET_4"))
def env_literal_secret(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A variable whose name says it is a secret holds a plain literal such as
    ``MYSQL_ROOT_PASSWORD=example`` (or a URL carries a weak password, ``mysql://root:root@db``):
    a default credential that works wherever the file is deployed unchanged. References
    (``${VAR}``), placeholders, paths and booleans are not reported."""
    yield from _env_hits(c, Confidence.LOW)


def _entry_hits(cm: ConfigMap, level: Confidence) -> Iterator[Hit]:
    for entry in cm.data:
        found = _level(detect(entry.key, entry.value), level)
        if found:
            yield hit(entry.loc, f"ConfigMap {cm.meta.ident.name!r} key `{entry.key}` holds a hard-coded "
                                 f"{_describe(found)}")


@rule(id="MAM-SECRET-004", title="Credential of a known format in a ConfigMap",
      severity=Severity.CRITICAL, controls=[C], scope=Scope.RESOURCE, types=(ConfigMap,), remediation=_CM_FIX,
      refs=(*_CM_NAME_REFS, *(r for r in _FORMAT_REFS if r.startswith("checkov:"))))
def configmap_known_format(ctx: Context, cm: ConfigMap) -> Iterator[Hit]:
    """A ConfigMap value, or a line of a configuration file held in one, has the shape of a
    real credential."""
    yield from _entry_hits(cm, Confidence.HIGH)


@rule(id="MAM-SECRET-005", title="Random-looking secret in a ConfigMap",
      severity=Severity.HIGH, controls=[C], scope=Scope.RESOURCE, types=(ConfigMap,), remediation=_CM_FIX,
      refs=_CM_NAME_REFS)
def configmap_random_secret(ctx: Context, cm: ConfigMap) -> Iterator[Hit]:
    """A ConfigMap key with a secret-looking name - or a ``password=``/``token:`` line of a file
    held in the ConfigMap - has a random-looking literal value."""
    yield from _entry_hits(cm, Confidence.MEDIUM)


@rule(id="MAM-SECRET-006", title="Literal password or secret in a ConfigMap",
      severity=Severity.MEDIUM, controls=[C], scope=Scope.RESOURCE, types=(ConfigMap,), remediation=_CM_FIX,
      refs=_CM_NAME_REFS)
def configmap_literal_secret(ctx: Context, cm: ConfigMap) -> Iterator[Hit]:
    """A ConfigMap key (or a line of a file in it) with a secret-looking name holds a plain
    literal. File names such as ``password_validation.py`` are not secret names; their
    content is read line by line instead."""
    yield from _entry_hits(cm, Confidence.LOW)


def _credential_var(name: str) -> bool:
    bare = name.upper()
    for prefix in _BUILD_PREFIXES:
        bare = bare.removeprefix(prefix)
    return bare in _WELL_KNOWN_CREDENTIAL_VARS or is_secret_name(name)


@rule(id="MAM-SECRET-007", title="Credential passed to the image build as ARG or ENV",
      severity=Severity.HIGH, controls=[C], scope=Scope.CONTAINER, sources=[SourceKind.DOCKERFILE],
      remediation="Pass build-time secrets with `RUN --mount=type=secret,id=...` (BuildKit) and run-time "
                  "secrets from a secret store; never declare them as ARG or copy them into ENV.",
      refs=["trivy:DS-0031"])
def build_arg_secret(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A credential-named ``ARG`` without a value is meant to be filled with ``--build-arg``,
    whose value is recorded in the image history; an ``ENV`` that copies one (``ENV
    NPM_TOKEN=$NPM_TOKEN``) puts it into the image configuration for anyone who pulls the
    image. Literal values are reported by MAM-SECRET-001..003 instead."""
    for env in c.env:
        if env.origin not in ("ARG", "ENV") or not _credential_var(env.name):
            continue
        if literal(_env_value(env)) is not None:
            continue
        if env.origin == "ARG":
            msg = (f"build argument `{env.name}` is declared for a credential: a value passed with --build-arg "
                   "is recorded in the image history")
        else:
            if not is_reference(_env_value(env) or ""):
                continue  # an empty or placeholder ENV is filled at run time, which is fine
            msg = (f"ENV `{env.name}` copies a build-time credential into the image configuration, "
                   "where anyone who pulls the image can read it")
        yield hit(env.loc, msg, c.name)


@rule(id="MAM-SECRET-008", title="Secret exposed as an environment variable", severity=Severity.LOW,
      controls=["CSA-3.1.10.3"], scope=Scope.CONTAINER, sources=[SourceKind.KUBERNETES],
      remediation="Mount the Secret as a file (a `secret` volume, read-only) and have the application read it "
                  "from there.",
      refs=["checkov:CKV_K8S_35", "kube-linter:read-secret-from-env-var", "kubescape:C-0207"])
def secret_in_env(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """CIS Kubernetes 5.4.1: a Secret read into an environment variable (``secretKeyRef``)
    is not hard-coded, but environment variables end up in logs, crash reports, ``/proc``
    and every child process; a mounted file can be read-only and rotated in place."""
    for env in c.env:
        if env.from_secret:
            yield hit(env.loc, f"environment variable `{env.name}` of container {c.name!r} is read from a Secret "
                               "(secretKeyRef) instead of a mounted file", c.name)



_CREDENTIAL_KEY = re.compile(r"pass|pword|pswrd|secret|token|pwd|aws_access_key_id", re.I)


@rule(id="MAM-SECRET-009", title="Credential-named key in a ConfigMap", severity=Severity.LOW, controls=[C],
      scope=Scope.RESOURCE, types=[ConfigMap],
      remediation="Keep credentials in a Secret (encrypted at rest, separately access-controlled) or an external "
                  "secret store, never in a ConfigMap, even as an empty placeholder.",
      refs=["trivy:KSV-0109"])
def credential_key_in_configmap(ctx: Context, cm: ConfigMap) -> Iterator[Hit]:
    """A key named like a credential says the ConfigMap is used as a secret store, whatever its value today."""
    for e in cm.data:
        if _CREDENTIAL_KEY.search(e.key) and e.value.strip():
            yield hit(e.loc, f"ConfigMap {cm.meta.ident.name!r} key `{e.key}` is named like a credential")
