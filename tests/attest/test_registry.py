"""Attest and verify against a real docker-registry: layout, accumulation, SBOM of a real image, negative cases."""

from __future__ import annotations

import json

from mamori.attest import dsse, layout, sources, statement
from mamori.attest.attestor import attest_image
from mamori.attest.verify import verify_attestations
from mamori.image.reference import parse_docker_ref
from mamori.sign import keys
from mamori.sign.registry_push import PushRegistry
from mamori.sign.signer import KeySigner
from mamori.sign.verifier import TrustPolicy
from tests.sign.conftest import OPTS, push_image

K1, K2 = keys.generate(), keys.generate()
S1, S2 = KeySigner(K1), KeySigner(K2)


def trust(**kw: object) -> TrustPolicy:
    return TrustPolicy(keys={"qa": K1.public_key()}, **kw)  # type: ignore[arg-type]


def att_manifest(ref: str) -> tuple[dict[str, object], str]:
    dref = parse_docker_ref(ref)
    reg = PushRegistry(dref, OPTS)
    try:
        _, _, digest = reg.manifest(dref.reference)
        found = reg.manifest_if_any(layout.att_tag(digest))
        assert found is not None
        return json.loads(found[0]), digest
    finally:
        reg.close()


def test_cosign_layout_and_accumulation(image: str) -> None:
    a = attest_image(image, statement.APPROVAL, {"environment": "qa", "approver": {"id": "x"}}, S1, OPTS)
    b = attest_image(image, statement.TEST, {"result": "PASSED"}, S1, OPTS)
    c = attest_image(image, statement.APPROVAL, {"environment": "prod"}, S2, OPTS)
    assert (a.attestations, b.attestations, c.attestations) == (1, 2, 3)
    doc, digest = att_manifest(image)
    assert a.att_ref.endswith(f":sha256-{digest.removeprefix('sha256:')}.att")
    layers = doc["layers"]
    assert isinstance(layers, list) and len(layers) == 3
    first = layers[0]
    assert first["mediaType"] == "application/vnd.dsse.envelope.v1+json"
    assert first["annotations"] == {"dev.cosignproject.cosign/signature": "", "predicateType": statement.APPROVAL}
    assert first["digest"] == a.layer_digest
    report = verify_attestations(image, trust(), OPTS)
    assert [v.ok for v in report.attestations] == [True, True, False]  # #2 by a key the policy does not trust
    assert "does not verify" in report.attestations[2].reason
    tests = verify_attestations(image, trust(), OPTS, statement.TEST)
    assert tests.ok and tests.digest == digest and "1 verified test" in tests.reason
    only = verify_attestations(image, trust(), OPTS, statement.TEST, only=frozenset({statement.TEST}))
    assert only.ok and [a.index for a in only.attestations] == [1]  # the approvals were not even fetched
    sbom = verify_attestations(image, trust(), OPTS, statement.SBOM)
    assert not sbom.ok and "no sbom attestation" in sbom.reason


def test_sbom_of_a_real_image(busybox: str) -> None:
    res = attest_image(busybox, statement.SBOM, sources.sbom(OPTS), S1, OPTS)
    report = verify_attestations(busybox, trust(), OPTS, statement.SBOM)
    assert report.ok and report.digest == res.digest
    [good] = report.verified(statement.SBOM)
    assert good.statement is not None
    bom = good.statement.predicate
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"].startswith("1.")
    # the SBOM describes exactly the attested manifest
    assert bom["metadata"]["component"]["version"] == res.digest


def test_unattested_and_wrong_key(image: str) -> None:
    none = verify_attestations(image, trust(), OPTS)
    assert not none.ok and none.reason.startswith("no attestation") and none.digest
    attest_image(image, statement.SBOM, {"bomFormat": "CycloneDX"}, S2, OPTS)
    wrong = verify_attestations(image, trust(), OPTS, statement.SBOM)
    assert not wrong.ok and "does not verify with any trusted key" in wrong.reason


def test_tampered_attestation(image: str) -> None:
    """A changed predicate inside a validly shaped envelope (signature kept) does not verify."""
    attest_image(image, statement.APPROVAL, {"environment": "qa"}, S1, OPTS)
    doc, digest = att_manifest(image)
    dref = parse_docker_ref(image)
    reg = PushRegistry(dref, OPTS)
    layer = doc["layers"][0]  # type: ignore[index]
    env = json.loads(reg.blob(layer["digest"], layer["size"], dsse.MAX_ENVELOPE, "envelope"))
    body = json.loads(dsse.parse(json.dumps(env).encode()).payload)
    body["predicate"]["environment"] = "prod"
    import base64

    env["payload"] = base64.b64encode(json.dumps(body).encode()).decode()
    forged = json.dumps(env).encode()
    layer["digest"], layer["size"] = reg.put_blob(forged), len(forged)
    reg.put_manifest(layout.att_tag(digest), json.dumps(doc).encode(), layout.siglayout.OCI_MANIFEST)
    reg.close()
    report = verify_attestations(image, trust(), OPTS, statement.APPROVAL)
    assert not report.ok and "does not verify" in report.attestations[0].reason


def test_attestation_for_another_digest(image: str) -> None:
    """A valid attestation of image A copied under B's .att tag names A's digest and fails for B."""
    attest_image(image, statement.APPROVAL, {"environment": "prod"}, S1, OPTS)
    doc, digest_a = att_manifest(image)
    repo = image.rsplit(":", 1)[0]
    other = push_image(f"{repo}:other", b"other content")
    reg = PushRegistry(parse_docker_ref(image), OPTS)
    reg.put_manifest(layout.att_tag(other), json.dumps(doc).encode(), layout.siglayout.OCI_MANIFEST)
    reg.close()
    report = verify_attestations(f"{repo}:other", trust(), OPTS, statement.APPROVAL)
    assert not report.ok and report.digest == other
    assert f"not the verified manifest {other}" in report.attestations[0].reason
    assert verify_attestations(f"{repo}@{digest_a}", trust(), OPTS, statement.APPROVAL).ok


def test_subject_repository_and_annotation_mismatch(image: str) -> None:
    repo = image.rsplit(":", 1)[0]
    digest = push_image(f"{repo}:v3", b"v3 content")
    other_repo = repo + "-elsewhere"
    # the statement names another repository: refused unless the policy ignores repository names
    from mamori.attest.attestor import envelope

    blob = envelope(other_repo, digest, statement.SBOM, {}, S1)
    reg = PushRegistry(parse_docker_ref(image), OPTS)
    bdigest = reg.put_blob(blob)
    ann = {"dev.cosignproject.cosign/signature": "", "predicateType": statement.APPROVAL}  # lies about the type
    layout.append_layers(reg, layout.att_tag(digest), [{"mediaType": layout.LAYER_TYPE, "size": len(blob),
                                                        "digest": bdigest, "annotations": ann}])
    reg.close()
    strict = verify_attestations(f"{repo}:v3", trust(), OPTS)
    assert not strict.ok and "not " + repo in strict.attestations[0].reason
    loose = verify_attestations(f"{repo}:v3", trust(match_repository=False), OPTS)
    assert not loose.ok and "the layer says predicateType" in loose.attestations[0].reason
