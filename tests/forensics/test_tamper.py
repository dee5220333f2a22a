"""Tampering with a captured bundle: every change, addition, removal and forged signature is named."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mamori.sign import algorithms
from mamori.sign.keys import load_private
from tests import dockerd
from tests.forensics.conftest import Captured, KeyPair, Victim, run, write_key


@pytest.fixture
def copy(captured: Captured, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(captured.path, dst, symlinks=True)
    return dst


def verify(bundle: Path, key: KeyPair | None, *extra: str) -> tuple[int, dict[str, Any]]:
    args = ["forensics", "verify", str(bundle), "--format", "json", *extra]
    if key is not None:
        args += ["--key", str(key.public)]
    r = run(*args)
    return r.exit_code, json.loads(r.output) if r.exit_code in (0, 1) else {"error": r.output}


def problems(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["kind"], p["path"]) for p in report["problems"]}


def to_tar(bundle: Path, out: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]] | None = None) -> Path:
    with tarfile.open(out, "w") as tar:
        for p in sorted(bundle.rglob("*")):
            if p.is_file():
                tar.add(p, arcname=p.relative_to(bundle).as_posix())
        for info, data in extra or []:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def test_the_untouched_bundle_is_intact(copy: Path, captured: Captured) -> None:
    code, rep = verify(copy, captured.key)
    assert code == 0 and rep["ok"] and rep["problems"] == []
    assert rep["verified"] == rep["artifacts"] > 15


def test_one_changed_byte_is_named(copy: Path, captured: Captured) -> None:
    p = copy / "container/fs/tmp/dropper.sh"
    data = bytearray(p.read_bytes())
    data[3] ^= 0x01
    p.write_bytes(bytes(data))
    code, rep = verify(copy, captured.key)
    assert code == 1 and problems(rep) == {("changed", "container/fs/tmp/dropper.sh")}


def test_added_and_removed_files_are_named(copy: Path, captured: Captured) -> None:
    (copy / "container/fs/tmp/planted").write_text("x")
    (copy / "notes.txt").write_text("y")
    (copy / "container/logs.stderr.txt").unlink()
    code, rep = verify(copy, captured.key)
    assert code == 1
    assert problems(rep) == {("added", "container/fs/tmp/planted"), ("added", "notes.txt"),
                             ("missing", "container/logs.stderr.txt")}


def test_a_link_in_the_bundle_is_not_followed(copy: Path, captured: Captured) -> None:
    os.symlink("/etc/hostname", copy / "container/link")
    code, rep = verify(copy, captured.key)
    assert code == 1 and problems(rep) == {("unexpected", "container/link")}


def test_a_manifest_edit_breaks_the_signature(copy: Path, captured: Captured) -> None:
    text = (copy / "manifest.json").read_text()
    (copy / "manifest.json").write_text(text.replace('"examiner-7"', '"someone-else"'))
    code, rep = verify(copy, captured.key)
    assert code == 1 and ("signature", "manifest.sig") in problems(rep)


def test_a_changed_file_with_its_hash_rewritten_in_the_manifest_is_caught(copy: Path, captured: Captured) -> None:
    import hashlib

    p = copy / "container/fs/etc/evil.conf"
    p.write_text("innocent\n")
    m = json.loads((copy / "manifest.json").read_text())
    for a in m["artifacts"]:
        if a["path"] == "container/fs/etc/evil.conf":
            a["sha256"], a["size"] = hashlib.sha256(b"innocent\n").hexdigest(), 9
    (copy / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
    code, rep = verify(copy, captured.key)
    assert code == 1 and problems(rep) == {("signature", "manifest.sig")}


def test_a_signature_from_another_key_is_not_trusted(copy: Path, captured: Captured, keys: dict[str, KeyPair]) -> None:
    other = keys["other"]
    m = json.loads((copy / "manifest.json").read_text())
    m["captured"]["by"]["operator"] = "forger"
    body = (json.dumps(m, indent=2, sort_keys=True) + "\n").encode()
    (copy / "manifest.json").write_bytes(body)
    sig = algorithms.sign(load_private(other.private.read_bytes(), None), body)  # type: ignore[arg-type]
    (copy / "manifest.sig").write_bytes(base64.b64encode(sig) + b"\n")
    (copy / "signer.pem").write_bytes(other.public.read_bytes())
    code, rep = verify(copy, captured.key)
    assert code == 1
    assert ("changed", "signer.pem") in problems(rep)
    assert any("not trusted" in p["detail"] for p in rep["problems"] if p["kind"] == "signature")
    # the forger's own key does verify the signature, but the manifest names another signer
    code, rep = verify(copy, other)
    assert code == 1 and any("manifest names signer" in p["detail"] for p in rep["problems"])


def test_missing_signature_files_are_named(copy: Path, captured: Captured) -> None:
    (copy / "manifest.sig").unlink()
    (copy / "signer.pem").unlink()
    code, rep = verify(copy, captured.key)
    assert code == 1
    assert problems(rep) == {("signature", "manifest.sig"), ("missing", "signer.pem")}
    assert any(p["detail"] == "manifest.sig is missing" for p in rep["problems"])


def test_missing_manifest(copy: Path, captured: Captured) -> None:
    (copy / "manifest.json").unlink()
    code, rep = verify(copy, captured.key)
    assert code == 1 and ("missing", "manifest.json") in problems(rep)


def test_tar_bundles_changed_duplicate_and_hostile_members(copy: Path, captured: Captured, tmp_path: Path) -> None:
    clean = to_tar(copy, tmp_path / "clean.tar")
    assert verify(clean, captured.key)[0] == 0
    dup = tarfile.TarInfo("container/fs/tmp/dropper.sh")
    dup.size = 4
    up = tarfile.TarInfo("../escape")
    up.size = 1
    link = tarfile.TarInfo("container/hostname")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/hostname"
    dev = tarfile.TarInfo("container/null")
    dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
    bad = to_tar(copy, tmp_path / "bad.tar", [(dup, b"evil"), (up, b"x"), (link, None), (dev, None)])
    code, rep = verify(bad, captured.key)
    assert code == 1
    assert problems(rep) == {("unexpected", "container/fs/tmp/dropper.sh"), ("unexpected", "../escape"),
                             ("unexpected", "container/hostname"), ("unexpected", "container/null")}
    assert not (tmp_path / "escape").exists()
    # one flipped byte inside the tar
    raw = bytearray(clean.read_bytes())
    m = json.loads((copy / "manifest.json").read_text())
    target = next(a for a in m["artifacts"] if a["path"] == "container/logs.stdout.txt")
    content = (copy / target["path"]).read_bytes()
    at = raw.find(content)
    raw[at] ^= 0x20
    (tmp_path / "flip.tar").write_bytes(bytes(raw))
    code, rep = verify(tmp_path / "flip.tar", captured.key)
    assert code == 1 and problems(rep) == {("changed", "container/logs.stdout.txt")}


def test_verify_usage_errors_exit_2(copy: Path, captured: Captured, tmp_path: Path) -> None:
    assert verify(copy, None)[0] == 2  # no trusted signer named
    assert verify(tmp_path / "nothing", captured.key)[0] == 2
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    code, out = verify(tmp_path / "junk.tar", captured.key)
    assert code == 2 and "not a readable tar" in out["error"]
    (tmp_path / "empty").mkdir()
    assert verify(tmp_path / "empty", captured.key)[0] == 2


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
          ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name("examiner@example.test")]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def test_pki_certificate_signed_bundle(daemon: dockerd.Daemon, victim: Victim, tmp_path: Path) -> None:
    ca_key, rogue_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("Forensics CA", ca_key, "Forensics CA", ca_key, True)
    rogue = _cert("Rogue CA", rogue_key, "Rogue CA", rogue_key, True)
    leaf = _cert("examiner", leaf_key, "Forensics CA", ca_key, False)
    pair = write_key(leaf_key, tmp_path, "leaf")
    pem = serialization.Encoding.PEM
    (tmp_path / "leaf.crt").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "ca.crt").write_bytes(ca.public_bytes(pem))
    (tmp_path / "rogue.crt").write_bytes(rogue.public_bytes(pem))
    out = tmp_path / "b"
    r = run("forensics", "capture", victim.name, "-H", daemon.host, "-o", str(out), "--key", str(pair.private),
            "--cert", str(tmp_path / "leaf.crt"), "--no-memory")
    assert r.exit_code == 0, r.output
    assert json.loads((out / "manifest.json").read_text())["signer"]["certificate"]["subject"] == "CN=examiner"
    code, rep = verify(out, None, "--ca", str(tmp_path / "ca.crt"))
    assert code == 0, rep
    code, rep = verify(out, None, "--ca", str(tmp_path / "rogue.crt"))
    assert code == 1 and any(p["detail"].startswith("signer certificate:") for p in rep["problems"])
    # a certificate that is not the key's is refused before anything is captured
    r = run("forensics", "capture", victim.name, "-H", daemon.host, "-o", str(tmp_path / "c"), "--key",
            str(pair.private), "--cert", str(tmp_path / "ca.crt"))
    assert r.exit_code == 2 and "does not belong" in r.output and not (tmp_path / "c").exists()
