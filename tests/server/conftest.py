"""Start real `mamori serve` processes over HTTPS on loopback for the webhook tests."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.tlsutil import localhost_tls

MAMORI = [sys.executable, "-m", "mamori.cli.main"]


@dataclass
class Served:
    url: str
    home: Path
    ca: str
    proc: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=self.ca), timeout=10)

    def review(self, path: str, review: dict[str, Any]) -> httpx.Response:
        with self.client() as c:
            return c.post(path, json=review)

    def decisions(self, *args: str) -> list[dict[str, Any]]:
        import json

        time.sleep(0.3)  # the recorder writes in the background
        out = subprocess.run([*MAMORI, "decisions", "--format", "json", "-n", "1000", *args], env=self.env,
                             capture_output=True, text=True, check=True)
        return [json.loads(line) for line in out.stdout.splitlines()]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "MAMORI_HOME": str(self.home)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return localhost_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def serve(tmp_path: Path, tls: dict[str, str]) -> Iterator[Callable[..., Served]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(policy: str | None = None, *extra: str) -> Served:
        home = tmp_path / f"home{len(procs)}"
        home.mkdir()
        args = [*MAMORI, "serve", "--listen", f"127.0.0.1:{free_port()}", "--tls-cert", tls["cert"],
                "--tls-key", tls["key"], *extra]
        if policy is not None:
            pfile = tmp_path / f"policy{len(procs)}.yaml"
            pfile.write_text(policy)
            args += ["--config", str(pfile)]
        else:
            args.append("--no-config")
        url = "https://127.0.0.1:" + args[args.index("--listen") + 1].rsplit(":", 1)[1]
        log = tmp_path / f"serve{len(procs)}.log"
        proc = subprocess.Popen(args, env={**os.environ, "MAMORI_HOME": str(home)}, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT, cwd=tmp_path)
        procs.append(proc)
        served = Served(url, home, tls["ca"], proc, log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"mamori serve exited with {proc.returncode}: {log.read_text()}")
            try:
                with served.client() as c:
                    if c.get("/readyz").status_code == 200:
                        return served
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail(f"mamori serve did not become ready: {log.read_text()}")

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
