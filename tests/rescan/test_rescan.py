"""``mamori rescan`` against a real docker-registry on 127.0.0.1 with synthetic Debian images.

The blob counter wraps the registry client's two blob readers: a run that re-matches stored
inventories must not call either of them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mamori.cli.main import cli
from mamori.image.digest import of
from mamori.image.reference import parse_docker_ref
from mamori.image.registry import Registry, RegistryOptions
from mamori.live.notify import verify
from mamori.sign.registry_push import PushRegistry
from tests.image import components as comp
from tests.image.layouts import file, layer_tar

OPTS = RegistryOptions(insecure=True)
SECRET = b"rescan-test-secret-0123456789"
OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'


def _status(packages: dict[str, str]) -> str:
    return "".join(f"Package: {n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {v}\n\n"
                   for n, v in packages.items())


def push(ref: str, packages: dict[str, str]) -> str:
    """Push a one-layer Debian 12 image whose dpkg status lists ``packages``; returns the manifest digest."""
    layer = layer_tar([file("etc/os-release", OS_RELEASE), file("var/lib/dpkg/status", _status(packages))])
    reg = PushRegistry(parse_docker_ref(ref), OPTS)
    try:
        ld = reg.put_blob(layer)
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [ld]},
                          "config": {}}).encode()
        cd = reg.put_blob(cfg)
        man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd,
                                     "size": len(cfg)},
                          "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld,
                                      "size": len(layer)}]}).encode()
        return reg.put_manifest(parse_docker_ref(ref).tag or "latest", man,
                                "application/vnd.oci.image.manifest.v1+json")
    finally:
        reg.close()


def osv(path: Path, vid: str, package: str, fixed: str, modified: str = "2026-01-01T00:00:00Z") -> Path:
    path.write_text(json.dumps({
        "id": vid, "modified": modified, "summary": f"test advisory {vid}",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": package},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}))
    return path


@pytest.fixture(scope="module")
def registry() -> Iterator[comp.Registry]:
    r = comp.start_registry()
    yield r
    r.stop()


@pytest.fixture
def blobs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Digests of every blob read through the registry client."""
    seen: list[str] = []
    orig_blob, orig_stream = Registry.blob, Registry.stream

    def blob(self: Registry, digest: str, *a: Any, **k: Any) -> bytes:
        seen.append(digest)
        return orig_blob(self, digest, *a, **k)

    def stream(self: Registry, digest: str, *a: Any, **k: Any) -> Any:
        seen.append(digest)
        return orig_stream(self, digest, *a, **k)

    monkeypatch.setattr(Registry, "blob", blob)
    monkeypatch.setattr(Registry, "stream", stream)
    return seen


class Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[bytes, dict[str, str]]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.got.append((body, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run(db: str, *args: str) -> tuple[int, Any]:
    r = CliRunner().invoke(cli, ["rescan", "--db", db, "-f", "json", "--insecure", *args])
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        doc = {"output": r.output}
    return r.exit_code, doc


def importdb(db: str, path: Path) -> None:
    r = CliRunner().invoke(cli, ["vuln", "db", "import", "--db", db, str(path)])
    assert r.exit_code == 0, r.output


def test_new_findings_stored_inventory_and_webhook(registry: comp.Registry, tmp_path: Path, blobs: list[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path / "home"))
    prefix = f"rescan{of(str(tmp_path).encode())[7:15]}"
    web = push(f"{registry.host}/{prefix}/web:1", {"demo-lib": "1.0-1", "other": "2.0-1"})
    push(f"{registry.host}/{prefix}/web:latest", {"demo-lib": "1.0-1", "other": "2.0-1"})  # same digest
    fixed = push(f"{registry.host}/{prefix}/api:1", {"demo-lib": "1.0-3", "other": "2.0-1"})
    push(f"{registry.host}/elsewhere{prefix}/x:1", {"demo-lib": "1.0-1"})  # outside the prefix
    db = f"sqlite:///{tmp_path / 'm.db'}"
    importdb(db, osv(tmp_path / "a1.json", "OSV-RESCAN-1", "demo-lib", "1.0-2"))
    (tmp_path / "secret").write_bytes(SECRET + b"\n")
    recv = Receiver()
    target = f"registry:{registry.host}/{prefix}"
    hook = ["--webhook", recv.url, "--webhook-secret-file", str(tmp_path / "secret")]
    try:
        # 1: both images downloaded; web has the finding, reported as new; api (fixed version) has none
        code, doc = run(db, "--registry", target, "--fail-on", "high", *hook)
        assert code == 1, doc
        imgs = {i["digest"]: i for i in doc["images"]}
        assert set(imgs) == {web, fixed}
        assert sorted(imgs[web]["names"]) == [f"{registry.host}/{prefix}/web:{t}" for t in ("1", "latest")]
        assert all(i["downloaded"] for i in imgs.values())
        assert [(f["id"], f["package"], f["installed"]) for f in imgs[web]["new"]] == [
            ("OSV-RESCAN-1", "demo-lib", "1.0-1")]
        assert imgs[fixed]["new"] == [] and imgs[fixed]["findings"] == 0
        assert blobs, "the first scan must download the images"
        assert len(recv.got) == 1
        body, headers = recv.got[0]
        assert verify(SECRET, body, headers["x-mamori-signature"])
        assert not verify(b"another-secret-of-16-bytes", body, headers["x-mamori-signature"])
        note = json.loads(body)
        assert note["digest"] == web and [f["id"] for f in note["findings"]] == ["OSV-RESCAN-1"]

        # 2: nothing new, nothing downloaded, no notification
        blobs.clear()
        code, doc = run(db, "--registry", target, "--fail-on", "high", *hook)
        assert code == 0, doc
        assert doc["new"] == 0 and not any(i["downloaded"] for i in doc["images"])
        assert blobs == []
        assert len(recv.got) == 1

        # 3: a new advisory: only it is new, still without a download
        importdb(db, osv(tmp_path / "a2.json", "OSV-RESCAN-2", "other", "2.0-5"))
        code, doc = run(db, "--registry", target, "--fail-on", "critical", *hook)
        assert code == 1, doc
        assert blobs == []
        new = {(i["digest"], f["id"], f["package"]) for i in doc["images"] for f in i["new"]}
        assert new == {(web, "OSV-RESCAN-2", "other"), (fixed, "OSV-RESCAN-2", "other")}
        assert {i["digest"]: i["findings"] for i in doc["images"]} == {web: 2, fixed: 1}
        assert len(recv.got) == 3 and all(verify(SECRET, b, h["x-mamori-signature"]) for b, h in recv.got)

        # a new tag with a new digest is downloaded; the known ones are not
        newer = push(f"{registry.host}/{prefix}/web:2", {"demo-lib": "1.0-2", "other": "2.0-5"})
        blobs.clear()
        code, doc = run(db, "--registry", target)
        assert code == 0, doc
        assert {i["digest"] for i in doc["images"] if i["downloaded"]} == {newer}
        assert blobs and doc["new"] == 0
    finally:
        recv.close()


def test_failed_webhook_keeps_findings_new(registry: comp.Registry, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path / "home"))
    prefix = f"hookfail{of(str(tmp_path).encode())[7:15]}"
    push(f"{registry.host}/{prefix}/app:1", {"demo-lib": "1.0-1"})
    db = f"sqlite:///{tmp_path / 'm.db'}"
    importdb(db, osv(tmp_path / "a1.json", "OSV-RESCAN-1", "demo-lib", "1.0-2"))
    (tmp_path / "secret").write_bytes(SECRET)
    dead = comp.free_port()
    code, doc = run(db, "--registry", f"registry:{registry.host}/{prefix}", "--webhook",
                    f"http://127.0.0.1:{dead}/hook", "--webhook-secret-file", str(tmp_path / "secret"))
    assert code == 2 and doc["errors"], doc
    code, doc = run(db, "--registry", f"registry:{registry.host}/{prefix}")
    assert code == 0
    assert [f["id"] for i in doc["images"] for f in i["new"]] == ["OSV-RESCAN-1"]  # not lost with the webhook


def test_paginated_catalog(registry: comp.Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mamori.vuln import walk

    monkeypatch.setattr(walk, "PAGE", 2)
    prefix = f"pages{of(str(tmp_path).encode())[7:15]}"
    digests = {push(f"{registry.host}/{prefix}/r{n}:t{m}", {"p": f"{n}.{m}"}) for n in range(3) for m in range(3)}
    got = walk.registry_subjects(f"registry:{registry.host}/{prefix}", OPTS)
    assert {s.digest for s in got} == digests
    assert sum(len(s.names) for s in got) == 9


def test_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path / "home"))
    db = f"sqlite:///{tmp_path / 'm.db'}"
    r = CliRunner().invoke(cli, ["rescan", "--db", db])
    assert r.exit_code == 2 and "nothing to rescan" in r.output
    dead = f"registry:127.0.0.1:{comp.free_port()}"
    r = CliRunner().invoke(cli, ["rescan", "--db", db, "--insecure", "--registry", dead])
    assert r.exit_code == 2 and "Traceback" not in r.output and "cannot reach registry" in r.output
    r = CliRunner().invoke(cli, ["rescan", "--db", db, "--registry", "registry:", "--webhook", "ftp://x"])
    assert r.exit_code == 2 and "http" in r.output


def test_every_loops_and_second_round_is_quiet(registry: comp.Registry, tmp_path: Path, blobs: list[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path / "home"))
    prefix = f"loop{of(str(tmp_path).encode())[7:15]}"
    push(f"{registry.host}/{prefix}/app:1", {"demo-lib": "1.0-1"})
    db = f"sqlite:///{tmp_path / 'm.db'}"
    importdb(db, osv(tmp_path / "a1.json", "OSV-RESCAN-1", "demo-lib", "1.0-2"))
    r = CliRunner().invoke(cli, ["rescan", "--db", db, "--insecure", "--registry", f"registry:{registry.host}/{prefix}",
                                 "--every", "1", "--runs", "2", "--fail-on", "high"])
    summaries = [ln for ln in r.stdout.splitlines() if ln.endswith("errors")]
    assert summaries == ["1 images, 1 new findings, 0 errors", "1 images, 0 new findings, 0 errors"], r.output
    assert r.exit_code == 0  # the last round had nothing new
    assert r.stdout.count("NEW ") == 1 and "(downloaded)" in r.stdout and "(stored inventory)" in r.stdout
