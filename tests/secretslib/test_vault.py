"""Vault client and KV v2 provider against a fake Vault following the documented API (see fake_vault.py)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.secrets import ProviderSource, SecretNotFound, SecretStore, SourceKind
from mamori.secrets.providers import VaultClient, VaultError, VaultKV
from tests.secretslib.fake_vault import VaultState, fake_vault

TOKEN = "hvs.pl4nted-vault-token-8e2b"
VALUE = "pl4nted-vault-value-2c7d"


@pytest.fixture
def vault() -> Iterator[tuple[str, VaultState]]:
    with fake_vault() as (addr, state):
        state.tokens[TOKEN] = ("secret/data/app/", "transit/")
        yield addr, state


def test_kv_v2_read_through_a_store(vault: tuple[str, VaultState]) -> None:
    addr, state = vault
    state.kv_put("app/db-password", {"value": "old"})
    state.kv_put("app/db-password", {"value": VALUE})
    with VaultClient(addr, TOKEN) as client, SecretStore([ProviderSource(VaultKV(client, prefix="app"))]) as store:
        s = store.get("db-password")
        assert s.reveal() == VALUE and s.source is SourceKind.PROVIDER and s.origin.version == "2"
        assert client.kv_read("app/db-password", version=1)[0] == {"value": "old"}
        with pytest.raises(SecretNotFound):
            store.get("absent")
    assert ("GET", "secret/data/app/db-password") in state.requests


def test_policy_denial_is_clear_and_does_not_show_the_token(vault: tuple[str, VaultState],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    addr, state = vault
    state.kv_put("other/thing", {"value": VALUE})
    with VaultClient(addr, TOKEN) as client, pytest.raises(VaultError) as exc:
        client.kv_read("other/thing")
    assert exc.value.status == 403 and "permission denied" in str(exc.value)
    assert TOKEN not in str(exc.value) and VALUE not in str(exc.value)
    assert TOKEN not in repr(client.__dict__)


def test_kubernetes_login(vault: tuple[str, VaultState], tmp_path: Path) -> None:
    addr, state = vault
    jwt = tmp_path / "token"
    jwt.write_text("eyJhbGciOiJSUzI1NiJ9.pl4nted-sa-jwt.sig\n")
    state.k8s_roles["web"] = ("eyJhbGciOiJSUzI1NiJ9.pl4nted-sa-jwt.sig", ("secret/data/web/",))
    state.kv_put("web/api-key", {"value": VALUE})
    with VaultClient(addr, token=None) as client:
        client.login_kubernetes("web", jwt_path=str(jwt))
        assert client.kv_read("web/api-key")[0]["value"] == VALUE
        with pytest.raises(VaultError) as exc:
            client.login_kubernetes("nope", jwt_path=str(jwt))
    assert "invalid role" in str(exc.value) and "pl4nted-sa-jwt" not in str(exc.value)


def test_transit_encrypt_decrypt_datakey_rewrap(vault: tuple[str, VaultState]) -> None:
    addr, state = vault
    state.transit_key("files")
    with VaultClient(addr, TOKEN) as client:
        ct = client.transit_encrypt("files", b"data key bytes")
        assert ct.startswith("vault:v1:") and client.transit_decrypt("files", ct) == b"data key bytes"
        plain, wrapped = client.transit_datakey("files")
        assert len(plain) == 32 and client.transit_decrypt("files", wrapped) == plain
        state.rotate("files")
        new = client.transit_rewrap("files", ct)
        assert new.startswith("vault:v2:") and client.transit_decrypt("files", new) == b"data key bytes"
        with pytest.raises(VaultError) as exc:
            client.transit_decrypt("files", "vault:v1:" + "A" * 40)
        assert exc.value.status == 400


def test_unreachable_vault_and_bad_paths(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with caplog.at_level(logging.DEBUG), VaultClient(f"http://127.0.0.1:{port}", TOKEN, timeout=2) as client:
        with pytest.raises(VaultError) as exc:
            client.kv_read("app/x")
        assert "unreachable" in str(exc.value) and exc.value.status == 0
        with pytest.raises(VaultError):
            client.kv_read("../sys/raw")
    assert TOKEN not in caplog.text
    with pytest.raises(VaultError):
        VaultClient("not-a-url", TOKEN)
