"""A real audit collector (`mamori serve --audit-db --ingest-tokens`) that a test can stop and restart
on the same port and store, the way tests/audit and tests/server start theirs."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mamori.audit.log import open_log
from tests.server.conftest import MAMORI, free_port
from tests.server.tlsutil import localhost_tls

IDENTITY = "billing-prod"


@dataclass
class Collector:
    home: Path
    port: int
    tls: dict[str, str]
    token: str
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> str:
        return self.tls["ca"]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "MAMORI_HOME": str(self.home)}

    def start(self, *extra: str, client: tuple[str, str] | None = None) -> None:
        """Run ``mamori serve`` on this port and store; ``extra`` options, ``client`` cert for the probe (mTLS)."""
        log = self.home / f"serve{self.starts}.log"
        self.starts += 1
        self.logs.append(log)
        self.proc = subprocess.Popen(
            [*MAMORI, "serve", "--no-config", "--listen", f"127.0.0.1:{self.port}", "--tls-cert", self.tls["cert"],
             "--tls-key", self.tls["key"], "--audit-db", "default", "--ingest-tokens", str(self.home / "tokens"),
             "--no-access-log", "--no-record", *extra],
            env=self.env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
        ctx = ssl.create_default_context(cafile=self.ca)
        if client is not None:
            ctx.load_cert_chain(*client)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"mamori serve exited: {log.read_text()}")
            try:
                if httpx.get(self.url + "/readyz", verify=ctx).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail(f"mamori serve did not become ready: {log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def entries(self) -> list[dict[str, Any]]:
        """Every entry in the collector's store, oldest first, as the store keeps it."""
        lg = open_log(f"sqlite:///{self.home / 'mamori.db'}")
        try:
            return [e.json() for e in lg.query(limit=1_000_000)]
        finally:
            lg.engine.dispose()

    def raw_store(self) -> bytes:
        """The store's bytes on disk (database and WAL), to prove a secret never reached them."""
        return b"".join(p.read_bytes() for p in sorted(self.home.glob("mamori.db*")))


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return localhost_tls(tmp_path_factory.mktemp("applog-tls"))


@pytest.fixture
def collector(tmp_path: Path, tls: dict[str, str]) -> Iterator[Collector]:
    """A collector that is NOT running yet: call ``.start()`` (tests of an unreachable collector start it late)."""
    home = tmp_path / "collector"
    home.mkdir()
    env = {**os.environ, "MAMORI_HOME": str(home)}
    tok = subprocess.run([*MAMORI, "log", "token", "--identity", IDENTITY, "--tokens", str(home / "tokens")],
                         env=env, check=True, capture_output=True, text=True).stdout.strip()
    c = Collector(home, free_port(), tls, tok)
    yield c
    c.stop()
