"""Planted passphrases, PINs and plaintext never appear in any output of the seal commands, even on errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mamori.crypto import SealError, unseal_stream
from mamori.crypto.keyring import Keyring, KeyringError
from mamori.secrets import Secret

PASS = "pl4nted-env-passphrase-77f0"
PLAIN = "pl4nted-file-content-a9d4"


def mamori(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mamori.cli.main", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_env_passphrase_works_is_called_weak_and_never_printed(tmp_path: Path) -> None:
    env = {"MAMORI_KEYRING": str(tmp_path / "kr.json"), "MAMORI_KEYRING_PASSPHRASE": PASS}
    (tmp_path / "f").write_text(PLAIN * 100)
    steps = [
        mamori(env, "seal", "keyring", "init", "--scrypt-n", "16384"),
        mamori(env, "seal", str(tmp_path / "f"), "--context", "k=v"),
        mamori(env, "seal", "inspect", str(tmp_path / "f.sealed")),
        mamori(env, "unseal", str(tmp_path / "f.sealed"), "-o", str(tmp_path / "g"), "--context", "k=v"),
        mamori(env, "unseal", str(tmp_path / "f.sealed"), "-o", str(tmp_path / "h"), "--context", "k=w"),
        mamori({**env, "MAMORI_KEYRING_PASSPHRASE": PASS + "-wrong"}, "unseal", str(tmp_path / "f.sealed"), "-o",
               str(tmp_path / "i")),
    ]
    assert [p.returncode for p in steps] == [0, 0, 0, 0, 2, 2]
    assert (tmp_path / "g").read_text() == PLAIN * 100
    for p in steps:
        assert PASS not in p.stdout + p.stderr and PLAIN not in p.stdout + p.stderr and "Traceback" not in p.stderr
    assert "$MAMORI_KEYRING_PASSPHRASE" in steps[1].stderr and "environment" in steps[1].stderr  # weak, said so


def test_library_errors_hold_no_secret(tmp_path: Path) -> None:
    ring = Keyring.create(str(tmp_path / "kr.json"), Secret(PASS), n=1 << 14)
    with pytest.raises(KeyringError) as exc:
        Keyring.open(ring.path, Secret(PASS[::-1]))
    text = f"{exc.value!s} {exc.value!r}"
    assert PASS not in text and PASS[::-1] not in text
    with open(os.devnull, "rb") as src, open(os.devnull, "wb") as dst, pytest.raises(SealError) as exc2:
        unseal_stream(src, dst, [ring.wrapper()])
    assert PASS not in repr(exc2.value)
    assert PASS not in repr(ring.__dict__)  # the keyring keeps the derived key, not the passphrase
