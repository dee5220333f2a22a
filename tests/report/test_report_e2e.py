"""Real rules on real inputs: every format renders, and SARIF and JSON stay schema-valid."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import pytest
from jsonschema import Draft202012Validator

from mamori.policy.decision import Decision
from mamori.report import FORMATS, render
from mamori.report.json import schema
from mamori.rules.registry import all_rules
from tests.helpers import scan_text
from tests.report.report_builders import sarif_validator

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  hostNetwork: true
  containers:
  - name: app
    image: nginx
    securityContext: {privileged: true}
"""

COMPOSE = """\
services:
  db:
    image: postgres
    privileged: true
    network_mode: host
"""


@pytest.fixture(scope="module")
def decision() -> Decision:
    pod = scan_text("k8s/pod.yaml", POD)
    compose = scan_text("compose.yaml", COMPOSE)
    return dataclasses.replace(
        pod,
        findings=pod.findings + compose.findings,
        files=pod.files + compose.files,
    )


def test_real_scan_has_findings(decision: Decision) -> None:
    assert len({f.location.file for f in decision.findings}) == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders(decision: Decision, fmt: str) -> None:
    out = render(fmt, decision, all_rules())
    assert "MAM-PRIV-001" in out


def test_json_validates(decision: Decision) -> None:
    Draft202012Validator(schema()).validate(json.loads(render("json", decision, all_rules())))


def test_sarif_validates_with_every_rule(decision: Decision) -> None:
    doc = json.loads(render("sarif", decision, all_rules()))
    sarif_validator().validate(doc)
    run = doc["runs"][0]
    assert len(run["tool"]["driver"]["rules"]) == len(all_rules())
    for desc in run["tool"]["driver"]["rules"]:
        assert "security" in desc["properties"]["tags"]
        assert len(desc["shortDescription"]["text"]) <= 1024


def test_junit_parses(decision: Decision) -> None:
    root = ET.fromstring(render("junit", decision, all_rules()).encode())
    assert int(root.get("failures", "0")) == len(decision.findings)
