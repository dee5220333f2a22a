"""CI and admission cannot disagree: every fixture object, judged as an AdmissionReview,
is denied exactly for the findings `mamori scan` reports at or above the threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mamori.enforce import admission as adm
from mamori.enforce.verdict import judge
from mamori.model import ScanSet
from mamori.policy.config import Policy, load_policy
from mamori.rules.registry import Scope, all_rules
from mamori.sources import kubernetes
from mamori.sources.yamldoc import Doc, load_docs
from tests.server.reviews import review

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted(p for p in (ROOT / "tests/fixtures/rules").rglob("*.yaml") if p.name != "policy.yaml")
FIXTURES += sorted((ROOT / "examples").rglob("k8s/*.yaml"))
SET_RULES = {r.id for r in all_rules() if r.scope is Scope.SET}


def _objects(path: Path) -> list[dict[str, Any]]:
    docs, _ = load_docs(str(path), path.read_text())
    out = []
    for d in docs:
        if kubernetes.is_kubernetes(d.data) and d.data.get("kind") in kubernetes.POD_SPEC:
            out.append(d.data)
    return out


CASES = [(p, i, o) for p in FIXTURES for i, o in enumerate(_objects(p))]


def _policy(path: Path) -> Policy:
    pfile = path.parent / "policy.yaml"
    return load_policy(str(pfile)) if pfile.is_file() else Policy()


def test_there_are_many_cases() -> None:
    assert len(CASES) > 150


@pytest.mark.parametrize(("path", "index", "obj"), CASES,
                         ids=[f"{p.relative_to(ROOT)}#{i}" for p, i, _ in CASES])
def test_admission_denies_exactly_what_scan_blocks(path: Path, index: int, obj: dict[str, Any]) -> None:
    policy = _policy(path)
    scan = ScanSet()
    kubernetes.load(Doc(str(path), 0, obj, {}), scan)
    expected = {f.rule_id for f in judge(scan, policy).denied} - SET_RULES
    ns = (obj.get("metadata") or {}).get("namespace") or "default"
    out = adm.validate(adm.parse_review(review(obj, namespace=ns)), policy)
    if ns in policy.enforcement.exempt_namespaces:
        assert out.result == "exempt" and out.response["response"]["allowed"] is True
        return
    got = set(out.verdict.rule_ids) if out.verdict and not out.response["response"]["allowed"] else set()
    assert got == expected
    assert out.response["response"]["allowed"] is (not expected)
