"""cosign-format interop with skopeo 1.18 (Debian 13, sigstore compiled in) in a cached debootstrap chroot.

skopeo checks mamori's ``sha256-<hex>.sig`` signatures under a policy.json ``sigstoreSigned``
requirement (registries.d ``use-sigstore-attachments: true``), and mamori checks what
``skopeo copy --sign-by-sigstore-private-key`` (with a key file mamori wrote) attached; each
direction with wrong key, other digest, other tag of the same repository, unsigned image and
tampered payload. Debian 12's own skopeo cannot take part: its sigstore support is patched out.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.image.reference import parse_docker_ref
from mamori.sign import keys, layout, payload
from mamori.sign.registry_push import PushRegistry
from mamori.sign.signer import sign_image
from mamori.sign.verifier import TrustPolicy, verify_image
from tests.image import components as comp
from tests.sign.conftest import OPTS, push_image
from tests.sign.skopeo import Skopeo, move_cosign_signature, retag, tamper_cosign_payload, trixie_skopeo

MAMORI, OTHER = keys.generate(), keys.generate()
ATTACH = {"use-sigstore-attachments": True}


@pytest.fixture(scope="module")
def peer() -> Skopeo:
    sk = trixie_skopeo()
    r = sk.run("--version")
    assert r.returncode == 0 and "skopeo version 1." in r.stdout, r.stderr
    return sk


@pytest.fixture
def work(peer: Skopeo) -> Iterator[Path]:
    d = peer.workdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def sigstore_signed(peer: Skopeo, pub: Path, identity: str) -> dict[str, object]:
    return {"type": "sigstoreSigned", "keyPath": peer.path(pub), "signedIdentity": {"type": identity}}


def test_skopeo_verifies_mamori_signatures(peer: Skopeo, registry: comp.Registry, work: Path) -> None:
    repo = f"{registry.host}/interop/mamori-cosign"
    d1 = push_image(f"{repo}:v1", os.urandom(256))
    d2 = push_image(f"{repo}:other", os.urandom(256))
    push_image(f"{repo}:unsigned", os.urandom(256))
    plain = push_image(f"{repo}:plain", os.urandom(256))
    assert sign_image(f"{repo}:v1", MAMORI, OPTS, identity=f"{repo}:v1").digest == d1  # tag-bound, as skopeo
    assert sign_image(f"{repo}:plain", MAMORI, OPTS).digest == plain  # cosign's repository-only identity
    (work / "mamori.pub").write_bytes(keys.public_pem(MAMORI))
    (work / "other.pub").write_bytes(keys.public_pem(OTHER))
    exact, regd = peer.configure(work, registry.host, ATTACH,
                                 sigstore_signed(peer, work / "mamori.pub", "matchRepoDigestOrExact"))
    by_repo, _ = peer.configure(work, registry.host, ATTACH,
                                sigstore_signed(peer, work / "mamori.pub", "matchRepository"))
    wrong, _ = peer.configure(work, registry.host, ATTACH,
                              sigstore_signed(peer, work / "other.pub", "matchRepoDigestOrExact"))

    def copy(policy: Path, tag: str) -> tuple[int, str]:
        out = work / f"out-{tag}-{policy.parent.name}"
        r = peer.copy(f"docker://{repo}:{tag}", f"dir:{peer.path(out)}", policy=policy, registries_d=regd)
        return r.returncode, r.stderr

    rc, err = copy(exact, "v1")
    assert rc == 0, err
    stored = (work / f"out-v1-{exact.parent.name}/signature-1").read_bytes()
    assert stored.startswith(b"\x00sigstore-json\n")  # skopeo kept mamori's signature in dir:, its own format
    copied = json.loads(stored.split(b"\n", 1)[1])
    assert copied["mimeType"] == layout.LAYER_TYPE
    assert payload.parse(base64.b64decode(copied["payload"])).digest == d1
    rc, err = copy(by_repo, "plain")  # a cosign-style repository-only signature needs matchRepository
    assert rc == 0, err
    rc, err = copy(exact, "plain")
    assert rc != 0 and "is not accepted" in err
    rc, err = copy(wrong, "v1")
    assert rc != 0 and "cryptographic signature verification failed" in err
    rc, err = copy(exact, "unsigned")
    assert rc != 0 and "A signature was required, but no signature exists" in err
    move_cosign_signature(repo, d1, d2)
    rc, err = copy(by_repo, "other")
    assert rc != 0 and d1 in err and "does not match" in err, err
    assert retag(f"{repo}:v1", "alias") == d1
    rc, err = copy(exact, "alias")
    assert rc != 0 and f"Signature for identity \"{repo}:v1\" is not accepted" in err.replace("\\\"", "\""), err
    tamper_cosign_payload(repo, d1)
    rc, err = copy(by_repo, "v1")
    assert rc != 0 and "cryptographic signature verification failed" in err, err


def test_mamori_verifies_skopeo_signatures(peer: Skopeo, registry: comp.Registry, work: Path) -> None:
    repo = f"{registry.host}/interop/skopeo-cosign"
    d1 = push_image(f"{repo}:v1", os.urandom(256))
    d2 = push_image(f"{repo}:other", os.urandom(256))
    pem = keys.encrypted_pem(MAMORI, b"interop passphrase", keys.SIGSTORE_LABEL)
    (work / "cosign.key").write_bytes(pem)
    (work / "pass.txt").write_bytes(b"interop passphrase")
    accept, regd = peer.configure(work, registry.host, ATTACH, None)
    r = peer.copy(f"docker://{repo}:v1", f"docker://{repo}:signed", policy=accept, registries_d=regd,
                  extra=["--sign-by-sigstore-private-key", peer.path(work / "cosign.key"),
                         "--sign-passphrase-file", peer.path(work / "pass.txt")])
    assert r.returncode == 0, r.stderr
    body = _payload(f"{repo}:signed", d1)
    assert payload.parse(body).docker_reference == f"{repo}:signed"  # c/image writes the tag, cosign does not

    def policy(key: keys.PrivateKey, rule: str | None = None) -> TrustPolicy:
        return TrustPolicy(keys={"skopeo-key": key.public_key()}, signed_identity=rule)  # type: ignore[arg-type]

    ok = verify_image(f"{repo}:signed", policy(MAMORI, "repo-digest-or-exact"), OPTS)
    assert ok.ok and ok.digest == d1 and ok.signers == ("skopeo-key",), ok.reason
    wrong = verify_image(f"{repo}:signed", policy(OTHER), OPTS)
    assert not wrong.ok and "does not verify with any trusted key" in wrong.signatures[0].reason
    tag = verify_image(f"{repo}:v1", policy(MAMORI, "repo-digest-or-exact"), OPTS)  # same digest, other tag
    assert not tag.ok and f"is for '{repo}:signed', not {repo}:v1" in tag.signatures[0].reason
    assert verify_image(f"{repo}:v1", policy(MAMORI), OPTS).ok  # cosign semantics: digest + repository only
    unsigned = verify_image(f"{repo}:other", policy(MAMORI), OPTS)
    assert not unsigned.ok and unsigned.reason.startswith("no signature")
    move_cosign_signature(repo, d1, d2)
    moved = verify_image(f"{repo}:other", policy(MAMORI), OPTS)
    assert not moved.ok and f"names {d1}, not the verified manifest {d2}" in moved.signatures[0].reason
    tamper_cosign_payload(repo, d1)
    bad = verify_image(f"{repo}:signed", policy(MAMORI), OPTS)
    assert not bad.ok and "does not verify with any trusted key" in bad.signatures[0].reason


def _payload(ref: str, digest: str) -> bytes:
    reg = PushRegistry(parse_docker_ref(ref), OPTS)
    try:
        found = reg.manifest_if_any(layout.sig_tag(digest))
        assert found is not None, "skopeo attached no signature"
        [layer] = layout.parse_manifest(found[0])
        return reg.blob(layer.digest, layer.size, payload.MAX_PAYLOAD, "payload")
    finally:
        reg.close()
