"""The passphrase keyring: recorded scrypt parameters, wrong passphrase, rotation, retirement, file mode."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from mamori.crypto import KeyUnavailable, seal_stream, unseal_stream
from mamori.crypto.keyring import Keyring, KeyringError
from mamori.secrets import Secret
from tests.crypto.conftest import PASSPHRASE


def test_file_records_kdf_and_holds_no_plain_key(ring: Keyring) -> None:
    raw = Path(ring.path).read_text()
    doc = json.loads(raw)
    assert doc["kdf"]["name"] == "scrypt" and doc["kdf"]["n"] == 1 << 14 and doc["kdf"]["r"] == 8
    assert stat.S_IMODE(os.stat(ring.path).st_mode) == 0o600
    assert PASSPHRASE not in raw and doc["active"] == ring.active


def test_wrong_passphrase_and_tampered_keyring(ring: Keyring) -> None:
    with pytest.raises(KeyringError) as exc:
        Keyring.open(ring.path, Secret("not the passphrase"))
    assert "wrong passphrase" in str(exc.value) and PASSPHRASE not in str(exc.value)
    doc = json.loads(Path(ring.path).read_text())
    doc["keys"][0]["id"] = "kr-forged"
    doc["active"] = "kr-forged"
    Path(ring.path).write_text(json.dumps(doc))
    with pytest.raises(KeyringError):  # the id is bound as AAD: renaming a key breaks it
        Keyring.open(ring.path, Secret(PASSPHRASE))
    Path(ring.path).write_text("{not json")
    with pytest.raises(KeyringError) as exc2:
        Keyring.open(ring.path, Secret(PASSPHRASE))
    assert "malformed" in str(exc2.value)


def test_rotate_then_retire(ring: Keyring) -> None:
    old = ring.active
    out = io.BytesIO()
    seal_stream(io.BytesIO(b"before rotation"), out, [ring.wrapper()])
    new = ring.rotate()
    reopened = Keyring.open(ring.path, Secret(PASSPHRASE))
    assert reopened.active == new != old and {k for k, _, _ in reopened.key_ids()} == {old, new}
    back = io.BytesIO()
    unseal_stream(io.BytesIO(out.getvalue()), back, [reopened.wrapper()])  # old key still unwraps
    assert back.getvalue() == b"before rotation"
    with pytest.raises(KeyringError):
        reopened.retire(new)  # never the active key
    reopened.retire(old)
    with pytest.raises(KeyUnavailable) as exc:
        unseal_stream(io.BytesIO(out.getvalue()), io.BytesIO(), [Keyring.open(ring.path, Secret(PASSPHRASE)).wrapper()])
    assert old in str(exc.value)


def test_create_refuses_existing_and_short_passphrase(ring: Keyring, tmp_path: Path) -> None:
    with pytest.raises(KeyringError):
        Keyring.create(ring.path, Secret(PASSPHRASE), n=1 << 14)
    with pytest.raises(KeyringError):
        Keyring.create(str(tmp_path / "k2.json"), Secret("short"), n=1 << 14)


def test_hostile_kdf_parameters_refused(ring: Keyring) -> None:
    doc = json.loads(Path(ring.path).read_text())
    doc["kdf"]["n"] = 1 << 30  # would allocate a terabyte
    Path(ring.path).write_text(json.dumps(doc))
    with pytest.raises(KeyringError) as exc:
        Keyring.open(ring.path, Secret(PASSPHRASE))
    assert "out of range" in str(exc.value)
