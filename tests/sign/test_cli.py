"""mamori sign keygen / sign / verify end to end through the CLI, with exit codes and no secret in any output."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from mamori.cli.main import cli
from mamori.sign import keys

KEY_PASS = "key-pass-61e0b2"
PKI_PASS = "pki-pass-0a9d4c"


def run(tmp: Path, *args: str, **env: str | None) -> Result:
    full: dict[str, str | None] = {"COSIGN_PASSWORD": KEY_PASS, "MAMORI_PKI_PASSPHRASE": PKI_PASS,
                                   "MAMORI_HOME": str(tmp), "MAMORI_SIGN_PASSPHRASE": None, **env}
    r = CliRunner().invoke(cli, list(args), env=full, catch_exceptions=False)
    out = r.output
    assert KEY_PASS not in out and PKI_PASS not in out and "Traceback" not in out
    return r


def test_keygen_sign_verify(tmp_path: Path, image: str) -> None:
    prefix = str(tmp_path / "cosign")
    assert run(tmp_path, "sign", "keygen", "--output-key-prefix", prefix).exit_code == 0
    pem = Path(prefix + ".key").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert (Path(prefix + ".key").stat().st_mode & 0o777) == 0o600
    assert keys.public_pem(keys.load_private(pem, KEY_PASS.encode())) == Path(prefix + ".pub").read_bytes()
    assert run(tmp_path, "sign", "keygen", "--output-key-prefix", prefix).exit_code == 2  # no overwrite
    r = run(tmp_path, "sign", image, "--key", prefix + ".key", "--insecure", "-a", "stage=build")
    assert r.exit_code == 0 and "1 signature" in r.output, r.output
    r = run(tmp_path, "verify", image, "--key", prefix + ".pub", "--insecure", "-f", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["verified"] and doc["signers"] == ["cosign"] and doc["digest"].startswith("sha256:")
    other = str(tmp_path / "other")
    run(tmp_path, "sign", "keygen", "--output-key-prefix", other, "--label", "cosign")
    assert Path(other + ".key").read_bytes().startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    r = run(tmp_path, "verify", image, "--key", other + ".pub", "--insecure")
    assert r.exit_code == 1 and r.output.startswith("NOT VERIFIED") and "FAILED" in r.output
    r = run(tmp_path, "sign", image, "--key", prefix + ".key", "--insecure", COSIGN_PASSWORD="wrong")
    assert r.exit_code == 2 and "wrong passphrase" in r.output


def test_pki_certificate_signing_through_the_cli(tmp_path: Path, image: str) -> None:
    assert run(tmp_path, "pki", "init", "--org", "Acme").exit_code == 0
    out = str(tmp_path / "ci")
    r = run(tmp_path, "pki", "issue", "codesign", "--uri", "https://ci.acme.test/pipelines/build", "--out", out)
    assert r.exit_code == 0, r.output
    pki = str(tmp_path / "pki")
    r = run(tmp_path, "sign", image, "--key", out + ".key", "--cert", out + ".crt", "--chain", out + ".chain.pem",
            "--insecure")
    assert r.exit_code == 0, r.output
    r = run(tmp_path, "verify", image, "--pki", pki, "--identity", "https://ci.acme.test/pipelines/build",
            "--insecure")
    assert r.exit_code == 0 and "https://ci.acme.test/pipelines/build" in r.output, r.output
    r = run(tmp_path, "verify", image, "--pki", pki, "--require", "qa@acme.test", "--insecure")
    assert r.exit_code == 1 and "qa@acme.test" in r.output
    serial = json.loads(run(tmp_path, "pki", "inspect", out + ".crt", "-f", "json").output)["serial"]
    assert run(tmp_path, "pki", "revoke", serial).exit_code == 0
    r = run(tmp_path, "verify", image, "--pki", pki, "--insecure")  # --pki picks up crl.pem
    assert r.exit_code == 1 and "revoked" in r.output


def test_cli_errors(tmp_path: Path, image: str) -> None:
    r = run(tmp_path, "verify", image, "--insecure")
    assert r.exit_code == 2 and "no trusted key or root" in r.output
    junk = tmp_path / "junk.key"
    junk.write_text("hello")
    r = run(tmp_path, "sign", image, "--key", str(junk), "--insecure")
    assert r.exit_code == 2 and "no PEM block" in r.output
    pub = tmp_path / "k.pub"
    pub.write_bytes(keys.public_pem(keys.generate()))
    r = run(tmp_path, "verify", "127.0.0.1:1/none:1", "--key", str(pub), "--insecure")
    assert r.exit_code == 1 and "cannot reach" in r.output
    r = run(tmp_path, "sign", "keygen", "--output-key-prefix", str(tmp_path / "x"), COSIGN_PASSWORD=None)
    assert r.exit_code == 2 and "no key passphrase" in r.output
