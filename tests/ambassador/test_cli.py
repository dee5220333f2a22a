"""``mamori ambassador`` as a process: status endpoint, flow log, audit log, SIGTERM drain, errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.ambassador.util import TD, Pki, answer, server_leaf

CLIENT_ID = f"spiffe://{TD}/ns/app/sa/client"
MAMORI = [sys.executable, "-m", "mamori.cli.main", "ambassador"]


class Backend(threading.Thread):
    """A threaded plaintext app (the ambassador runs in another process): sha256 of what it read."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        h, n = hashlib.sha256(), 0
        head = conn.recv(65536)
        want = None
        if head.startswith(b"LEN "):
            line, _, head = head.partition(b"\n")
            want = int(line[4:])
        h.update(head)
        n += len(head)
        while want is None or n < want:
            chunk = conn.recv(65536)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        conn.sendall(f"{h.hexdigest()} {n}".encode())
        conn.close()


def start(tmp: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    ready = tmp / f"ready-{time.monotonic_ns()}"
    proc = subprocess.Popen([*MAMORI, *args, "--ready-file", str(ready)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _out, err = proc.communicate()
            pytest.fail(f"ambassador did not start: {err.decode()[-2000:]}")
        time.sleep(0.05)
    info = dict(line.split(" ", 1) for line in ready.read_text().splitlines())
    return proc, info


def port_of(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def tls_client(pki: Pki, port: int) -> ssl.SSLSocket:
    ctx = pki.client_ctx(pki.leaf("client", spiffe=CLIENT_ID))
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")


def server_args(pki: Pki, backend: Backend, *extra: str) -> list[str]:
    f = server_leaf(pki)
    return ["server", "--listen", "127.0.0.1:0", "--target", f"127.0.0.1:{backend.port}", "--cert", f.cert,
            "--key", f.key, "--ca", f.ca, "--allow-uri", f"spiffe://{TD}/ns/app/*", *extra]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_status_metrics_flow_log_and_sigterm_drain(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    backend = Backend()
    backend.start()
    flows = tmp_path / "flows.jsonl"
    proc, info = start(tmp_path, *server_args(pki, backend, "--status", "127.0.0.1:0", "--flow-log", str(flows),
                                              "--shutdown-timeout", "20"))
    try:
        port, status = port_of(info["listen"]), info["status"]
        assert get(f"http://{status}/healthz") == (200, b"ok\n")
        s = tls_client(pki, port)
        s.sendall(b"LEN 8\nabcd")  # half a request: the connection stays open
        time.sleep(0.3)
        code, body = get(f"http://{status}/status")
        doc = json.loads(body)
        assert code == 200 and doc["active_connections"] == 1 and doc["mode"] == "server"
        assert doc["connections"][0]["peer"] == CLIENT_ID
        code, metrics = get(f"http://{status}/metrics")
        assert b"mamori_ambassador_active_connections" in metrics
        assert b"mamori_ambassador_handshake_seconds_count" in metrics
        assert b"mamori_ambassador_certificate_expiry_seconds" in metrics
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None, "exited before the open connection finished"
        with pytest.raises(ConnectionRefusedError):  # no longer accepting
            socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"efgh")
        assert s.recv(1000) == answer(b"abcdefgh")  # the drained connection completes
        s.close()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    docs = [json.loads(x) for x in flows.read_text().splitlines()]
    end = next(d for d in docs if d["event"]["type"][1] == "end")
    assert end["source"]["bytes"] == len(b"LEN 8\nabcdefgh") and end["mamori"]["ambassador"]["result"] == "allowed"


def test_sigterm_deadline_cuts_stuck_connections(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    backend = Backend()
    backend.start()
    proc, info = start(tmp_path, *server_args(pki, backend, "--shutdown-timeout", "0.5"))
    try:
        s = tls_client(pki, port_of(info["listen"]))
        s.sendall(b"LEN 8\nab")
        time.sleep(0.2)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 5
        _, err = proc.communicate()
        lines = [json.loads(x) for x in err.decode().splitlines() if x.startswith("{")]
        assert any(d["event"].get("reason") == "shutdown deadline" for d in lines), err.decode()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_flow_records_go_to_the_audit_log(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    backend = Backend()
    backend.start()
    url = f"sqlite:///{tmp_path}/audit.db"
    proc, info = start(tmp_path, *server_args(pki, backend, "--audit-db", url, "--flow-log", str(tmp_path / "f")))
    try:
        s = tls_client(pki, port_of(info["listen"]))
        s.sendall(b"LEN 3\nabc")
        assert s.recv(1000) == answer(b"abc")
        s.close()
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    from mamori.audit.log import open_log

    stored = open_log(url).query(type="mamori.ambassador.flow")
    payloads: list[dict[str, Any]] = [json.loads(e.data)["payload"] for e in stored]
    assert [p["event"]["type"][1] for p in payloads] == ["start", "end"]
    assert json.loads(stored[0].data)["source"] == "mamori:ambassador"
    assert payloads[1]["mamori"]["ambassador"]["peer_spiffe_id"] == CLIENT_ID


def test_expiry_warning_and_bad_options(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    backend = Backend()
    backend.start()
    args = server_args(pki, backend)
    # a certificate with a fifth of its life left
    f = pki.leaf("short", spiffe=f"spiffe://{TD}/ns/web/sa/server", dns=("localhost",),
                 not_before=dt.datetime.now(dt.UTC) - dt.timedelta(hours=4), lifetime=dt.timedelta(hours=5))
    args[args.index("--cert") + 1], args[args.index("--key") + 1] = f.cert, f.key
    proc, _ = start(tmp_path, *args)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert b"expires in" in err and b"rotate it" in err
    bad = [
        (["server", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:1"], "at least one --allow"),
        (["server", "--listen", "127.0.0.1:0", "--target", "192.0.2.1:80", "--allow-all"], "not on this host"),
        (["client", "--listen", "0.0.0.0:0", "--target", "127.0.0.1:1"], "not loopback"),
        (["server", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:1", "--allow-uri", "spiffe://BAD/x"],
         "trust domain"),
        (["server", "--listen", "nonsense", "--target", "127.0.0.1:1", "--allow-all"], "HOST:PORT"),
    ]
    files = ["--cert", f.cert, "--key", f.key, "--ca", f.ca]
    for argv, msg in bad:
        r = subprocess.run([*MAMORI, *argv, *files], capture_output=True, timeout=30)
        assert r.returncode == 2, (argv, r.stderr)
        assert msg in r.stderr.decode() and b"Traceback" not in r.stderr, (argv, r.stderr)
    (tmp_path / "garbage.crt").write_text("not a certificate")
    argv = ["server", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:1", "--allow-all", "--cert",
            str(tmp_path / "garbage.crt"), "--key", f.key, "--ca", f.ca]
    r = subprocess.run([*MAMORI, *argv], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"garbage.crt" in r.stderr and b"Traceback" not in r.stderr
