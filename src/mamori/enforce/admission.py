"""Kubernetes AdmissionReview (``admission.k8s.io/v1``) in, AdmissionReview out.

This module translates only: the object in the request becomes a ScanSet, the verdict of
:func:`mamori.enforce.verdict.judge` becomes the response. It has no HTTP and no I/O, so
the webhook server and the tests drive exactly the same code.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from mamori.enforce.verdict import Verdict, judge, on_update
from mamori.model import ScanSet
from mamori.policy.config import Policy
from mamori.policy.trust import ImageTrust
from mamori.sources import kubernetes
from mamori.sources.yamldoc import Doc

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
JUDGED_OPERATIONS = ("CREATE", "UPDATE")
# Subresources whose object is not the workload itself, or that cannot change what runs.
PASS_SUBRESOURCES = frozenset({"status", "scale", "binding", "eviction", "log", "exec", "attach", "portforward",
                               "proxy", "finalizers", "approval", "token"})


class ReviewError(ValueError):
    """A request that is not a usable AdmissionReview; the server answers 400."""


@dataclass(frozen=True, slots=True)
class Request:
    """The fields of an AdmissionRequest that mamori uses."""

    api_version: str
    uid: str
    kind: str
    namespace: str | None
    name: str
    operation: str
    sub_resource: str
    user: str
    dry_run: bool
    obj: dict[str, Any] | None
    old: dict[str, Any] | None

    @property
    def subject(self) -> str:
        parts = [self.kind, self.namespace, self.name or "?"] if self.namespace else [self.kind, self.name or "?"]
        return "/".join(parts) + (f"/{self.sub_resource}" if self.sub_resource else "")


@dataclass(frozen=True, slots=True)
class Outcome:
    """The response to send and what to record about it."""

    response: dict[str, Any]
    request: Request
    result: str  # allowed, warned, denied, error, exempt, skipped
    verdict: Verdict | None = None
    message: str = ""
    applied: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_review(body: Any) -> Request:
    """Check the envelope; anything unusable is a :class:`ReviewError` naming the field."""
    if not isinstance(body, dict):
        raise ReviewError("body is not a JSON object")
    api_version = body.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise ReviewError(f"apiVersion {api_version!r} is not one of {', '.join(API_VERSIONS)}")
    if body.get("kind") != "AdmissionReview":
        raise ReviewError(f"kind {body.get('kind')!r} is not AdmissionReview")
    req = body.get("request")
    if not isinstance(req, dict):
        raise ReviewError("`request` is missing or not an object")
    uid = req.get("uid")
    if not isinstance(uid, str) or not uid or len(uid) > 128:
        raise ReviewError("`request.uid` is missing, empty or too long")
    kind = req.get("kind")
    obj = req.get("object")
    old = req.get("oldObject")
    if obj is not None and not isinstance(obj, dict):
        raise ReviewError("`request.object` is not an object")
    if old is not None and not isinstance(old, dict):
        raise ReviewError("`request.oldObject` is not an object")
    user = req.get("userInfo")
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    name = _str(req.get("name")) or (_str(meta.get("name")) or _str(meta.get("generateName")) + "*"
                                     if isinstance(meta, dict) else "")
    return Request(
        api_version=str(api_version),
        uid=uid,
        kind=_str(kind.get("kind")) if isinstance(kind, dict) else _str((obj or {}).get("kind")),
        namespace=_str(req.get("namespace")) or None,
        name=name,
        operation=_str(req.get("operation")).upper(),
        sub_resource=_str(req.get("subResource")),
        user=_str(user.get("username")) if isinstance(user, dict) else "",
        dry_run=req.get("dryRun") is True,
        obj=obj,
        old=old,
    )


def response(req: Request, allowed: bool, *, message: str = "", warnings: list[str] | None = None,
             patch: list[dict[str, Any]] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """An AdmissionReview in the request's own apiVersion, echoing its uid."""
    resp: dict[str, Any] = {"uid": req.uid, "allowed": allowed}
    if not allowed:
        resp["status"] = {"code": 403, "reason": "Forbidden", "message": message}
    if warnings:
        resp["warnings"] = warnings[:20]
    if patch:
        resp["patchType"] = "JSONPatch"
        resp["patch"] = base64.b64encode(json.dumps(patch, separators=(",", ":")).encode()).decode("ascii")
    if annotations:
        resp["auditAnnotations"] = annotations
    return {"apiVersion": req.api_version, "kind": "AdmissionReview", "response": resp}


def _scan(req: Request, obj: dict[str, Any]) -> ScanSet:
    """The object as a one-object ScanSet, in the request's namespace when the object omits it."""
    meta = obj.get("metadata")
    if req.namespace and (not isinstance(meta, dict) or not meta.get("namespace")):
        meta = dict(meta) if isinstance(meta, dict) else {}
        meta["namespace"] = req.namespace
        if not meta.get("name") and req.name:
            meta["name"] = req.name
        obj = {**obj, "metadata": meta}
    out = ScanSet(files=[f"admission:{req.subject}"], complete=False)
    kubernetes.load(Doc(f"admission:{req.subject}", 0, obj, {}), out)
    return out


def exempt(req: Request, policy: Policy) -> bool:
    return req.namespace is not None and req.namespace in policy.enforcement.exempt_namespaces


def validate(req: Request, policy: Policy, trust: ImageTrust | None = None) -> Outcome:
    """The validating webhook's answer to one request."""
    if req.operation not in JUDGED_OPERATIONS or req.sub_resource in PASS_SUBRESOURCES:
        return Outcome(response(req, True), req, "skipped", message=f"{req.operation} {req.sub_resource}".strip())
    if exempt(req, policy):
        return Outcome(response(req, True), req, "exempt", message=f"namespace {req.namespace} is exempt")
    if req.obj is None:
        msg = f"{req.operation} request without an object: mamori cannot judge it and refuses it"
        return Outcome(response(req, False, message=msg), req, "error", message=msg)
    scan = _scan(req, req.obj)
    if not scan.workloads and not scan.resources and not scan.errors:
        return Outcome(response(req, True), req, "skipped", message=f"no rules for kind {req.kind}")
    verdict = judge(scan, policy, trust=trust)
    if req.operation == "UPDATE" and req.old is not None and verdict.denied:
        verdict = on_update(verdict, judge(_scan(req, req.old), policy, trust=trust), policy)
    annotations = {"mamori.io/rules": ",".join(verdict.rule_ids)} if verdict.rule_ids else None
    if verdict.allowed:
        result = "warned" if verdict.warned else "allowed"
        return Outcome(response(req, True, warnings=verdict.warnings(), annotations=annotations), req, result,
                       verdict, message="; ".join(verdict.warnings()))
    msg = f"mamori denied {req.subject}: {verdict.reason()}"
    return Outcome(response(req, False, message=msg, warnings=verdict.warnings(), annotations=annotations), req,
                   "error" if verdict.errors else "denied", verdict, message=msg)


def mutate(req: Request, policy: Policy) -> Outcome:
    """The mutating webhook's answer: safe defaults as a JSON Patch, each one reported as a warning.

    A Pod's spec cannot change after creation, so a Pod UPDATE is never patched (the API
    server would refuse the update).
    """
    from mamori.enforce.mutate import mutate as defaults

    if (req.operation not in JUDGED_OPERATIONS or req.sub_resource or req.obj is None or exempt(req, policy)
            or (req.kind == "Pod" and req.operation == "UPDATE")):
        return Outcome(response(req, True), req, "skipped")
    m = defaults(req.obj, policy, namespace=req.namespace)
    warnings = [f"mamori: {w}" for w in m.warnings]
    return Outcome(response(req, True, warnings=warnings, patch=m.patch), req,
                   "mutated" if m.patch else "allowed", message="; ".join(m.warnings), applied=tuple(m.applied))
