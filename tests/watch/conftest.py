"""A private dockerd for the watch tests, a signed-webhook receiver on 127.0.0.1, and `mamori watch` runs."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests import dockerd

MAMORI = [sys.executable, "-m", "mamori.cli.main"]
SECRET = b"test-secret-0123456789abcdef"


def wait_until(pred: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def doc(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    def verifies(self, secret: bytes = SECRET) -> bool:
        want = "sha256=" + hmac.new(secret, self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, self.headers.get("x-mamori-signature", ""))


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers ``status`` (200 by default), can be taken down and back up."""

    port: int = 0
    status: int = 200
    got: list[Received] = field(default_factory=list)
    attempts: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> Receiver:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                rec.attempts += 1
                if rec.status == 200:
                    rec.got.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(rec.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> list[str]:
        return [r.headers["x-mamori-event-id"] for r in self.got]


@dataclass
class Watch:
    """One `mamori watch` process against the test daemon, with its own MAMORI_HOME."""

    home: Path
    host: str
    log: Path
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "MAMORI_HOME": str(self.home)}

    def start(self, *extra: str) -> Watch:
        self.runs += 1
        out = self.log.with_suffix(f".{self.runs}.log")
        self.proc = subprocess.Popen([*MAMORI, "watch", "--host", self.host, "--no-config", "--log-level", "info",
                                      *self.args, *extra], env=self.env, stdout=out.open("wb"),
                                     stderr=subprocess.STDOUT, cwd=self.home)
        wait_until(lambda: b"watching" in out.read_bytes() or self.proc is None or self.proc.poll() is not None,
                   30, "mamori watch to connect")
        assert self.proc.poll() is None, out.read_text()[-3000:]
        return self

    def stop(self) -> str:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("mamori watch did not stop on SIGTERM") from None
        self.proc = None
        return self.log.with_suffix(f".{self.runs}.log").read_text()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*MAMORI, *args], env=self.env, capture_output=True, text=True, check=check,
                              timeout=120, cwd=self.home)

    def events(self, *args: str) -> list[dict[str, Any]]:
        out = self.cli("events", "--format", "json", "-n", "100000", *args)
        return [json.loads(line) for line in out.stdout.splitlines()]

    def outbox(self, *args: str) -> list[dict[str, Any]]:
        out = self.cli("notifications", "--format", "json", "-n", "100000", *args)
        return [json.loads(line) for line in out.stdout.splitlines()]

    def output(self) -> str:
        return self.log.with_suffix(f".{self.runs}.log").read_text()


@pytest.fixture(scope="session")
def daemon() -> Iterator[dockerd.Daemon]:
    with dockerd.running() as d:
        yield d


@pytest.fixture(scope="session")
def image(daemon: dockerd.Daemon) -> str:
    return dockerd.busybox_image(daemon)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().up()
    yield r
    r.down()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    p = tmp_path / "secret"
    p.write_bytes(SECRET + b"\n")
    p.chmod(0o600)
    return p


@pytest.fixture
def watch(tmp_path: Path, daemon: dockerd.Daemon) -> Iterator[Callable[..., Watch]]:
    made: list[Watch] = []

    def make(*args: str) -> Watch:
        home = tmp_path / f"home{len(made)}"
        home.mkdir()
        w = Watch(home, daemon.host, tmp_path / f"watch{len(made)}", args)
        made.append(w)
        return w

    yield make
    for w in made:
        if w.proc is not None and w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait(10)
