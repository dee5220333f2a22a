"""Vault transit as the KMS: seal, unseal, rewrap inside Vault after key rotation, policy denial.

The fake Vault follows the documented transit API (see tests/secretslib/fake_vault.py for the URLs).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mamori.cli.main import cli
from mamori.crypto import KeyUnavailable, SealError, seal_stream, unseal_stream
from mamori.crypto.kms import VaultTransitKey
from mamori.secrets.providers import VaultClient
from tests.secretslib.fake_vault import VaultState, fake_vault

TOKEN = "hvs.pl4nted-transit-token-13aa"
READ_ONLY = "hvs.pl4nted-no-transit-token"


@pytest.fixture
def vault() -> Iterator[tuple[str, VaultState]]:
    with fake_vault() as (addr, state):
        state.tokens[TOKEN] = ("transit/",)
        state.tokens[READ_ONLY] = ("secret/",)
        state.transit_key("files")
        yield addr, state


def test_seal_unseal_with_transit(vault: tuple[str, VaultState]) -> None:
    addr, state = vault
    with VaultClient(addr, TOKEN) as client:
        kms = VaultTransitKey(client, "files")
        out = io.BytesIO()
        seal_stream(io.BytesIO(b"kms protected"), out, [kms], context={"tenant": "a"})
        back = io.BytesIO()
        unseal_stream(io.BytesIO(out.getvalue()), back, [kms], context={"tenant": "a"})
    assert back.getvalue() == b"kms protected"
    assert ("POST", "transit/encrypt/files") in state.requests and ("POST", "transit/decrypt/files") in state.requests


def test_policy_decides_who_may_unseal(vault: tuple[str, VaultState]) -> None:
    addr, _ = vault
    out = io.BytesIO()
    with VaultClient(addr, TOKEN) as client:
        seal_stream(io.BytesIO(b"x"), out, [VaultTransitKey(client, "files")])
    with VaultClient(addr, READ_ONLY) as other, pytest.raises(KeyUnavailable) as exc:
        unseal_stream(io.BytesIO(out.getvalue()), io.BytesIO(), [VaultTransitKey(other, "files")])
    assert "permission denied" in str(exc.value) and READ_ONLY not in str(exc.value)
    with VaultClient(addr, READ_ONLY) as other, pytest.raises(SealError):
        seal_stream(io.BytesIO(b"x"), io.BytesIO(), [VaultTransitKey(other, "files")])


def test_cli_rewrap_inside_vault_after_rotation(vault: tuple[str, VaultState], tmp_path: Path) -> None:
    addr, state = vault
    env = {"VAULT_ADDR": addr, "VAULT_TOKEN": TOKEN}
    src = tmp_path / "db.dump"
    src.write_bytes(b"rows " * 30000)
    runner = CliRunner()
    r = runner.invoke(cli, ["seal", str(src), "--key", "vault-transit:files"], env=env)
    assert r.exit_code == 0, r.output
    sealed = tmp_path / "db.dump.sealed"
    before = sealed.read_bytes()
    state.rotate("files")
    state.requests.clear()
    r = runner.invoke(cli, ["seal", "rewrap", str(sealed), "--key", "vault-transit:files"], env=env)
    assert r.exit_code == 0, r.output
    assert ("POST", "transit/rewrap/files") in state.requests
    assert ("POST", "transit/decrypt/files") not in state.requests  # the data key never left Vault
    info = json.loads(runner.invoke(cli, ["seal", "inspect", str(sealed)]).output)
    assert info["recipients"][0]["params"]["version"] == "2"
    assert sealed.read_bytes()[-50_000:] == before[-50_000:]
    r = runner.invoke(cli, ["unseal", str(sealed), "-o", str(tmp_path / "out")], env=env)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out").read_bytes() == src.read_bytes()
    r = runner.invoke(cli, ["unseal", str(sealed), "-o", str(tmp_path / "o2")], env={**env, "VAULT_TOKEN": READ_ONLY})
    assert r.exit_code == 2 and "permission denied" in r.output and "Traceback" not in r.output
    assert TOKEN not in r.output and READ_ONLY not in r.output
