"""A private Docker Engine for tests: its own socket, data root and exec root.

Never touches a daemon the machine may already run. Installs Debian's docker.io with
``scripts/install-system-deps.sh`` when dockerd is missing. When the daemon cannot start, tests
fail under ``CI=true`` and skip elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from tests import components

REPO = Path(__file__).resolve().parent.parent


def unavailable(reason: str) -> NoReturn:
    components.unavailable("Docker Engine", reason)


@dataclass
class Daemon:
    root: Path
    host: str  # unix:///.../docker.sock
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the real docker CLI against this daemon."""
        return subprocess.run(["docker", "-H", self.host, *args], capture_output=True, text=True, check=check,
                              timeout=timeout)

    def halt(self) -> None:
        """Stop the daemon and unmount its data, keeping the data root for a restart on it."""
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        subprocess.run(["umount", "-R", str(self.root / "data")], capture_output=True, check=False)

    def stop(self) -> None:
        """Stop the daemon and remove everything it had."""
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)


def ensure_installed() -> None:
    if shutil.which("dockerd") and shutil.which("docker"):
        return
    r = subprocess.run(["bash", str(REPO / "scripts/install-system-deps.sh")], capture_output=True, text=True,
                       check=False, timeout=900)
    if r.returncode != 0 or not shutil.which("dockerd"):
        unavailable(f"install-system-deps.sh failed: {r.stderr[-2000:]}")


def start(*extra: str, root: Path | None = None, timeout: float = 60) -> Daemon:
    """Start a dockerd with its own state under ``root`` (a fresh short path by default)."""
    ensure_installed()
    if os.geteuid() != 0:
        unavailable("dockerd needs root")
    root = root or Path(tempfile.mkdtemp(prefix="mdk-", dir="/tmp"))  # short: unix socket paths are limited
    for d in ("data", "exec"):
        (root / d).mkdir(parents=True, exist_ok=True)
    sock = root / "docker.sock"
    log = root / "dockerd.log"
    args = ["dockerd", "--host", f"unix://{sock}", "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"), "--pidfile", str(root / "docker.pid"),
            "--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
            "--ip-masq=false", "--storage-driver", "vfs", *extra]
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    daemon = Daemon(root, f"unix://{sock}", proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            unavailable(f"dockerd exited with {proc.returncode}: {log.read_text()[-3000:]}")
        if sock.exists() and daemon.docker("version", check=False, timeout=10).returncode == 0:
            return daemon
        time.sleep(0.2)
    daemon.stop()
    unavailable(f"dockerd did not answer within {timeout:.0f} s: {log.read_text()[-3000:]}")


@contextlib.contextmanager
def running(*extra: str) -> Iterator[Daemon]:
    """A private daemon for the ``with`` block (a test module's or session's fixture)."""
    daemon = start(*extra)
    try:
        yield daemon
    finally:
        daemon.stop()


def busybox_image(daemon: Daemon, tag: str = "mamori-test/busybox:1") -> str:
    """Build a one-binary image FROM scratch with Debian's busybox-static; returns the tag."""
    if daemon.docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p)), None)
    if busybox is None:
        unavailable("busybox-static is not installed")
    ctx = Path(tempfile.mkdtemp(prefix="mamori-img-"))
    shutil.copy(busybox, ctx / "busybox")
    (ctx / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        'CMD ["/bin/sh"]\n')
    r = daemon.docker("build", "-q", "-t", tag, str(ctx), check=False, timeout=300)
    shutil.rmtree(ctx, ignore_errors=True)
    if r.returncode != 0:
        unavailable(f"cannot build the busybox image: {r.stderr[-2000:]}")
    return tag
