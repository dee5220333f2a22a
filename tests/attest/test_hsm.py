"""Attesting with an ECDSA key inside a SoftHSM2 token (`--hsm pkcs11:...`); the envelope verifies with its public key.

Each mamori call runs in a child process, as in tests/sign/test_hsm.py (SoftHSM2 reads its config once).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from mamori.attest import statement
from mamori.attest.verify import verify_attestations
from mamori.sign import keys
from mamori.sign.verifier import TrustPolicy
from tests.components import unavailable
from tests.sign.conftest import OPTS
from tests.sign.test_hsm import MODULE, mamori

PIN = "hsm-attest-pin-7c21"
TOKEN = "mamori-attest"


def test_attest_with_a_token_key(tmp_path: Path, image: str) -> None:
    util = shutil.which("softhsm2-util")
    if util is None or not os.path.exists(MODULE):
        unavailable("SoftHSM2", "Debian package softhsm2 is not installed (softhsm2-util, libsofthsm2.so)")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf), "MAMORI_PKCS11_MODULE": MODULE, "MAMORI_PKCS11_PIN": PIN}
    subprocess.run([util, "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "so-5678"],
                   check=True, capture_output=True, env=env)
    uri = f"pkcs11:token={TOKEN};object=approver"
    r = mamori(env, "sign", "keygen", "--pkcs11", uri, "--output-key-prefix", str(tmp_path / "hsm"))
    assert r.returncode == 0, r.stderr
    r = mamori(env, "attest", image, "--type", "approval", "--environment", "prod", "--approver", "qa@acme.test",
               "--hsm", uri, "--insecure")
    assert r.returncode == 0, r.stderr
    pub = keys.load_public((tmp_path / "hsm.pub").read_bytes())
    report = verify_attestations(image, TrustPolicy(keys={"hsm": pub}), OPTS, statement.APPROVAL)
    assert report.ok and report.verified()[0].signer == "hsm"
    assert not verify_attestations(image, TrustPolicy(keys={"x": keys.generate().public_key()}), OPTS,
                                   statement.APPROVAL).ok
    r = mamori(env, "attest", image, "--type", "approval", "--environment", "prod", "--approver", "qa",
               "--hsm", uri, "--key", str(tmp_path / "hsm.pub"), "--insecure")
    assert r.returncode == 2 and "exactly one of --key and --hsm" in r.stderr
