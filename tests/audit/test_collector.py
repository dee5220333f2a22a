"""The collector: authentication, limits, back-pressure, and no acknowledged entry lost to kill -9."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from mamori.audit.log import AuditLog, open_log
from mamori.policy.config import Policy
from mamori.server import ingest
from mamori.server.state import ServerState
from tests.server.tlsutil import localhost_tls

MAMORI = [sys.executable, "-m", "mamori.cli.main"]
TOKEN = "s3cret-token-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def client(log: AuditLog) -> Iterator[TestClient]:
    tokens = {ingest.token_hash(TOKEN): "node-a", ingest.token_hash("slow"): "node-slow"}
    w = ingest.GroupWriter(log)
    limit = ingest.RateLimit(rate=10, burst=10)
    app = Starlette(routes=ingest.routes(ServerState(policy=Policy()), log, tokens=tokens, limit=limit, writer=w))
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c
    w.close()


def test_single_and_batch_entries_are_acknowledged_with_their_seqs(client: TestClient, log: AuditLog) -> None:
    r = client.post("/v1/logs", json={"type": "exec", "payload": {"cmd": "sh"}, "container": "abc"})
    assert r.status_code == 200 and r.json() == {"accepted": 1, "first": 0, "last": 0}
    r = client.post("/v1/logs", json={"entries": [{"type": "a"}, {"type": "b", "time": "2026-01-01T01:00:00+01:00"}]})
    assert r.json() == {"accepted": 2, "first": 1, "last": 2}
    rows = [e.json() for e in log.query()]
    assert [d["source"] for d in rows] == ["node-a"] * 3  # the token's identity, never the client's word
    assert rows[2]["time"] == "2026-01-01T00:00:00.000000Z" and rows[0]["container"] == "abc"


def test_token_is_required_and_checked(client: TestClient) -> None:
    assert client.post("/v1/logs", json={"type": "a"}, headers={"Authorization": ""}).status_code == 401
    r = client.post("/v1/logs", json={"type": "a"}, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("body", "status", "why"), [
    (b"{not json", 400, "not valid JSON"),
    (json.dumps({"entries": [{"type": "a"}, {"payload": {}}]}).encode(), 400, "entry 1: type"),
    (json.dumps({"entries": []}).encode(), 400, "non-empty"),
    (json.dumps({"type": "a", "payload": {"x": "y" * 70_000}}).encode(), 413, "exceeds the limit"),
    (json.dumps({"entries": [{"type": "a", "payload": {"x": "y" * 60_000}}] * 20}).encode(), 413, "exceeds the limit"),
])
def test_malformed_or_oversized_requests(client: TestClient, log: AuditLog, body: bytes, status: int,
                                         why: str) -> None:
    r = client.post("/v1/logs", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status and why in r.json()["error"]
    assert log.head().size == 0  # nothing of a refused request is logged


def test_rate_limit_answers_429_with_retry_after_and_drops_nothing(client: TestClient, log: AuditLog) -> None:
    assert client.post("/v1/logs", json={"entries": [{"type": "a"}] * 8}).status_code == 200
    r = client.post("/v1/logs", json={"entries": [{"type": "a"}] * 8})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert log.head().size == 8
    other = client.post("/v1/logs", json={"type": "a"}, headers={"Authorization": "Bearer slow"})
    assert other.status_code == 200  # the limit is per source
    time.sleep(0.9)
    assert client.post("/v1/logs", json={"entries": [{"type": "a"}] * 8}).status_code == 200
    assert log.head().size == 17


def test_record_helper_appends_durably(log: AuditLog) -> None:
    from mamori import audit

    audit.use(log)
    try:
        seq = audit.record("admission.deny", {"rules": ["MAM-PRIV-001"]}, source="mamori-admission", container="web")
    finally:
        audit.use(None)
    e = log.entry(seq)
    assert e is not None and e.json()["source"] == "mamori-admission" and e.json()["container"] == "web"


def test_token_file_holds_hashes_only(tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    f.write_text(f"# collectors\nsha256:{ingest.token_hash('t1')} node-1\n")
    assert ingest.load_tokens(f) == {ingest.token_hash("t1"): "node-1"}
    f.write_text("t1 node-1\n")
    with pytest.raises(ingest.TokenFileError, match="never tokens"):
        ingest.load_tokens(f)


def _serve(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str], Path]:
    tls = localhost_tls(tmp_path / "tls")
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "MAMORI_HOME": str(home)}
    subprocess.run([*MAMORI, "log", "keygen"], env=env, check=True, capture_output=True)
    tok = subprocess.run([*MAMORI, "log", "token", "--identity", "node-k", "--tokens", str(home / "tokens")],
                         env=env, check=True, capture_output=True, text=True).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([*MAMORI, "serve", "--no-config", "--listen", f"127.0.0.1:{port}", "--tls-cert",
                             tls["cert"], "--tls-key", tls["key"], "--audit-db", "default", "--ingest-tokens",
                             str(home / "tokens"), "--checkpoint-key", str(home / "audit-key.pem"),
                             "--checkpoint-interval", "0.3", "--no-access-log"], env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("wb"))
    url = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=tls["ca"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mamori serve exited: {(tmp_path / 'serve.log').read_text()}")
        try:
            if httpx.get(url + "/readyz", verify=ctx).status_code == 200:
                return proc, url, {"tok": tok, "ca": tls["ca"]}, home
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("mamori serve did not become ready")


def test_kill_9_during_ingest_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    proc, url, auth, home = _serve(tmp_path)
    acked: dict[int, dict[str, Any]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        ctx = ssl.create_default_context(cafile=auth["ca"])
        with httpx.Client(base_url=url, verify=ctx, headers={"Authorization": f"Bearer {auth['tok']}"},
                          timeout=10) as c:
            b = 0
            while not stop.is_set():
                batch = [{"type": "load", "payload": {"client": n, "batch": b, "i": i}} for i in range(50)]
                try:
                    r = c.post("/v1/logs", json={"entries": batch})
                except httpx.TransportError:
                    return  # the server died mid-request: not acknowledged, may or may not be stored
                if r.status_code == 200:
                    first = r.json()["first"]
                    with lock:
                        for i, e in enumerate(batch):
                            acked[first + i] = e["payload"]
                b += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) > 500, "too little load before the kill to mean anything"
    log = open_log(f"sqlite:///{home / 'mamori.db'}")
    stored = {e.seq: e.json()["payload"] for e in log.query(limit=100_000)}
    missing = [s for s, p in acked.items() if stored.get(s) != p]
    assert missing == [], f"{len(missing)} acknowledged entries lost or altered, e.g. {missing[:5]}"
    assert list(stored) == list(range(len(stored)))
    env = {**os.environ, "MAMORI_HOME": str(home)}
    v = subprocess.run([*MAMORI, "log", "verify"], env=env, capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    assert "OK:" in v.stdout and " 0 checkpoints" not in v.stdout
