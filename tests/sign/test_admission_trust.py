"""The decision point's image-trust hook backed by signatures: admission of signed and unsigned images."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from mamori.enforce import admission as adm
from mamori.policy.config import load_policy
from mamori.sign import keys
from mamori.sign.signer import sign_image
from tests.server.reviews import HARDENED_POD, review, workload
from tests.sign.conftest import OPTS, push_image


def _pod(image: str) -> dict[str, object]:
    spec = {**HARDENED_POD, "containers": [{**HARDENED_POD["containers"][0], "image": image}]}
    return workload("Pod", spec)


def test_only_images_signed_by_the_policy_key_are_admitted(image: str, tmp_path: Path) -> None:
    key, other = keys.generate(), keys.generate()
    pub = tmp_path / "build.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    pol_file = tmp_path / "mamori.yaml"
    pol_file.write_text("trust:\n  registry: {insecure: true}\n  signatures:\n    keys: [build.pub]\n")
    policy = load_policy(str(pol_file))
    assert policy.image_trust is not None

    unsigned = adm.validate(adm.parse_review(review(_pod(image))), policy)
    assert unsigned.response["response"]["allowed"] is False
    assert "[MAM-IMG-005]" in unsigned.response["response"]["status"]["message"]

    sign_image(image, other, OPTS)  # a signature by a key the policy does not trust
    policy = load_policy(str(pol_file))  # a fresh provider: no cached verdict
    assert adm.validate(adm.parse_review(review(_pod(image))), policy).response["response"]["allowed"] is False

    sign_image(image, key, OPTS)
    policy = load_policy(str(pol_file))
    ok = adm.validate(adm.parse_review(review(_pod(image))), policy)
    assert ok.response["response"]["allowed"] is True, ok.message

    other_image = image.rsplit(":", 1)[0] + ":v2"
    push_image(other_image, b"another layer, never signed")
    denied = adm.validate(adm.parse_review(review(_pod(other_image))), policy)
    assert denied.response["response"]["allowed"] is False


def test_signatures_and_approvals_are_both_required(image: str, tmp_path: Path) -> None:
    key = keys.generate()
    (tmp_path / "build.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    res = sign_image(image, key, OPTS)
    pinned = f"{image.rsplit(':', 1)[0]}@{res.digest}"
    text = "trust:\n  registry: {insecure: true}\n  signatures:\n    keys: [build.pub]\n"
    (tmp_path / "signed.yaml").write_text(text + "  approved-images: ['sha256:" + "0" * 64 + "']\n")
    (tmp_path / "approved.yaml").write_text(text + f"  approved-images: ['{pinned}']\n")
    not_approved = load_policy(str(tmp_path / "signed.yaml"))
    out = adm.validate(adm.parse_review(review(_pod(pinned))), not_approved)
    assert out.response["response"]["allowed"] is False and "not among the approved" in out.message
    approved = load_policy(str(tmp_path / "approved.yaml"))
    assert adm.validate(adm.parse_review(review(_pod(pinned))), approved).response["response"]["allowed"] is True
