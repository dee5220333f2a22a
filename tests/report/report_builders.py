"""Builders for decisions, findings and rules that the formatter tests share."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker

from mamori.model import Finding, InputError, Location, Severity, Skipped, Suppressed
from mamori.policy.decision import Decision, Notice
from mamori.rules.registry import Rule, Scope

HOSTILE = "evil\x1b[31mRED\x1b]0;title\x07 <tag a=\"1\"> & 'q' \u202eevil\x00\x08\r\nsecond line"


def make_rule(
    rule_id: str = "MAM-PRIV-001",
    title: str = "Container runs privileged",
    severity: Severity = Severity.HIGH,
    controls: Iterable[str] = ("CSA-3.1.2.3",),
    refs: Iterable[str] = ("checkov:CKV_K8S_16",),
) -> Rule:
    return Rule(
        id=rule_id,
        title=title,
        severity=severity,
        controls=tuple(controls),
        refs=tuple(refs),
        remediation="remove `privileged: true`",
        scope=Scope.CONTAINER,
        fn=lambda *_: (),
        description=f"{title}: why it matters.",
    )


def make_finding(
    rule: Rule | None = None,
    *,
    file: str = "deploy/app.yaml",
    line: int = 12,
    resource: str = "Deployment/prod/web",
    container: str | None = "app",
    message: str = "runs in privileged mode",
    severity: Severity | None = None,
    **loc: Any,
) -> Finding:
    rule = rule or make_rule()
    kind, _, name = resource.partition("/")
    name = name.rpartition("/")[2]
    return Finding(
        rule_id=rule.id,
        title=rule.title,
        severity=severity or rule.severity,
        controls=rule.controls,
        refs=rule.refs,
        location=Location(
            file=file,
            line=line,
            resource=resource,
            kind=loc.get("kind", kind),
            name=loc.get("name", name),
            namespace=loc.get("namespace", "prod"),
            container=container,
            path=loc.get("path", "/spec/template/spec/containers/0/securityContext/privileged"),
        ),
        message=message,
        remediation=rule.remediation,
        source="kubernetes",
    )


RULES = (
    make_rule(),
    make_rule("MAM-RES-001", "Container has no memory limit", Severity.MEDIUM, ("CSA-3.1.4.2",), ()),
    make_rule("MAM-IMG-001", "Image tag is mutable", Severity.LOW, ("CSA-3.1.1.1", "CSA-3.1.1.2"), ()),
    make_rule("MAM-NET-001", "Host network is shared", Severity.CRITICAL, ("CSA-3.1.3.1",), ()),
)


def sample_decision(threshold: Severity | None = Severity.HIGH) -> Decision:
    priv, res, img, net = RULES
    return Decision(
        findings=(
            make_finding(res, line=20, message="no memory limit"),
            make_finding(priv),
            make_finding(net, file="compose.yaml", line=4, resource="Service/db", container=None,
                         message="network_mode: host"),
            make_finding(img, file="deploy/app.yaml", line=40, resource="Deployment/prod/api",
                         container="api", message="image nginx:latest"),
        ),
        suppressed=(
            Suppressed(make_finding(res, file="compose.yaml", line=9, resource="Service/db", container=None,
                                    message="no memory limit"),
                       reason="sized by the host", via="waiver", expires="2030-01-01"),
            Suppressed(make_finding(priv, line=60, resource="DaemonSet/kube-system/cni", container="cni"),
                       reason="CNI needs it", via="inline"),
        ),
        errors=(InputError("broken.yaml", 3, "mapping values are not allowed here"),),
        skipped=(Skipped("deploy/app.yaml", 80, "CustomThing/x", "unknown kind"),),
        notices=(Notice(".mamori.yaml", 7, "waiver for MAM-OLD-001 expired on 2020-01-01"),),
        files=("deploy/app.yaml", "compose.yaml", "broken.yaml", "clean/Dockerfile"),
        threshold=threshold,
        rules_evaluated=len(RULES),
    )


SARIF_SCHEMA = Path(__file__).parent.parent / "data" / "sarif-schema-2.1.0.json"
# RFC 3986 characters; jsonschema checks "uri" only with optional packages, so check here.
_URI_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

_checker = FormatChecker()


@_checker.checks("uri")
def _is_uri(value: object) -> bool:
    return isinstance(value, str) and bool(_URI_CHARS.match(value)) and bool(_SCHEME.match(value))


@_checker.checks("uri-reference")
def _is_uri_reference(value: object) -> bool:
    return isinstance(value, str) and bool(_URI_CHARS.match(value))


def sarif_validator() -> Draft4Validator:
    """The official SARIF 2.1.0 schema, with "uri" formats actually checked."""
    return Draft4Validator(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")), format_checker=_checker)
