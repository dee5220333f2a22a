"""Sign and verify against a real docker-registry: positive paths and every negative case named in issue #7."""

from __future__ import annotations

import base64
import json

import pytest

from mamori.image.reference import parse_docker_ref
from mamori.image.registry import RegistryOptions
from mamori.pki import ca
from mamori.pki.store import PkiDir
from mamori.sign import keys, layout, payload
from mamori.sign.errors import SignError
from mamori.sign.registry_push import PushRegistry
from mamori.sign.signer import sign_image
from mamori.sign.verifier import TrustPolicy, verify_image
from tests.image import components as comp
from tests.sign.conftest import OPTS, push_image

K1, K2 = keys.generate(), keys.generate()


def trust(*ks: object, **kw: object) -> TrustPolicy:
    return TrustPolicy(keys={f"k{i + 1}": k.public_key() for i, k in enumerate(ks)}, **kw)  # type: ignore[attr-defined,arg-type]


def sig_manifest(ref: str) -> tuple[dict[str, object], str]:
    dref = parse_docker_ref(ref)
    reg = PushRegistry(dref, OPTS)
    try:
        _, _, digest = reg.manifest(dref.reference)
        found = reg.manifest_if_any(layout.sig_tag(digest))
        assert found is not None
        return json.loads(found[0]), digest
    finally:
        reg.close()


def test_busybox_signed_and_verified(busybox: str) -> None:
    res = sign_image(busybox, K1, OPTS)
    assert res.appended and res.signatures == 1
    doc, digest = sig_manifest(busybox)
    assert digest == res.digest
    assert doc["mediaType"] == layout.OCI_MANIFEST
    [layer] = doc["layers"]  # type: ignore[misc]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    sig = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    dref = parse_docker_ref(busybox)
    body = payload.build(f"{dref.registry}/{dref.repository}", digest)
    assert layer["size"] == len(body)
    from mamori.sign import algorithms

    assert algorithms.verify(K1.public_key(), sig, body)  # the exact payload bytes are what was signed
    report = verify_image(busybox, trust(K1), OPTS)
    assert report.ok and report.digest == digest and report.signers == ("k1",)
    pinned = f"{dref.registry}/{dref.repository}@{digest}"
    assert verify_image(pinned, trust(K1), OPTS).ok


def test_signatures_accumulate_and_policy_counts_distinct_signers(image: str) -> None:
    sign_image(image, K1, OPTS)
    sign_image(image, K1, OPTS)
    res = sign_image(image, K2, OPTS)
    assert res.signatures == 3
    doc, _ = sig_manifest(image)
    assert len(doc["layers"]) == 3  # type: ignore[arg-type]
    assert verify_image(image, trust(K1, K2), OPTS).signers == ("k1", "k2")
    two_from_one = verify_image(image, trust(K1, min_signatures=2), OPTS)
    assert not two_from_one.ok and "1 of 2" in two_from_one.reason
    assert verify_image(image, trust(K1, K2, min_signatures=2), OPTS).ok
    assert verify_image(image, trust(K1, K2, required=("k2",)), OPTS).ok
    missing = verify_image(image, trust(K1, K2, required=("k3",)), OPTS)
    assert not missing.ok and "k3" in missing.reason
    only_k2 = verify_image(image, trust(K1, K2, identities=("k2",)), OPTS)
    assert only_k2.ok and only_k2.signers == ("k2",)
    assert any("not a required identity" in s.reason for s in only_k2.signatures)


def test_wrong_key(image: str) -> None:
    sign_image(image, K1, OPTS)
    report = verify_image(image, trust(K2), OPTS)
    assert not report.ok
    assert "does not verify with any trusted key" in report.signatures[0].reason


def test_unsigned_image(image: str) -> None:
    report = verify_image(image, trust(K1), OPTS)
    assert not report.ok and report.reason.startswith("no signature") and report.digest


def test_other_tag_of_the_same_repository(image: str) -> None:
    sign_image(image, K1, OPTS)
    repo = image.rsplit(":", 1)[0]
    push_image(f"{repo}:v2", b"another build")
    report = verify_image(f"{repo}:v2", trust(K1), OPTS)
    assert not report.ok and "no signature" in report.reason
    # the same digest under another tag is the same verified content
    _, digest = sig_manifest(image)
    dref = parse_docker_ref(image)
    reg = PushRegistry(dref, OPTS)
    raw, ctype, _ = reg.manifest(digest)
    reg.put_manifest("alias", raw, ctype or layout.OCI_MANIFEST)
    reg.close()
    assert verify_image(f"{repo}:alias", trust(K1), OPTS).ok


def test_signature_moved_to_another_digest(image: str) -> None:
    """A valid signature for image A copied under B's .sig tag names A's digest and fails."""
    sign_image(image, K1, OPTS)
    doc, _ = sig_manifest(image)
    repo = image.rsplit(":", 1)[0]
    other = push_image(f"{repo}:other", b"other content")
    reg = PushRegistry(parse_docker_ref(image), OPTS)
    reg.put_manifest(layout.sig_tag(other), json.dumps(doc).encode(), layout.OCI_MANIFEST)
    reg.close()
    report = verify_image(f"{repo}:other", trust(K1), OPTS)
    assert not report.ok and "not the verified manifest" in report.signatures[0].reason


def test_tampered_payload(image: str) -> None:
    sign_image(image, K1, OPTS)
    doc, digest = sig_manifest(image)
    dref = parse_docker_ref(image)
    forged = payload.build(f"{dref.registry}/{dref.repository}", digest, {"approved": "prod"})
    reg = PushRegistry(dref, OPTS)
    fdigest = reg.put_blob(forged)
    layer = doc["layers"][0]  # type: ignore[index]
    layer["digest"], layer["size"] = fdigest, len(forged)
    reg.put_manifest(layout.sig_tag(digest), json.dumps(doc).encode(), layout.OCI_MANIFEST)
    reg.close()
    report = verify_image(image, trust(K1), OPTS)
    assert not report.ok and "does not verify" in report.signatures[0].reason


def test_signature_copied_to_another_repository(registry: comp.Registry, image: str) -> None:
    sign_image(image, K1, OPTS)
    doc, digest = sig_manifest(image)
    src = PushRegistry(parse_docker_ref(image), OPTS)
    raw, ctype, _ = src.manifest(digest)
    copy = f"{registry.host}/elsewhere/app:v1"
    dst = PushRegistry(parse_docker_ref(copy), OPTS)
    for d in [doc["layers"][0]["digest"], doc["config"]["digest"], *[x["digest"] for x in json.loads(raw)["layers"]],  # type: ignore[index]
              json.loads(raw)["config"]["digest"]]:
        dst.put_blob(src.blob(d, None, 1 << 20, "blob"))
    dst.put_manifest("v1", raw, ctype or layout.OCI_MANIFEST)
    dst.put_manifest(layout.sig_tag(digest), json.dumps(doc).encode(), layout.OCI_MANIFEST)
    src.close()
    dst.close()
    report = verify_image(copy, trust(K1), OPTS)
    assert not report.ok and "names repository" in report.signatures[0].reason
    assert verify_image(copy, trust(K1, match_repository=False), OPTS).ok


def test_certificate_signatures(tmp_path: object, image: str) -> None:
    from pathlib import Path

    base = Path(str(tmp_path))
    store = PkiDir(base / "pki")
    ca.init(store, b"pw", "Acme")
    dev_key, qa_key = keys.generate(), keys.generate()
    dev = ca.issue(store, b"pw", ca.LeafRequest("codesign", emails=("dev@acme.test",)), dev_key.public_key())
    wl = ca.issue(store, b"pw", ca.LeafRequest("workload", uris=("spiffe://acme.test/ns/a/sa/b",)),
                  qa_key.public_key())
    from mamori.pki.store import cert_pem

    chain = store.file("chain.pem").read_text()
    sign_image(image, dev_key, OPTS, cert_pem=cert_pem(dev).decode(), chain_pem=chain)
    sign_image(image, qa_key, OPTS, cert_pem=cert_pem(wl).decode(), chain_pem=chain)
    doc, _ = sig_manifest(image)
    ann = doc["layers"][0]["annotations"]  # type: ignore[index]
    assert ann["dev.sigstore.cosign/certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert ann["dev.sigstore.cosign/chain"] == chain
    roots = (store.cert("root"),)
    report = verify_image(image, TrustPolicy(roots=roots), OPTS)
    assert report.ok and report.signers == ("dev@acme.test",)
    assert "codesign" in report.signatures[1].reason  # the workload certificate has the wrong EKU
    assert not verify_image(image, TrustPolicy(roots=roots, identities=("qa@acme.test",)), OPTS).ok
    other = PkiDir(base / "other")
    ca.init(other, b"pw", "Evil")
    foreign = verify_image(image, TrustPolicy(roots=(other.cert("root"),)), OPTS)
    assert not foreign.ok and "no valid path" in foreign.signatures[0].reason
    from cryptography import x509

    crl = x509.load_pem_x509_crl(ca.revoke(store, b"pw", format(dev.serial_number, "x"), "keyCompromise"))
    revoked = verify_image(image, TrustPolicy(roots=roots, crls=(crl,)), OPTS)
    assert not revoked.ok and "revoked" in revoked.signatures[0].reason
    by_key = verify_image(image, TrustPolicy(keys={"dev": dev_key.public_key()}), OPTS)  # cosign --key mode
    assert by_key.ok and by_key.signers == ("dev",)
    with pytest.raises(SignError, match="does not belong"):
        sign_image(image, K1, OPTS, cert_pem=cert_pem(dev).decode())


def test_push_with_htpasswd_auth() -> None:
    from mamori.image.auth import Credentials
    from mamori.image.errors import ImageError

    reg = comp.start_registry({"signer": "pw-7c1d"})
    try:
        ref = f"{reg.host}/auth/app:v1"
        good = RegistryOptions(insecure=True, credentials=Credentials("signer", "pw-7c1d"))
        push_image(ref, b"authenticated", good)
        sign_image(ref, K1, good)
        assert verify_image(ref, trust(K1), good).ok
        anon = verify_image(ref, trust(K1), OPTS)
        assert not anon.ok and "authentication failed" in anon.reason
        with pytest.raises(ImageError):
            sign_image(ref, K1, RegistryOptions(insecure=True, credentials=Credentials("signer", "wrong")))
    finally:
        reg.stop()


def test_unreachable_registry_and_bad_reference() -> None:
    from tests.image.components import free_port

    report = verify_image(f"127.0.0.1:{free_port()}/x:1", trust(K1), OPTS)
    assert not report.ok and "cannot reach" in report.reason
    assert not verify_image("UPPER/case:1", trust(K1), OPTS).ok
