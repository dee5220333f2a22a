"""mamori pki: CA creation, leaves, EKU, expiry, revocation and CRL, chain checks, CLI without tracebacks."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from mamori.cli.main import cli
from mamori.pki import ca
from mamori.pki.errors import PkiError
from mamori.pki.store import PkiDir
from mamori.pki.verify import verify_chain

PASS = b"pki-pass-9f3e1c"


def make(tmp: Path, algorithm: str = "ecdsa-p256", name: str = "pki") -> PkiDir:
    store = PkiDir(tmp / name)
    ca.init(store, PASS, "Acme", algorithm)
    return store


def leaf(store: PkiDir, kind: str = "codesign", **kw: object) -> x509.Certificate:
    key = ca.new_key("ecdsa-p256")
    if kind == "codesign" and "emails" not in kw and "uris" not in kw:
        kw["emails"] = ("dev@acme.test",)
    return ca.issue(store, PASS, ca.LeafRequest(kind, **kw), key.public_key())  # type: ignore[arg-type]


def check(store: PkiDir, cert: x509.Certificate, **kw: object) -> tuple[bool, str]:
    res = verify_chain(cert, [store.cert("intermediate")], [store.cert("root")], **kw)  # type: ignore[arg-type]
    return res.ok, res.reason


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "ed25519"])
def test_init_layout_and_encrypted_keys(tmp_path: Path, algorithm: str) -> None:
    store = make(tmp_path, algorithm)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o700
    for name in ("root", "intermediate"):
        data = store.file(f"{name}.key").read_bytes()
        assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert stat.S_IMODE(store.file(f"{name}.key").stat().st_mode) == 0o600
        with pytest.raises(TypeError):
            serialization.load_pem_private_key(data, None)
        with pytest.raises(PkiError, match="wrong passphrase"):
            store.key(name, b"not-it")
        assert store.key(name, PASS).public_key() == store.cert(name).public_key()
    root, inter = store.cert("root"), store.cert("intermediate")
    inter.verify_directly_issued_by(root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert inter.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert x509.load_pem_x509_certificates(store.file("chain.pem").read_bytes()) == [inter, root]
    with pytest.raises(PkiError, match="already holds"):
        ca.init(store, PASS, "Acme")


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "ed25519"])
def test_codesign_and_workload_profiles(tmp_path: Path, algorithm: str) -> None:
    store = make(tmp_path, algorithm)
    cs = leaf(store, emails=("dev@acme.test",))
    wl = leaf(store, "workload", uris=("spiffe://acme.test/ns/shop/sa/web",), dns=("web.shop.svc",))
    assert check(store, cs, eku="codesign") == (True, "valid chain to a trusted root")
    assert check(store, wl, eku="server")[0] and check(store, wl, eku="client")[0]
    ok, reason = check(store, wl, eku="codesign")
    assert not ok and "not for codesign" in reason and "serverAuth" in reason
    ok, reason = check(store, cs, eku="server")
    assert not ok and "codeSigning" in reason
    eku = list(cs.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert eku == [ExtendedKeyUsageOID.CODE_SIGNING]
    assert cs.not_valid_after_utc - cs.not_valid_before_utc == ca.CODESIGN_LIFETIME
    assert wl.not_valid_after_utc - wl.not_valid_before_utc == ca.WORKLOAD_LIFETIME
    sans = wl.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://acme.test/ns/shop/sa/web"]
    assert check(store, cs, allowed_identities=("dev@acme.test",))[0]
    ok, reason = check(store, cs, allowed_identities=("qa@acme.test",))
    assert not ok and "qa@acme.test" in reason
    index = store.index()
    assert {e.kind for e in index.values()} == {"codesign", "workload"}
    assert index[format(cs.serial_number, "x")].identities == ("dev@acme.test",)


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "ed25519"])
def test_expired_and_not_yet_valid(tmp_path: Path, algorithm: str) -> None:
    store = make(tmp_path, algorithm)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    old = leaf(store, not_before=past, lifetime=dt.timedelta(days=1))
    ok, reason = check(store, old, eku="codesign")
    assert not ok and "not valid" in reason
    fresh = leaf(store)
    assert check(store, fresh, at=dt.datetime.now(dt.UTC) + dt.timedelta(days=31))[0] is False
    assert check(store, fresh, at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))[0] is False


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "ed25519"])
def test_revocation_and_crl(tmp_path: Path, algorithm: str) -> None:
    store = make(tmp_path, algorithm)
    bad, good = leaf(store), leaf(store, emails=("qa@acme.test",))
    pem = ca.revoke(store, PASS, format(bad.serial_number, "x"), "keyCompromise")
    crl = x509.load_pem_x509_crl(pem)
    inter = store.cert("intermediate")
    assert crl.issuer == inter.subject and crl.is_signature_valid(inter.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(bad.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(good.serial_number) is None
    ok, reason = check(store, bad, crls=[crl])
    assert not ok and "revoked" in reason
    assert check(store, good, crls=[crl])[0]
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    again = x509.load_pem_x509_crl(ca.crl(store, PASS))
    assert again.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number + 1
    assert store.index()[format(bad.serial_number, "x")].revoked_at is not None
    with pytest.raises(PkiError, match="not issued"):
        ca.revoke(store, PASS, "abcdef", None)


def test_crl_of_another_ca_is_ignored_and_stale_crl_fails(tmp_path: Path) -> None:
    store, other = make(tmp_path), make(tmp_path, name="other")
    cert = leaf(store)
    foreign = x509.load_pem_x509_crl(ca.crl(other, PASS))
    assert check(store, cert, crls=[foreign])[0]
    own = x509.load_pem_x509_crl(ca.crl(store, PASS))
    ok, reason = check(store, cert, crls=[own], at=dt.datetime.now(dt.UTC) + dt.timedelta(days=8))
    assert not ok and "CRL" in reason


def test_untrusted_roots_and_forged_intermediate(tmp_path: Path) -> None:
    store, other = make(tmp_path), make(tmp_path, name="other")
    cert = leaf(store)
    res = verify_chain(cert, [store.cert("intermediate")], [other.cert("root")])
    assert not res.ok and "no valid path" in res.reason
    assert not verify_chain(cert, [], [store.cert("root")]).ok
    # the other PKI's intermediate has the same subject name but a different key
    assert not verify_chain(cert, [other.cert("intermediate")], [store.cert("root")]).ok
    assert verify_chain(cert, [store.cert("intermediate")], []).reason == "no trusted root configured"


@pytest.mark.parametrize("req", [
    ca.LeafRequest("codesign", emails=("a@b.test", "c@d.test")),
    ca.LeafRequest("codesign"),
    ca.LeafRequest("codesign", emails=("not an email",)),
    ca.LeafRequest("workload", uris=("https://not-spiffe.test/x",)),
    ca.LeafRequest("workload", uris=("spiffe://acme.test/x",), dns=("bad..name",)),
    ca.LeafRequest("codesign", emails=("a@b.test",), lifetime=dt.timedelta(days=900)),
    ca.LeafRequest("other", emails=("a@b.test",)),
])
def test_bad_requests_refused(tmp_path: Path, req: ca.LeafRequest) -> None:
    store = make(tmp_path)
    with pytest.raises(PkiError):
        ca.issue(store, PASS, req, ca.new_key("ecdsa-p256").public_key())
    assert store.index() == {}


def test_group_readable_dir_refused(tmp_path: Path) -> None:
    store = make(tmp_path)
    os.chmod(store.path, 0o750)
    with pytest.raises(PkiError, match="chmod 700"):
        leaf(store)


def test_cli_round_trip_without_leaking_the_passphrase(tmp_path: Path) -> None:
    secret = "cli-pki-pass-5d2a77"
    env = {"MAMORI_PKI_PASSPHRASE": secret, "COSIGN_PASSWORD": "leaf-pass-1b2c", "MAMORI_HOME": str(tmp_path)}
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        r = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        out = r.output + (r.stderr if r.stderr_bytes is not None else "")
        assert secret not in out and "leaf-pass-1b2c" not in out
        assert "Traceback" not in out
        return r.exit_code, out

    assert run("pki", "init", "--org", "Acme")[0] == 0
    assert (tmp_path / "pki" / "root.crt").exists()
    code, out = run("pki", "issue", "codesign", "--email", "dev@acme.test", "--out", str(tmp_path / "dev"))
    assert code == 0, out
    assert (tmp_path / "dev.key").read_bytes().startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    code, out = run("pki", "verify", str(tmp_path / "dev.crt"), "--eku", "codesign", "--identity", "dev@acme.test")
    assert code == 0 and out.startswith("VALID"), out
    code, out = run("pki", "verify", str(tmp_path / "dev.crt"), "--eku", "server")
    assert code == 1 and "INVALID" in out
    code, out = run("pki", "inspect", str(tmp_path / "dev.crt"), "-f", "json")
    info = json.loads(out)
    assert info["identities"] == ["dev@acme.test"] and info["eku"] == ["codeSigning"]
    code, out = run("pki", "revoke", info["serial"], "--reason", "superseded")
    assert code == 0, out
    code, out = run("pki", "verify", str(tmp_path / "dev.crt"))
    assert code == 1 and "revoked" in out
    code, out = run("pki", "list", "-f", "json")
    assert json.loads(out)[0]["reason"] == "superseded"
    code, out = run("pki", "issue", "workload", "--spiffe", "spiffe://acme.test/ns/a/sa/b", "--plain-key",
                    "--out", str(tmp_path / "wl"))
    assert code == 0 and (tmp_path / "wl.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE((tmp_path / "wl.key").stat().st_mode) == 0o600
    code, out = run("pki", "verify", str(tmp_path / "wl.crt"), "--eku", "client")
    assert code == 0, out


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["pki", "init", "--dir", str(tmp_path / "p")], env={"MAMORI_PKI_PASSPHRASE": None})
    assert r.exit_code == 2 and "no passphrase" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, ["pki", "init", "--dir", str(tmp_path / "p")], env={"MAMORI_PKI_PASSPHRASE": "short"})
    assert r.exit_code == 2 and "at least 12" in r.output and not (tmp_path / "p").exists()
    r = runner.invoke(cli, ["pki", "issue", "codesign", "--email", "a@b.test", "--dir", str(tmp_path / "none"),
                            "--out", str(tmp_path / "x")], env={"MAMORI_PKI_PASSPHRASE": "x"})
    assert r.exit_code == 2 and "mamori pki init" in r.output
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    r = runner.invoke(cli, ["pki", "inspect", str(junk)])
    assert r.exit_code == 2 and "no valid PEM certificate" in r.output
    store = make(tmp_path)
    r = runner.invoke(cli, ["pki", "crl", "--dir", str(store.path)], env={"MAMORI_PKI_PASSPHRASE": "wrong"})
    assert r.exit_code == 2 and "wrong passphrase" in r.output
