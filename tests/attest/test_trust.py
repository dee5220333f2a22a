"""The image-trust hook with attestations: "signed by build and approved for prod by qa", judged by MAM-IMG-005."""

from __future__ import annotations

import json
from pathlib import Path

from mamori.attest import predicates, statement
from mamori.attest.attestor import attest_image
from mamori.enforce.verdict import judge
from mamori.policy.config import ConfigError, Policy, load_policy
from mamori.sign import keys
from mamori.sign.signer import KeySigner, sign_image
from mamori.sources import load_text
from tests.sign.conftest import OPTS

BUILD, QA, OTHER = keys.generate(), keys.generate(), keys.generate()

POLICY = """\
trust:
  registry: {insecure: true}
  signatures:
    keys: [build.pub]
  attestations:
    signers: {keys: [build.pub, qa.pub]}
    require:
      - {type: approval, environment: prod, signers: [qa]}
"""


def _pod(image: str) -> str:
    from tests.server.reviews import HARDENED_POD

    c = {**HARDENED_POD["containers"][0], "image": image}
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
                       "spec": {**HARDENED_POD, "containers": [c]}})


def _policy(tmp_path: Path, text: str = POLICY) -> Policy:
    for name, k in (("build", BUILD), ("qa", QA)):
        (tmp_path / f"{name}.pub").write_bytes(keys.public_pem(k))
    (tmp_path / "mamori.yaml").write_text(text)
    return load_policy(str(tmp_path / "mamori.yaml"))


def _img005(image: str, policy: Policy) -> list[str]:
    v = judge(load_text("pod.yaml", _pod(image)), policy)
    return [f.message for f in v.denied if f.rule_id == "MAM-IMG-005"]


def _approve(image: str, env: str, key: keys.PrivateKey) -> None:
    attest_image(image, statement.APPROVAL, predicates.approval("qa@acme.test", env, ["tests green"], []),
                 KeySigner(key), OPTS)


def test_signed_and_approved_for_prod(image: str, tmp_path: Path) -> None:
    res = sign_image(image, BUILD, OPTS)
    pinned = f"{image.rsplit(':', 1)[0]}@{res.digest}"
    denied = _img005(pinned, _policy(tmp_path))
    assert denied and "missing approval for prod by qa" in denied[0]

    _approve(image, "qa", QA)  # approved, but for another environment
    denied = _img005(pinned, _policy(tmp_path))
    assert denied and "for another environment or signer" in denied[0]

    _approve(image, "prod", OTHER)  # for prod, but by a key nobody trusts
    assert _img005(pinned, _policy(tmp_path))

    _approve(image, "prod", BUILD)  # trusted key, but not the required approver
    assert _img005(pinned, _policy(tmp_path))

    _approve(image, "prod", QA)
    policy = _policy(tmp_path)
    assert _img005(pinned, policy) == []
    assert _img005(image, policy) == []  # by tag: resolved to the same digest


def test_approved_but_unsigned_is_refused(image: str, tmp_path: Path) -> None:
    _approve(image, "prod", QA)
    denied = _img005(image, _policy(tmp_path))
    assert denied and "no signature" in denied[0]


def test_verdicts_are_cached_by_digest(image: str, tmp_path: Path) -> None:
    res = sign_image(image, BUILD, OPTS)
    _approve(image, "prod", QA)
    pinned = f"{image.rsplit(':', 1)[0]}@{res.digest}"
    text = POLICY.replace("  signatures:\n    keys: [build.pub]\n", "")
    assert "signatures" not in text
    policy = _policy(tmp_path, text)
    from mamori.sign.trust import SignatureTrust

    att = policy.image_trust
    assert isinstance(att, SignatureTrust)  # the attestation provider alone, with its digest-keyed cache
    assert _img005(pinned, policy) == []
    hits, misses = att.hits, att.misses
    assert _img005(pinned, policy) == []
    assert (att.hits, att.misses) == (hits + 1, misses)  # answered from the cache, no registry round trip


def test_config_errors(tmp_path: Path) -> None:
    for text, msg in [
        ("trust:\n  attestations:\n    require: [{type: approval}]\n", "needs `signers`"),
        ("trust:\n  attestations:\n    signers: {keys: [qa.pub]}\n    require: []\n", "non-empty list"),
        ("trust:\n  attestations:\n    signers: {keys: [qa.pub]}\n    require: [{type: sbom, environment: prod}]\n",
         "approvals only"),
        ("trust:\n  attestations:\n    signers: {keys: [qa.pub]}\n    require: [{type: nope}]\n",
         "unknown attestation"),
        ("trust:\n  attestations:\n    signers: {keys: [missing.pub]}\n    require: [sbom]\n", "missing.pub"),
        ("trust:\n  attestations:\n    signers: {keys: [qa.pub]}\n    require: [sbom]\n    ttl: 3\n", "unknown key"),
    ]:
        try:
            _policy(tmp_path, text)
        except ConfigError as exc:
            assert msg in str(exc) and "mamori.yaml:" in str(exc), (text, exc)
        else:
            raise AssertionError(f"accepted: {text}")
