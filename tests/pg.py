"""A private PostgreSQL cluster for tests: initdb in a temporary directory, loopback only.

PostgreSQL refuses to run as root, so the cluster belongs to the ``postgres`` system user
when the tests run as root. Under ``CI=true`` a cluster that cannot start fails the test.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from tests import components

REPO = Path(__file__).resolve().parent.parent


def unavailable(reason: str) -> NoReturn:
    components.unavailable("PostgreSQL", reason)


@dataclass
class Cluster:
    root: Path
    port: int
    bindir: str
    user: str | None

    @property
    def url(self) -> str:
        return f"postgresql://mamori@127.0.0.1:{self.port}/mamori"

    def stop(self) -> None:
        _run(self, [f"{self.bindir}/pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "stop"], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _run(c: Cluster, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    if c.user:
        args = ["runuser", "-u", c.user, "--", *args]
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start() -> Cluster:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        r = subprocess.run(["bash", str(REPO / "scripts/install-system-deps.sh")], capture_output=True, text=True,
                           check=False, timeout=900)
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins:
            unavailable(f"install-system-deps.sh failed: {r.stderr[-2000:]}")
    bindir = os.path.dirname(bins[-1])
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="mamori-pg-"))
    c = Cluster(root, _free_port(), bindir, user)
    if user:
        shutil.chown(root, user)
    try:
        _run(c, [f"{bindir}/initdb", "-D", str(root / "data"), "-U", "mamori", "--auth=trust", "-E", "UTF8"])
        _run(c, [f"{bindir}/pg_ctl", "-D", str(root / "data"), "-l", str(root / "pg.log"), "-w", "-o",
                 f"-h 127.0.0.1 -p {c.port} -k {root}", "start"])
        _run(c, [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(c.port), "-U", "mamori", "mamori"])
    except subprocess.CalledProcessError as exc:
        log = (root / "pg.log").read_text() if (root / "pg.log").exists() else ""
        c.stop()
        unavailable(f"{exc.cmd[-1]}: {exc.stderr[-1500:]} {log[-1500:]}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", c.port)) == 0:
                return c
        time.sleep(0.1)
    c.stop()
    unavailable("PostgreSQL did not listen")
