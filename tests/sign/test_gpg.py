"""GPG simple signing (containers/image format): GnuPG driver, keyring parsing, lookaside, sign and verify."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mamori.cli.sign import sign as sign_cli
from mamori.cli.sign import verify as verify_cli
from mamori.image.reference import parse_docker_ref
from mamori.sign import gpg, lookaside, payload, simple
from mamori.sign.config import build_policy, policy_from_mapping
from mamori.sign.errors import SignError
from mamori.sign.trust import from_config
from mamori.sign.verifier import verify_image
from mamori.sources.imageref import parse_image_ref
from tests.image import components as comp
from tests.sign.conftest import OPTS, push_image
from tests.sign.gpgkeys import GpgKey, make_key, tamper_payload
from tests.sign.skopeo import retag


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[GpgKey, GpgKey]]:
    a, b = make_key("builder"), make_key("stranger")
    yield a, b
    a.stop()
    b.stop()


def test_keyring_fingerprints_match_gnupg(keys: tuple[GpgKey, GpgKey]) -> None:
    a, b = keys
    for path in (a.public, a.armored):
        assert gpg.load_keyring(path.read_bytes()).fingerprints == (a.fingerprint,)
    both = gpg.load_keyring(a.public.read_bytes() + b.public.read_bytes())
    assert both.fingerprints == (a.fingerprint, b.fingerprint)
    secret = a.gpg("--pinentry-mode", "loopback", "--passphrase", "", "--export-secret-keys", a.fingerprint).stdout
    with pytest.raises(SignError, match="secret key"):
        gpg.load_keyring(secret)
    for junk, why in ((b"hello", "not an OpenPGP"), (a.public.read_bytes()[:40], "truncated"),
                      (b"", "no public key"), (b"\x00" * (gpg.MAX_KEYRING + 1), "larger")):
        with pytest.raises(SignError, match=why):
            gpg.load_keyring(junk)


def test_sign_and_verify_message(keys: tuple[GpgKey, GpgKey]) -> None:
    a, b = keys
    blob, fpr = gpg.sign(b"payload bytes", a.fingerprint, home=str(a.home))
    assert fpr == a.fingerprint
    ok = gpg.verify(blob, gpg.load_keyring(a.public.read_bytes()))
    assert (ok.fingerprint, ok.plaintext) == (a.fingerprint, b"payload bytes")
    with pytest.raises(SignError, match="not in the trusted keyring"):
        gpg.verify(blob, gpg.load_keyring(b.public.read_bytes()))
    # changed signed data under the same signature packet: BADSIG (a random bit flip is not a test: OpenPGP
    # leaves the literal packet's name/date and unhashed subpackets unsigned, so some flips still verify)
    with pytest.raises(SignError, match="gpgv reports BADSIG"):
        gpg.verify(tamper_payload(blob), gpg.load_keyring(a.public.read_bytes()))
    with pytest.raises(SignError, match="invalid GPG signature"):
        gpg.verify(blob[:-10], gpg.load_keyring(a.public.read_bytes()))  # truncated
    with pytest.raises(SignError, match="could not sign"):
        gpg.sign(b"x", "no-such-key@example.test", home=str(a.home))
    stored = a.gpg("--store", "--output", "-", data=b"unsigned literal data").stdout
    with pytest.raises(SignError, match="not exactly one good signature"):
        gpg.verify(stored, gpg.load_keyring(a.public.read_bytes()))
    dual = make_key("dual")  # one home, two keys: one message carrying two signatures
    try:
        dual.gpg("--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", "second <s@example.test>",
                 "ed25519", "sign", "never")
        both = dual.gpg("--export").stdout
        fprs = gpg.load_keyring(both).fingerprints
        assert len(fprs) == 2
        two = dual.gpg("--local-user", fprs[0], "--local-user", fprs[1], "--sign", "--output", "-", data=b"x").stdout
        with pytest.raises(SignError, match="not exactly one good signature"):
            gpg.verify(two, gpg.load_keyring(both))
    finally:
        dual.stop()


@pytest.mark.parametrize(("rule", "signed", "ref", "ok"), [
    ("repository", "127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:v1", True),
    ("repository", "127.0.0.1:5000/a/c:v1", "127.0.0.1:5000/a/b:v1", False),
    ("repo-digest-or-exact", "127.0.0.1:5000/a/b:v1", "127.0.0.1:5000/a/b:v1", True),
    ("repo-digest-or-exact", "127.0.0.1:5000/a/b:v1", "127.0.0.1:5000/a/b:v2", False),
    ("repo-digest-or-exact", "127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest", False),
    ("repo-digest-or-exact", "127.0.0.1:5000/a/b:v9", "127.0.0.1:5000/a/b@sha256:" + "1" * 64, True),
    ("exact", "127.0.0.1:5000/a/b:v9", "127.0.0.1:5000/a/b@sha256:" + "1" * 64, False),
    ("exact", "127.0.0.1:5000/a/b@sha256:" + "1" * 64, "127.0.0.1:5000/a/b@sha256:" + "1" * 64, True),
    ("exact", "busybox:latest", "docker.io/library/busybox", True),
    ("exact", "not a reference", "docker.io/library/busybox", False),
])
def test_identity_rules(rule: str, signed: str, ref: str, ok: bool) -> None:
    from mamori.sign import identity

    assert (identity.check(rule, signed, parse_docker_ref(ref)) is None) is ok


def test_detached_signature_and_decompression_bomb_refused(keys: tuple[GpgKey, GpgKey]) -> None:
    a, _ = keys
    ring = gpg.load_keyring(a.public.read_bytes())
    detached = a.gpg("--local-user", a.fingerprint, "--detach-sign", "--output", "-", data=b"data").stdout
    with pytest.raises(SignError, match="invalid GPG signature"):
        gpg.verify(detached, ring)
    bomb = a.gpg("--local-user", a.fingerprint, "--compress-level", "9", "--sign", "--output", "-",
                 data=b"\0" * (4 * 1024 * 1024)).stdout
    assert len(bomb) < gpg.MAX_SIGNATURE
    with pytest.raises(SignError, match="larger than"):
        gpg.verify(bomb, ring)


def test_lookaside_layout_and_append(tmp_path: Path) -> None:
    dref = parse_docker_ref("127.0.0.1:5000/team/app:v1")
    digest = "sha256:" + "ab" * 32
    path, added = lookaside.append(tmp_path, dref, digest, b"one")
    assert added and path == tmp_path / f"team/app@sha256={'ab' * 32}/signature-1"
    assert lookaside.append(tmp_path, dref, digest, b"one") == (path, False)
    path2, added2 = lookaside.append(tmp_path, dref, digest, b"two")
    assert added2 and path2.name == "signature-2"
    assert lookaside.read_all(tmp_path, dref, digest) == [b"one", b"two"]
    os.unlink(path)  # readers stop at the first gap, like containers/image
    assert lookaside.read_all(tmp_path, dref, digest) == []
    assert lookaside.base_dir(f"file://{tmp_path}") == tmp_path
    with pytest.raises(SignError, match="only local"):
        lookaside.base_dir("https://example.test/sigs")
    (path2.parent / "signature-1").write_bytes(b"x" * (lookaside.MAX_SIZE + 1))
    with pytest.raises(SignError, match="larger"):
        lookaside.read_all(tmp_path, dref, digest)


def _policy(key: GpgKey, look: Path, **kw: object) -> object:
    return build_policy(gpg_keyring=str(key.public), lookaside=str(look), **kw)  # type: ignore[arg-type]


def test_registry_image_signed_and_verified(registry: comp.Registry, keys: tuple[GpgKey, GpgKey],
                                            tmp_path: Path) -> None:
    a, b = keys
    ref = f"{registry.host}/gpg/app:v1"
    digest = push_image(ref, os.urandom(64))
    res = simple.sign_image(ref, a.fingerprint, OPTS, str(tmp_path), home=str(a.home))
    assert (res.digest, res.fingerprint, res.identity, res.appended) == (digest, a.fingerprint, ref, True)
    assert res.path == tmp_path / f"gpg/app@{digest.replace(':', '=')}/signature-1"
    signed = a.gpg("--decrypt", data=res.path.read_bytes()).stdout  # an inline signed message, as c/image wants
    p = payload.parse(signed, type_=payload.ATOMIC_TYPE)
    assert (p.docker_reference, p.digest) == (ref, digest)
    assert json.loads(signed)["critical"]["type"] == "atomic container signature"
    report = verify_image(ref, _policy(a, tmp_path), OPTS)  # type: ignore[arg-type]
    assert report.ok and report.digest == digest and report.signers == (a.fingerprint,)
    pinned = f"{registry.host}/gpg/app@{digest}"
    assert verify_image(pinned, _policy(a, tmp_path), OPTS).ok  # type: ignore[arg-type]
    # a second signer is kept beside the first; both count as distinct signers
    simple.sign_image(ref, b.fingerprint, OPTS, str(tmp_path), home=str(b.home))
    assert len(lookaside.read_all(tmp_path, parse_docker_ref(ref), digest)) == 2
    ring = tmp_path / "both.gpg"
    ring.write_bytes(a.public.read_bytes() + b.public.read_bytes())
    two = build_policy(gpg_keyring=str(ring), lookaside=str(tmp_path), min_signatures=2,
                       required=[b.fingerprint[-16:].lower()])
    assert verify_image(ref, two, OPTS).signers == tuple(sorted((a.fingerprint, b.fingerprint)))
    assert verify_image(ref, two, OPTS).ok
    only_a = build_policy(gpg_keyring=str(ring), lookaside=str(tmp_path), identities=[a.fingerprint])
    r = verify_image(ref, only_a, OPTS)
    assert r.ok and r.signers == (a.fingerprint,) and any("not a required identity" in s.reason for s in r.signatures)


def test_negative_cases(registry: comp.Registry, keys: tuple[GpgKey, GpgKey], tmp_path: Path) -> None:
    a, b = keys
    repo = f"{registry.host}/gpg/neg"
    d1 = push_image(f"{repo}:v1", os.urandom(64))
    d2 = push_image(f"{repo}:other", os.urandom(64))
    same = simple.sign_image(f"{repo}:v1", a.fingerprint, OPTS, str(tmp_path), home=str(a.home))
    assert same.digest == d1
    pol = _policy(a, tmp_path)
    # wrong key
    wrong = verify_image(f"{repo}:v1", _policy(b, tmp_path), OPTS)  # type: ignore[arg-type]
    assert not wrong.ok and "not in the trusted keyring" in wrong.signatures[0].reason
    # unsigned image
    unsigned = verify_image(f"{repo}:other", pol, OPTS)  # type: ignore[arg-type]
    assert not unsigned.ok and unsigned.reason.startswith("no signature") and unsigned.digest == d2
    # other digest: v1's signature moved into the other image's lookaside directory
    moved = tmp_path / f"gpg/neg@{d2.replace(':', '=')}"
    moved.mkdir(parents=True)
    shutil.copy(same.path, moved / "signature-1")
    other = verify_image(f"{repo}:other", pol, OPTS)  # type: ignore[arg-type]
    assert not other.ok and f"names {d1}, not the verified manifest {d2}" in other.signatures[0].reason
    # other tag of the same repository, same digest: the signed identity is repo:v1
    alias = retag(f"{repo}:v1", "alias")
    assert alias == d1
    tagged = verify_image(f"{repo}:alias", pol, OPTS)  # type: ignore[arg-type]
    assert not tagged.ok and f"is for '{repo}:v1', not {repo}:alias" in tagged.signatures[0].reason
    assert verify_image(f"{repo}:alias", _policy(a, tmp_path, signed_identity="repository"), OPTS).ok  # type: ignore[arg-type]
    # tampered payload
    same.path.write_bytes(tamper_payload(same.path.read_bytes(), b"\n"))
    bad = verify_image(f"{repo}:v1", pol, OPTS)  # type: ignore[arg-type]
    assert not bad.ok and "gpgv reports BADSIG" in bad.signatures[0].reason
    # a cosign-typed payload signed with the right key is not a containers/image signature
    body = payload.build(f"{repo}:v1", d1)
    blob2, _ = gpg.sign(body, a.fingerprint, home=str(a.home))
    same.path.write_bytes(blob2)
    typed = verify_image(f"{repo}:v1", pol, OPTS)  # type: ignore[arg-type]
    assert not typed.ok and "not 'atomic container signature'" in typed.signatures[0].reason


def test_config_mapping_and_cli(registry: comp.Registry, keys: tuple[GpgKey, GpgKey], tmp_path: Path) -> None:
    a, _ = keys
    ref = f"{registry.host}/gpg/cli:v1"
    push_image(ref, os.urandom(32))
    look = tmp_path / "look"
    runner = CliRunner()
    args = ["--insecure", "--lookaside", str(look)]
    r = runner.invoke(sign_cli, [ref, "--gpg-key", a.fingerprint, "--gpg-home", str(a.home), *args])
    assert r.exit_code == 0, r.output
    assert f"with GPG key {a.fingerprint}" in r.output
    r = runner.invoke(verify_cli, [ref, "--gpg-keyring", str(a.armored), *args, "-f", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["signers"] == [a.fingerprint]
    r = runner.invoke(verify_cli, [f"{registry.host}/gpg/cli:nope", "--gpg-keyring", str(a.public), *args])
    assert r.exit_code == 1 and "NOT VERIFIED" in r.output and "Traceback" not in r.output
    r = runner.invoke(sign_cli, [ref, "--gpg-key", a.fingerprint, "--insecure"])
    assert r.exit_code == 2 and "--lookaside" in r.output
    r = runner.invoke(sign_cli, [ref, "--gpg-key", a.fingerprint, "--key", "x.key", *args])
    assert r.exit_code == 2 and "exactly one" in r.output
    r = runner.invoke(verify_cli, [ref, "--gpg-keyring", str(a.public), "--insecure"])
    assert r.exit_code == 2 and "lookaside" in r.output
    policy, _ = policy_from_mapping({"gpg-keyring": str(a.public), "lookaside": f"file://{look}",
                                     "signed-identity": "exact"})
    assert verify_image(ref, policy, OPTS).ok
    # the decision point's image-trust hook: "signed by this GPG key" from the policy's trust.signatures
    provider = from_config({"gpg-keyring": str(a.armored), "lookaside": str(look), "required": [a.fingerprint]},
                           OPTS)
    assert provider.check(parse_image_ref(ref)).trusted
    other = f"{registry.host}/gpg/cli:unsigned"
    push_image(other, os.urandom(32))
    refused = provider.check(parse_image_ref(other))
    assert not refused.trusted and "no GPG signature in the lookaside" in refused.reason
    for bad, why in (({"gpg-keyring": str(a.public)}, "lookaside"), ({"gpg-keyring": 3}, "must be a string"),
                     ({"gpg-keyring": str(a.public), "lookaside": "x", "signed-identity": "any"}, "one of")):
        with pytest.raises(SignError, match=why):
            policy_from_mapping(bad)
