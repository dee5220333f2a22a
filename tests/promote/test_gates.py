"""Promotion refused when any single gate is missing; copies across registries and of multi-arch indexes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.attest import predicates, statement
from mamori.attest.attestor import attest_image
from mamori.image.reference import parse_docker_ref
from mamori.policy.config import load_policy
from mamori.promote.copy import Repo
from mamori.promote.environments import Environment, find
from mamori.promote.promote import promote
from mamori.promote.status import consistent, status
from mamori.sign import keys
from mamori.sign.signer import KeySigner, sign_image
from mamori.sign.verifier import TrustPolicy, verify_image
from tests.image import components as comp
from tests.sign.conftest import OPTS, push_image

BUILD, QA, OTHER = keys.generate(), keys.generate(), keys.generate()
ALL_GATES = {"signatures", "attestation sbom", "attestation vuln", "max-severity high", "approval for prod"}


def environments(tmp_path: Path, dev: str, prod: str, gates: str | None = None) -> tuple[Environment, ...]:
    for name, k in (("build", BUILD), ("qa", QA)):
        (tmp_path / f"{name}.pub").write_bytes(keys.public_pem(k))
    gates = gates or """\
      signers: {keys: [build.pub], required: [build]}
      attestations: [sbom, vuln]
      max-severity: high
      approval: {signers: [qa]}
      attesters: {keys: [build.pub, qa.pub]}
"""
    (tmp_path / "mamori.yaml").write_text(f"environments:\n  dev:\n    repository: {dev}\n    insecure: true\n"
                                          f"  prod:\n    repository: {prod}\n    insecure: true\n    gates:\n{gates}")
    return load_policy(str(tmp_path / "mamori.yaml")).environments


def vuln(severity: str | None) -> dict[str, object]:
    found = [{"id": "CVE-2026-0001", "package": "openssl", "severity": severity}] if severity else []
    return predicates.vuln(found, [], predicates.now(), predicates.now())


def prepare(ref: str, skip: str) -> None:
    """Everything the gates ask for, except ``skip``."""
    if skip != "signature":
        sign_image(ref, OTHER if skip == "signature-by-other" else BUILD, OPTS)
    if skip != "sbom":
        attest_image(ref, statement.SBOM, {"bomFormat": "CycloneDX", "specVersion": "1.6"}, KeySigner(BUILD), OPTS)
    if skip != "vuln":
        attest_image(ref, statement.VULN, vuln("critical" if skip == "severity" else "high"), KeySigner(BUILD), OPTS)
    env = "qa" if skip == "approval-environment" else "prod"
    approver = {"approval-by-build": BUILD, "approval-by-other": OTHER}.get(skip, QA)
    if skip != "approval":
        attest_image(ref, statement.APPROVAL, predicates.approval("qa", env, ["green"], []), KeySigner(approver), OPTS)


@pytest.mark.parametrize("skip, missing", [
    ("nothing", set()),
    ("signature", {"signatures"}),
    ("signature-by-other", {"signatures"}),
    ("sbom", {"attestation sbom"}),
    ("vuln", {"attestation vuln", "max-severity high"}),
    ("severity", {"max-severity high"}),
    ("approval", {"approval for prod"}),
    ("approval-environment", {"approval for prod"}),
    ("approval-by-build", {"approval for prod"}),
    ("approval-by-other", {"approval for prod"}),
])
def test_each_gate(tmp_path: Path, registry: comp.Registry, skip: str, missing: set[str]) -> None:
    base = f"{registry.host}/gates-{skip}"
    envs = environments(tmp_path, f"{base}/dev", f"{base}/prod")
    ref = f"{base}/dev:v1"
    digest = push_image(ref, f"gates {skip}".encode())
    prepare(ref, skip)
    res = promote(ref, find(envs, "prod"), envs, KeySigner(BUILD), OPTS)  # type: ignore[arg-type]
    assert res.digest == digest
    assert {g.gate for g in res.gates} == ALL_GATES
    assert {g.gate for g in res.missing} == missing, [(g.gate, g.reason) for g in res.gates]
    assert res.promoted is not missing
    prod = Repo(parse_docker_ref(f"{base}/prod:v1"), OPTS)
    try:
        held = prod.manifest_any("v1")
    finally:
        prod.close()
    if missing:
        assert held is None  # nothing was copied
        if skip == "severity":
            assert "worst finding is critical" in res.missing[0].reason
    else:
        assert held is not None and held[2] == digest
        rows = status("v1", envs, OPTS)
        assert [r.digest for r in rows] == [digest, digest] and consistent(rows)


def test_status_sees_a_different_digest(tmp_path: Path, registry: comp.Registry) -> None:
    base = f"{registry.host}/drift"
    envs = environments(tmp_path, f"{base}/dev", f"{base}/prod", "      signers: {keys: [build.pub]}\n")
    a = push_image(f"{base}/dev:v1", b"build a")
    b = push_image(f"{base}/prod:v1", b"build b, pushed around the gates")
    rows = status("v1", envs, OPTS)
    assert [r.digest for r in rows] == [a, b] and not consistent(rows)
    assert [r.digest for r in status("v9", envs, OPTS)] == [None, None]


@pytest.fixture
def other_registry() -> Iterator[comp.Registry]:
    r = comp.start_registry()
    yield r
    r.stop()


def _index(ref: str, children: list[str]) -> str:
    dref = parse_docker_ref(ref)
    reg = Repo(dref, OPTS)
    try:
        descs = []
        for i, d in enumerate(children):
            raw, _, _ = reg.manifest(d)
            descs.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": len(raw),
                          "platform": {"os": "linux", "architecture": ["amd64", "arm64"][i]}})
        body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": descs}).encode()
        return reg.put_manifest(dref.tag or "latest", body, "application/vnd.oci.image.index.v1+json")
    finally:
        reg.close()


def test_multi_arch_index_streamed_to_another_registry(tmp_path: Path, registry: comp.Registry,
                                                       other_registry: comp.Registry) -> None:
    dev, prod = f"{registry.host}/multi/dev", f"{other_registry.host}/multi/prod"
    envs = environments(tmp_path, dev, prod, "      signers: {keys: [build.pub], required: [build]}\n")
    children = [push_image(f"{dev}:amd64", b"amd64 layer " * 1000), push_image(f"{dev}:arm64", b"arm64 layer")]
    index = _index(f"{dev}:v2", children)
    sign_image(f"{dev}:v2", BUILD, OPTS)
    res = promote(f"{dev}:v2", find(envs, "prod"), envs, KeySigner(BUILD), OPTS)  # type: ignore[arg-type]
    assert res.promoted, res.missing
    assert res.digest == index and res.stats is not None
    assert res.stats.mounted == 0 and res.stats.streamed >= 4  # 2 layers + 2 configs (+ the signature payload)
    assert res.stats.manifests == [*children, index]
    target = Repo(parse_docker_ref(f"{prod}:v2"), OPTS)
    try:
        held = target.manifest_any("v2")
        assert held is not None and held[2] == index
        for child in children:  # every platform's manifest and blobs, by digest
            raw, _, _ = target.manifest(child)
            layer = json.loads(raw)["layers"][0]
            assert target.blob(layer["digest"], layer["size"], 1 << 20, "layer").startswith((b"amd64", b"arm64"))
    finally:
        target.close()
    # the build signature came along and still verifies for the same digest in the other registry
    report = verify_image(f"{prod}:v2", TrustPolicy(keys={"build": BUILD.public_key()}, match_repository=False), OPTS)
    assert report.ok and report.digest == index
    # and a second promotion is idempotent: everything is already there
    again = promote(f"{dev}:v2", find(envs, "prod"), envs, KeySigner(BUILD), OPTS)  # type: ignore[arg-type]
    assert again.promoted and again.stats is not None and again.stats.streamed == 0


def test_same_repository_is_refused(tmp_path: Path, registry: comp.Registry) -> None:
    from mamori.image.errors import ImageError

    base = f"{registry.host}/same"
    envs = environments(tmp_path, f"{base}/dev", f"{base}/prod", "      signers: {keys: [build.pub]}\n")
    push_image(f"{base}/prod:v1", b"x")
    with pytest.raises(ImageError, match="already in prod"):
        promote(f"{base}/prod:v1", find(envs, "prod"), envs, KeySigner(BUILD), OPTS)  # type: ignore[arg-type]
