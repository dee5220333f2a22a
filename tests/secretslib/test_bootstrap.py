"""The bootstrap path of CSA-3.1.10.3: the workload's identity opens the KMS, then secrets are made on demand.

1. The pod's service-account token (its identity, mounted by Kubernetes) logs in to Vault;
   no secret was baked into the image or the manifest.
2. The database password is *generated* for this workload by Vault's database engine through
   the provider interface: nothing existed before the call, each workload gets its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.secrets import ProviderSource, SecretStore, SourceKind
from mamori.secrets.providers import VaultClient, VaultDatabase, VaultError
from tests.secretslib.fake_vault import VaultState, fake_vault

JWT = "eyJhbGciOiJSUzI1NiJ9.pl4nted-bootstrap-jwt.sig"


@pytest.fixture
def vault() -> Iterator[tuple[str, VaultState]]:
    with fake_vault() as (addr, state):
        state.db_roles.add("shop-app")
        state.k8s_roles["shop"] = (JWT, ("database/creds/shop-app",))
        state.k8s_roles["other"] = ("eyJ.other.sig", ("secret/data/other/",))
        yield addr, state


def test_identity_first_then_dynamic_credentials(vault: tuple[str, VaultState], tmp_path: Path) -> None:
    addr, state = vault
    token = tmp_path / "token"
    token.write_text(JWT + "\n")
    with VaultClient(addr, token=None) as client:
        client.login_kubernetes("shop", jwt_path=str(token))
        provider = VaultDatabase(client, roles={"db-password": "shop-app"})
        with SecretStore([ProviderSource(provider, ttl=0.001)]) as store:
            first = store.get("db-password")
            assert first.origin.kind is SourceKind.PROVIDER and first.origin.version.startswith(
                "database/creds/shop-app/")
            user, password = state.issued[-1]
            assert first.reveal() == password and provider.last_username["db-password"] == user
            assert password not in repr(first) and password not in str(first)
            import time

            time.sleep(0.01)
            second = store.get("db-password")  # after the TTL: a new lease, a new credential
            assert second.reveal() != password and len(state.issued) == 2


def test_an_identity_without_the_policy_gets_nothing(vault: tuple[str, VaultState], tmp_path: Path) -> None:
    addr, state = vault
    token = tmp_path / "token"
    token.write_text("eyJ.other.sig")
    with VaultClient(addr, token=None) as client:
        client.login_kubernetes("other", jwt_path=str(token))
        with pytest.raises(VaultError) as exc:
            VaultDatabase(client).fetch("shop-app")
    assert "permission denied" in str(exc.value) and not state.issued
