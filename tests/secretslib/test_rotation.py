"""Rotation: a changed file or a new Kubernetes generation is re-read; subscribers are called back."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from mamori.secrets import DirectorySource, KubernetesSource, Secret, SecretStore
from tests.secretslib.test_sources import k8s_volume


def _replace(path: Path, value: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value)
    os.replace(tmp, path)  # a new inode, like `docker secret` rotation or an editor's save


def test_file_rewritten_in_place_is_reread(tmp_path: Path) -> None:
    f = tmp_path / "k"
    f.write_text("v1-value")
    with SecretStore([DirectorySource(str(tmp_path))]) as store:
        assert store.get("k").reveal() == "v1-value"
        f.write_text("v2-value")
        os.utime(f, ns=(time.time_ns(), time.time_ns() + 1_000_000))
        assert store.get("k").reveal() == "v2-value"
        _replace(f, "v3-value")
        assert store.get("k").reveal() == "v3-value"


def test_unchanged_file_is_not_reread(tmp_path: Path) -> None:
    f = tmp_path / "k"
    f.write_text("v1-value")
    reads = 0
    src = DirectorySource(str(tmp_path))
    real = src.read

    def counting(name: str):  # type: ignore[no-untyped-def]
        nonlocal reads
        reads += 1
        return real(name)

    src.read = counting  # type: ignore[method-assign]
    with SecretStore([src]) as store:
        for _ in range(5):
            store.get("k")
    assert reads == 1


def _wait(event: threading.Event) -> bool:
    return event.wait(5)


def test_watch_calls_back_after_a_file_change(tmp_path: Path) -> None:
    f = tmp_path / "k"
    f.write_text("old-value")
    got: list[str] = []
    changed = threading.Event()

    def on_change(s: Secret) -> None:
        got.append(s.reveal())
        changed.set()

    with SecretStore([DirectorySource(str(tmp_path))], poll_interval=0.05) as store:
        store.watch("k", on_change)
        time.sleep(0.15)
        assert got == []  # no change, no callback
        _replace(f, "new-value")
        assert _wait(changed)
    assert got == ["new-value"]


def test_watch_sees_kubernetes_swap_and_cancel_stops_callbacks(tmp_path: Path) -> None:
    k8s_volume(tmp_path, {"tls-key": "gen-1"}, "..gen1")
    got: list[str] = []
    changed = threading.Event()

    def on_change(s: Secret) -> None:
        got.append(s.reveal())
        changed.set()

    with SecretStore([KubernetesSource(str(tmp_path))], poll_interval=0.05) as store:
        w = store.watch("tls-key", on_change)
        k8s_volume(tmp_path, {"tls-key": "gen-2"}, "..gen2")
        assert _wait(changed)
        w.cancel()
        changed.clear()
        k8s_volume(tmp_path, {"tls-key": "gen-3"}, "..gen3")
        assert not changed.wait(0.3)
        assert store.get("tls-key").reveal() == "gen-3"
    assert got == ["gen-2"]


def test_watch_callback_error_does_not_stop_others(tmp_path: Path) -> None:
    f = tmp_path / "k"
    f.write_text("a-value")
    ok = threading.Event()

    def broken(s: Secret) -> None:
        raise RuntimeError("subscriber bug")

    with SecretStore([DirectorySource(str(tmp_path))], poll_interval=0.05) as store:
        store.watch("k", broken)
        store.watch("k", lambda s: ok.set())
        _replace(f, "b-value")
        assert _wait(ok)
