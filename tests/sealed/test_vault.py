"""KMS bootstrap: the entrypoint logs in to Vault with the workload's identity (a service-account JWT)
and has Vault transit unwrap the bundle's data key; no Vault token is configured anywhere."""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.crypto.kms import VaultTransitKey
from mamori.crypto.stream import SealWriter
from mamori.secrets.providers import VaultClient
from tests.sealed.conftest import MARKER, assert_clean_failure, planted_app, run
from tests.secretslib.fake_vault import VaultState, fake_vault

ADMIN = "hvs.pl4nted-sealed-admin-token-55d0"
JWT = "eyJpl4nted.service-account.jwt-8c1e"


@pytest.fixture
def vault() -> Iterator[tuple[str, VaultState]]:
    with fake_vault() as (addr, state):
        state.tokens[ADMIN] = ("transit/",)
        state.transit_key("apps")
        state.k8s_roles["example-app"] = (JWT, ("transit/decrypt/apps",))
        state.k8s_roles["other-app"] = (JWT, ("secret/",))
        yield addr, state


def test_bundle_opened_by_the_workload_identity(vault: tuple[str, VaultState], tmp_path: Path, shm: Path) -> None:
    addr, state = vault
    app = planted_app(tmp_path)
    bundle = tmp_path / "app.sealed"
    with VaultClient(addr, ADMIN) as client, open(bundle, "wb") as fh, \
            SealWriter(fh, [VaultTransitKey(client, "apps")], context={"app": "example"}, kind="tar") as w, \
            tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        tar.add(str(app), arcname=".")
    shutil.rmtree(app)
    jwt = tmp_path / "sa-token"
    jwt.write_text(JWT + "\n")
    env = {"VAULT_ADDR": addr, "MAMORI_VAULT_K8S_ROLE": "example-app", "MAMORI_VAULT_K8S_JWT_FILE": str(jwt)}
    state.requests.clear()
    r = run(["--bundle", str(bundle), "--workdir", str(shm), "--", "./run.sh", "exit", "0"], env)
    assert r.returncode == 0, r.stderr
    assert f"marker={MARKER}" in r.stdout and list(shm.iterdir()) == []
    assert state.requests[0] == ("POST", "auth/kubernetes/login") and ("POST", "transit/decrypt/apps") in state.requests
    # an identity whose Vault policy does not allow this key is refused, in one line, without the JWT
    other = env | {"MAMORI_VAULT_K8S_ROLE": "other-app"}
    r = run(["--bundle", str(bundle), "--workdir", str(shm), "--", "./run.sh"], other)
    assert_clean_failure(r, "permission denied")
    jwt.write_text("not-the-jwt\n")
    r = run(["--bundle", str(bundle), "--workdir", str(shm), "--", "./run.sh"], env)
    assert_clean_failure(r)
    for leak in (JWT, ADMIN):
        assert leak not in r.stderr
    assert MARKER.encode() not in bundle.read_bytes()
