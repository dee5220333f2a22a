"""GPG simple signing interop with Debian 12's skopeo 1.9.3 (containers/image 5.23, gpgme), both directions.

skopeo checks mamori's lookaside signatures under a policy.json ``signedBy`` requirement, and mamori
checks what ``skopeo copy --sign-by`` wrote; each direction with the negative cases of issue #7:
wrong key, other digest, other tag of the same repository, unsigned image, tampered signature.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.image.reference import parse_docker_ref
from mamori.sign import lookaside, simple
from mamori.sign.config import build_policy
from mamori.sign.verifier import TrustPolicy, verify_image
from tests.image import components as comp
from tests.sign.conftest import OPTS, push_image
from tests.sign.gpgkeys import GpgKey, make_key, tamper_payload
from tests.sign.skopeo import Skopeo, host_skopeo, retag


@pytest.fixture(scope="module")
def peer() -> Skopeo:
    return host_skopeo()


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[GpgKey, GpgKey]]:
    a, b = make_key("release"), make_key("intruder")
    yield a, b
    a.stop()
    b.stop()


def signed_by(key: GpgKey) -> dict[str, object]:
    return {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(key.public),
            "signedIdentity": {"type": "matchRepoDigestOrExact"}}


def sig_dir(look: Path, ref: str, digest: str) -> Path:
    return lookaside.signature_dir(look, parse_docker_ref(ref), digest)


def test_skopeo_verifies_mamori_signatures(peer: Skopeo, registry: comp.Registry, keys: tuple[GpgKey, GpgKey],
                                           tmp_path: Path) -> None:
    a, b = keys
    look = tmp_path / "lookaside"
    repo = f"{registry.host}/interop/mamori-gpg"
    d1 = push_image(f"{repo}:v1", os.urandom(256))
    d2 = push_image(f"{repo}:other", os.urandom(256))
    push_image(f"{repo}:unsigned", os.urandom(256))
    res = simple.sign_image(f"{repo}:v1", a.fingerprint, OPTS, str(look), home=str(a.home))
    section = {"lookaside": f"file://{look}"}
    good, regd = peer.configure(tmp_path, registry.host, section, signed_by(a))
    wrong, _ = peer.configure(tmp_path, registry.host, section, signed_by(b))

    def copy(policy: Path, tag: str) -> tuple[int, str]:
        out = tmp_path / f"out-{tag}-{policy.parent.name}"
        r = peer.copy(f"docker://{repo}:{tag}", f"dir:{out}", policy=policy, registries_d=regd)
        return r.returncode, r.stderr

    rc, err = copy(good, "v1")
    assert rc == 0, err
    assert (tmp_path / f"out-v1-{good.parent.name}/signature-1").read_bytes() == res.path.read_bytes()
    rc, err = copy(wrong, "v1")
    assert rc != 0 and "Invalid GPG signature" in err
    rc, err = copy(good, "unsigned")
    assert rc != 0 and "A signature was required, but no signature exists" in err
    shutil.copytree(res.path.parent, sig_dir(look, repo, d2))  # v1's signature presented for another digest
    rc, err = copy(good, "other")
    assert rc != 0 and f"Signature for digest {d1} does not match" in err
    assert retag(f"{repo}:v1", "alias") == d1  # same manifest, other tag of the same repository
    rc, err = copy(good, "alias")
    assert rc != 0 and f"Signature for identity {repo}:v1 is not accepted" in err
    res.path.write_bytes(tamper_payload(res.path.read_bytes()))
    rc, err = copy(good, "v1")
    assert rc != 0 and "Invalid GPG signature" in err, err
    res.path.write_bytes(res.path.read_bytes()[:-10])  # a truncated message, not just a changed payload
    rc, err = copy(good, "v1")
    assert rc != 0 and "Source image rejected" in err


def test_mamori_verifies_skopeo_signatures(peer: Skopeo, registry: comp.Registry, keys: tuple[GpgKey, GpgKey],
                                           tmp_path: Path) -> None:
    a, b = keys
    look = tmp_path / "lookaside"
    repo = f"{registry.host}/interop/skopeo-gpg"
    d1 = push_image(f"{repo}:v1", os.urandom(256))
    d2 = push_image(f"{repo}:other", os.urandom(256))
    accept, regd = peer.configure(tmp_path, registry.host, {"lookaside": f"file://{look}"}, None)
    r = peer.copy(f"docker://{repo}:v1", f"docker://{repo}:signed", policy=accept, registries_d=regd,
                  extra=["--sign-by", a.fingerprint], gnupghome=a.home)
    assert r.returncode == 0, r.stderr
    [made] = lookaside.read_all(look, parse_docker_ref(f"{repo}:signed"), d1)  # skopeo's own file layout

    def policy(key: GpgKey, **kw: object) -> TrustPolicy:
        return build_policy(gpg_keyring=str(key.armored), lookaside=f"file://{look}", **kw)  # type: ignore[arg-type]

    ok = verify_image(f"{repo}:signed", policy(a), OPTS)
    assert ok.ok and ok.digest == d1 and ok.signers == (a.fingerprint,), ok.reason
    assert f"for {repo}:signed" in ok.signatures[0].reason
    assert verify_image(f"{repo}@{d1}", policy(a), OPTS).ok  # digest-pinned: the repository must match
    wrong = verify_image(f"{repo}:signed", policy(b), OPTS)
    assert not wrong.ok and "not in the trusted keyring" in wrong.signatures[0].reason
    tag = verify_image(f"{repo}:v1", policy(a), OPTS)  # same digest, but skopeo signed repo:signed
    assert not tag.ok and f"is for '{repo}:signed', not {repo}:v1" in tag.signatures[0].reason
    unsigned = verify_image(f"{repo}:other", policy(a), OPTS)
    assert not unsigned.ok and unsigned.reason.startswith("no signature")
    other = sig_dir(look, repo, d2)
    other.mkdir(parents=True)
    (other / "signature-1").write_bytes(made)
    moved = verify_image(f"{repo}:other", policy(a, signed_identity="repository"), OPTS)
    assert not moved.ok and f"names {d1}, not the verified manifest {d2}" in moved.signatures[0].reason
    path = sig_dir(look, repo, d1) / "signature-1"
    path.write_bytes(tamper_payload(made))
    bad = verify_image(f"{repo}:signed", policy(a), OPTS)
    assert not bad.ok and "invalid GPG signature: gpgv reports BADSIG" in bad.signatures[0].reason
    path.write_bytes(tamper_payload(made, b""))  # the same packets uncompressed still verify: the test is sound
    assert verify_image(f"{repo}:signed", policy(a), OPTS).ok
    path.write_bytes(made[:-10])
    assert not verify_image(f"{repo}:signed", policy(a), OPTS).ok
