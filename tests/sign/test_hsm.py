"""Signing with an ECDSA key generated inside a SoftHSM2 token; the signature verifies with its public key.

Each mamori call runs in a child process: SoftHSM2 reads SOFTHSM2_CONF once per process, and the
crypto tests may already have initialised it with their own token directory in this one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from mamori.sign import keys
from mamori.sign.verifier import TrustPolicy, verify_image
from tests.components import unavailable
from tests.sign.conftest import OPTS

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "hsm-sign-pin-3e9a"
TOKEN = "mamori-sign"


def mamori(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from mamori.cli.main import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_sign_with_a_token_key(tmp_path: Path, image: str) -> None:
    util = shutil.which("softhsm2-util")
    if util is None or not os.path.exists(MODULE):
        unavailable("SoftHSM2", "Debian package softhsm2 is not installed (softhsm2-util, libsofthsm2.so)")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf), "MAMORI_PKCS11_MODULE": MODULE, "MAMORI_PKCS11_PIN": PIN}
    subprocess.run([util, "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "so-5678"],
                   check=True, capture_output=True, env=env)
    uri = f"pkcs11:token={TOKEN};object=signer"
    r = mamori(env, "sign", "keygen", "--pkcs11", uri, "--output-key-prefix", str(tmp_path / "hsm"))
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "hsm.key").exists()
    r = mamori(env, "sign", "keygen", "--pkcs11", uri, "--output-key-prefix", str(tmp_path / "again"))
    assert r.returncode == 2 and "already has an object" in r.stderr
    probe = subprocess.run([sys.executable, "-c", (
        "import pkcs11; from pkcs11 import Attribute, KeyType, ObjectClass\n"
        f"s = pkcs11.lib({MODULE!r}).get_token(token_label={TOKEN!r}).open(user_pin={PIN!r})\n"
        "k = s.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, label='signer')\n"
        "print(k[Attribute.SENSITIVE], k[Attribute.EXTRACTABLE])")], capture_output=True, text=True, env=env,
        check=True, timeout=60)
    assert probe.stdout.split() == ["True", "False"]
    r = mamori(env, "sign", image, "--key", uri, "--insecure")
    assert r.returncode == 0, r.stderr
    pub = keys.load_public((tmp_path / "hsm.pub").read_bytes())
    report = verify_image(image, TrustPolicy(keys={"hsm": pub}), OPTS)
    assert report.ok and report.signers == ("hsm",)
    other = TrustPolicy(keys={"other": keys.generate().public_key()})
    assert not verify_image(image, other, OPTS).ok
    r = mamori({**env, "MAMORI_PKCS11_PIN": "wrong-pin"}, "sign", image, "--key", uri, "--insecure")
    assert r.returncode == 2 and "wrong PIN" in r.stderr and "Traceback" not in r.stderr
    r = mamori(env, "sign", image, "--key", f"pkcs11:token={TOKEN};object=absent", "--insecure")
    assert r.returncode == 2 and "no single EC key" in r.stderr
