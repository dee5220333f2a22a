"""CA keys generated inside a SoftHSM2 token: certificates and CRLs signed there, no key file on disk.

mamori runs in child processes: SoftHSM2 reads SOFTHSM2_CONF once per process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cryptography import x509

from mamori.pki.store import PkiDir
from mamori.pki.verify import verify_chain
from tests.components import unavailable

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "hsm-ca-pin-77c2"
TOKEN = "mamori-ca"


def test_ca_keys_in_a_token(tmp_path: Path) -> None:
    util = shutil.which("softhsm2-util")
    if util is None or not os.path.exists(MODULE):
        unavailable("SoftHSM2", "Debian package softhsm2 is not installed (softhsm2-util, libsofthsm2.so)")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf), "MAMORI_PKCS11_MODULE": MODULE, "MAMORI_PKCS11_PIN": PIN,
           "MAMORI_PKI_PASSPHRASE": "", "COSIGN_PASSWORD": ""}
    subprocess.run([util, "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "so-4321"],
                   check=True, capture_output=True, env=env)
    pki = tmp_path / "pki"

    def mamori(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-c", "from mamori.cli.main import main; main()", *args],
                           capture_output=True, text=True, env={**env, **extra}, timeout=120, check=False)
        assert "Traceback" not in r.stderr and PIN not in r.stdout + r.stderr
        return r

    r = mamori("pki", "init", "--dir", str(pki), "--org", "Acme", "--pkcs11", f"pkcs11:token={TOKEN};object=acme")
    assert r.returncode == 0, r.stderr
    assert not (pki / "root.key").exists() and not (pki / "intermediate.key").exists()
    assert json.loads((pki / "hsm.json").read_text()) == {"token": TOKEN, "root": "acme-root",
                                                          "intermediate": "acme-intermediate"}
    store = PkiDir(pki)
    root, inter = store.cert("root"), store.cert("intermediate")
    root.verify_directly_issued_by(root)
    inter.verify_directly_issued_by(root)
    r = mamori("pki", "issue", "codesign", "--dir", str(pki), "--email", "dev@acme.test", "--out",
               str(tmp_path / "dev"))
    assert r.returncode == 2 and "needs a passphrase" in r.stderr  # no PKI passphrase to fall back on
    r = mamori("pki", "issue", "codesign", "--dir", str(pki), "--email", "dev@acme.test", "--out",
               str(tmp_path / "dev"), COSIGN_PASSWORD="leaf-pass-1234")
    assert r.returncode == 0, r.stderr
    leaf = x509.load_pem_x509_certificate((tmp_path / "dev.crt").read_bytes())
    assert verify_chain(leaf, [inter], [root], eku="codesign").ok
    serial = format(leaf.serial_number, "x")
    r = mamori("pki", "revoke", "--dir", str(pki), serial, "--reason", "keyCompromise")
    assert r.returncode == 0, r.stderr
    crl = x509.load_pem_x509_crl((pki / "crl.pem").read_bytes())
    assert crl.is_signature_valid(inter.public_key())  # type: ignore[arg-type]
    res = verify_chain(leaf, [inter], [root], crls=[crl])
    assert not res.ok and "revoked" in res.reason
    r = mamori("pki", "crl", "--dir", str(pki), MAMORI_PKCS11_PIN="wrong-pin")
    assert r.returncode == 2 and "wrong PIN" in r.stderr
