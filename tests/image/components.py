"""Real components for the image tests: a private dockerd, a local registry, a Debian rootfs.

The Debian rootfs (``debootstrap --variant=minbase bookworm``) is cached in /var/cache/mamori-test;
the mirror is read from the machine's apt sources, never written here.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests import components

CACHE = Path(os.environ.get("MAMORI_TEST_CACHE", "/var/cache/mamori-test"))
ROOTFS = CACHE / "bookworm-minbase"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    proc: subprocess.Popen[bytes]
    root: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def htpasswd_line(user: str, password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}\n"  # cost 4: fast tests


def start_registry(users: dict[str, str] | None = None, tls: tuple[bytes, bytes] | None = None) -> Registry:
    """docker-registry on 127.0.0.1; ``users`` turns on htpasswd auth, ``tls`` = (cert PEM, key PEM)."""
    if shutil.which("docker-registry") is None:
        components.unavailable("docker-registry", "not installed (Debian package docker-registry)")
    root = Path(tempfile.mkdtemp(prefix="mamori-reg-"))
    port = free_port()
    auth = ""
    if users:
        (root / "htpasswd").write_text("".join(htpasswd_line(u, p) for u, p in users.items()))
        auth = f"auth:\n  htpasswd:\n    realm: mamori-test\n    path: {root / 'htpasswd'}\n"
    tls_conf = ""
    if tls:
        (root / "cert.pem").write_bytes(tls[0])
        (root / "key.pem").write_bytes(tls[1])
        tls_conf = f"  tls:\n    certificate: {root / 'cert.pem'}\n    key: {root / 'key.pem'}\n"
    (root / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{tls_conf}{auth}")
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=log,
                            stderr=subprocess.STDOUT)
    reg = Registry(f"127.0.0.1:{port}", proc, root)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            scheme = "https" if tls else "http"
            if httpx.get(f"{scheme}://{reg.host}/v2/", timeout=2, verify=False).status_code in (200, 401):
                return reg
        except httpx.HTTPError:
            time.sleep(0.1)
    text = (root / "registry.log").read_text(errors="replace")[-2000:]
    reg.stop()
    components.unavailable("docker-registry", f"did not start: {text}")


def apt_mirror() -> str | None:
    """The Debian mirror this machine's apt uses for bookworm (deb822 or one-line sources)."""
    texts = []
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            texts.append(p.read_text())
        except OSError:
            continue
    for text in texts:
        for block in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", block, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", block, re.M)
            if uris and suites and "bookworm" in suites.group(1).split() and "security" not in uris.group(1):
                return uris.group(1)
        m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M)
        if m:
            return m.group(1)
    return None


def debian_rootfs() -> Path:
    """The cached minbase bookworm rootfs, made once with debootstrap (needs root and the mirror)."""
    if (ROOTFS / "var/lib/dpkg/status").exists():
        return ROOTFS
    if shutil.which("debootstrap") is None:
        components.unavailable("debootstrap", "not installed (Debian package debootstrap)")
    if os.geteuid() != 0:
        components.unavailable("debootstrap", "needs root")
    mirror = apt_mirror()
    if mirror is None:
        components.unavailable("debootstrap", "no bookworm mirror in the apt sources")
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (ROOTFS / "var/lib/dpkg/status").exists():
            return ROOTFS
        tmp = CACHE / "bookworm-minbase.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(tmp), mirror], capture_output=True,
                           text=True, timeout=900, check=False)
        if r.returncode != 0:
            components.unavailable("debootstrap", f"failed: {r.stderr[-2000:] or r.stdout[-2000:]}")
        tmp.rename(ROOTFS)
    return ROOTFS
