"""Reading secrets where containers get them: /run/secrets, Kubernetes volumes, NAME_FILE, env, providers."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import mamori.secrets.store as store_mod
from mamori.secrets import (
    DirectorySource,
    EnvFileSource,
    EnvSource,
    KubernetesSource,
    ProviderSource,
    SecretError,
    SecretNotFound,
    SecretStore,
    SourceKind,
    default_sources,
)

VALUE = "pl4nted-d0cker-secret-91c2"


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    store_mod._WARNED.clear()


def k8s_volume(root: Path, data: dict[str, str], generation: str) -> None:
    """What the kubelet's AtomicWriter does: a timestamped dir, ``..data`` swapped by rename, NAME -> ..data/NAME."""
    gen = root / generation
    gen.mkdir()
    for name, value in data.items():
        (gen / name).write_text(value)
    tmp = root / "..data_tmp"
    tmp.symlink_to(generation)
    os.rename(tmp, root / "..data")
    for name in data:
        link = root / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")


def test_docker_secret_file(tmp_path: Path) -> None:
    (tmp_path / "db-password").write_text(VALUE + "\n")
    with SecretStore([DirectorySource(str(tmp_path))]) as store:
        s = store.get("db-password")
    assert s.reveal() == VALUE  # one trailing newline is not part of the value
    assert s.source is SourceKind.FILE and not s.weak
    assert s.origin.location == str(tmp_path / "db-password")


def test_kubernetes_volume_reads_one_generation(tmp_path: Path) -> None:
    k8s_volume(tmp_path, {"api-key": "first-generation-value"}, "..2026_11_26_10_00_00.1")
    src = KubernetesSource(str(tmp_path))
    with SecretStore([src]) as store:
        s = store.get("api-key")
        assert s.reveal() == "first-generation-value" and s.source is SourceKind.KUBERNETES
        assert s.origin.version == "..2026_11_26_10_00_00.1"
        k8s_volume(tmp_path, {"api-key": "second-generation-value"}, "..2026_11_26_10_05_00.2")
        assert store.get("api-key").reveal() == "second-generation-value"


def test_name_file_indirection(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(VALUE)
    with SecretStore([EnvFileSource({"DB_PASSWORD_FILE": str(path)})]) as store:
        s = store.get("db-password")
    assert s.reveal() == VALUE and s.source is SourceKind.ENV_FILE and "$DB_PASSWORD_FILE" in s.origin.location


def test_environment_is_weak_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mamori.secrets"), \
            SecretStore([EnvSource({"DB_PASSWORD": VALUE})]) as store:
        first = store.get("db-password")
        store.get("db-password")
    assert first.reveal() == VALUE and first.weak and first.source is SourceKind.ENV
    warnings = [r for r in caplog.records if "environment" in r.getMessage()]
    assert len(warnings) == 1 and "$DB_PASSWORD" in warnings[0].getMessage()
    assert VALUE not in caplog.text


def test_search_order_is_configurable(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file")
    env = EnvSource({"TOKEN": "from-env"})
    files = DirectorySource(str(tmp_path))
    with SecretStore([files, env]) as a, SecretStore([env, files]) as b:
        assert a.get("token").reveal() == "from-file"
        assert b.get("token").reveal() == "from-env"


def test_default_order_files_before_env(tmp_path: Path) -> None:
    (tmp_path / "db-password").write_text("mounted")
    sources = default_sources({"MAMORI_SECRETS_DIRS": str(tmp_path), "DB_PASSWORD": "env"})
    with SecretStore(sources) as store:
        assert store.get("db-password").reveal() == "mounted"
    assert [type(s).__name__ for s in sources] == ["DirectorySource", "DirectorySource", "EnvFileSource", "EnvSource"]


def test_not_found_names_locations_only(tmp_path: Path) -> None:
    with SecretStore([DirectorySource(str(tmp_path)), EnvSource({})]) as store, pytest.raises(SecretNotFound) as exc:
        store.get("missing")
    assert "missing" in str(exc.value) and str(tmp_path) in str(exc.value) and "env" in str(exc.value)


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", ".hidden", "", "x" * 300, "a\x00b"])
def test_hostile_names_refused(tmp_path: Path, name: str) -> None:
    with SecretStore([DirectorySource(str(tmp_path))]) as store, pytest.raises(SecretError):
        store.get(name)


def test_non_regular_and_oversized_files_refused(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "big").write_bytes(b"x" * ((1 << 20) + 1))
    with SecretStore([DirectorySource(str(tmp_path))]) as store:
        for name in ("dir", "fifo", "big"):
            with pytest.raises(SecretError) as exc:
                store.get(name)
            assert name in str(exc.value)


class _Provider:
    label = "test-provider"

    def __init__(self) -> None:
        self.calls = 0
        self.value = b"provided"

    def fetch(self, name: str) -> tuple[bytes, str] | None:
        self.calls += 1
        return (self.value, "3") if name == "api-key" else None


def test_pluggable_provider_cached_for_ttl() -> None:
    p = _Provider()
    with SecretStore([ProviderSource(p, ttl=3600)]) as store:
        s = store.get("api-key")
        store.get("api-key")
        assert s.reveal() == "provided" and s.source is SourceKind.PROVIDER and s.origin.version == "3"
        assert p.calls == 1  # cached within the ttl
        with pytest.raises(SecretNotFound):
            store.get("other")


def test_get_returns_independent_copies(tmp_path: Path) -> None:
    (tmp_path / "k").write_text(VALUE)
    with SecretStore([DirectorySource(str(tmp_path))]) as store:
        with store.get("k") as first:
            pass
        assert first.closed
        assert store.get("k").reveal() == VALUE  # closing a returned value does not wipe the cache


def test_module_level_get_uses_the_default_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mamori.secrets

    (tmp_path / "pw").write_text(VALUE + "\n")
    monkeypatch.setenv("MAMORI_TEST_DB_PASSWORD_FILE", str(tmp_path / "pw"))
    monkeypatch.setattr(store_mod, "_DEFAULT", None)
    try:
        s = mamori.secrets.get("mamori-test-db-password")
        assert s.reveal() == VALUE and s.source is SourceKind.ENV_FILE
        assert mamori.secrets.default_store() is mamori.secrets.default_store()
    finally:
        if store_mod._DEFAULT is not None:
            store_mod._DEFAULT.close()
