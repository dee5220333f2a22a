"""``mamori rescan --docker --running`` against a private dockerd: container names per image, stored inventories."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import mamori.image
from mamori.cli.main import cli
from tests import dockerd
from tests.rescan.test_rescan import OS_RELEASE, _status, importdb, osv


@pytest.fixture(scope="module")
def daemon() -> Iterator[dockerd.Daemon]:
    with dockerd.running() as d:
        yield d


def build(daemon: dockerd.Daemon, tag: str, packages: dict[str, str]) -> str:
    base = dockerd.busybox_image(daemon)
    ctx = Path(tempfile.mkdtemp(prefix="mamori-rescan-"))
    try:
        (ctx / "status").write_text(_status(packages))
        (ctx / "os-release").write_text(OS_RELEASE)
        (ctx / "Dockerfile").write_text(f"FROM {base}\nCOPY status /var/lib/dpkg/status\n"
                                        "COPY os-release /etc/os-release\n")
        daemon.docker("build", "-q", "-t", tag, str(ctx), timeout=300)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return daemon.docker("image", "inspect", "-f", "{{.Id}}", tag).stdout.strip()


def test_docker_and_running(daemon: dockerd.Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path / "home"))
    loads: list[str] = []
    orig = mamori.image.load

    def counting(ref: str, *a: Any, **k: Any) -> Any:
        loads.append(ref)
        return orig(ref, *a, **k)

    monkeypatch.setattr(mamori.image, "load", counting)
    web = build(daemon, "rescan-test/web:1", {"demo-lib": "1.0-1"})
    idle = build(daemon, "rescan-test/idle:1", {"demo-lib": "1.0-1", "other": "2.0-1"})
    daemon.docker("run", "-d", "--name", "web-a", "rescan-test/web:1", "sleep", "600")
    daemon.docker("run", "-d", "--name", "web-b", "rescan-test/web:1", "sleep", "600")
    try:
        db = f"sqlite:///{tmp_path / 'm.db'}"
        importdb(db, osv(tmp_path / "a.json", "OSV-RESCAN-1", "demo-lib", "1.0-2"))

        def run(*args: str) -> tuple[int, dict[str, Any]]:
            r = CliRunner().invoke(cli, ["rescan", "--db", db, "-f", "json", *args])
            return r.exit_code, json.loads(r.stdout)

        code, doc = run("--running", "--docker", f"docker://{daemon.host}", "--fail-on", "low")
        assert code == 1, doc
        imgs = {i["digest"]: i for i in doc["images"]}
        assert web in imgs and idle in imgs
        assert sorted(imgs[web]["containers"]) == ["web-a", "web-b"] and imgs[idle]["containers"] == []
        assert [f["id"] for f in imgs[web]["new"]] == ["OSV-RESCAN-1"]
        assert f"docker:{web}" in loads

        loads.clear()
        monkeypatch.setenv("DOCKER_HOST", daemon.host)
        code, doc = run("--running", "--fail-on", "low")  # only what runs; known digest: no image read
        assert code == 0, doc
        assert [i["digest"] for i in doc["images"]] == [web]
        assert doc["images"][0]["new"] == [] and doc["images"][0]["findings"] == 1
        assert loads == []
    finally:
        daemon.docker("rm", "-f", "web-a", "web-b", check=False)
