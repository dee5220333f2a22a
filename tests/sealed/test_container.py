"""End to end in a real container on a real (private) Docker daemon, the key on a SoftHSM2 token.

Offline there is no Python base image to build FROM, so the test image is FROM scratch with busybox
and the symlinks of a merged-/usr Debian, and the host's /usr, Python and virtualenv are bind-mounted
read-only at their own paths: they stand in for ``FROM python:3.11-slim`` + ``pip install mamori``
(examples/sealed/Dockerfile). The application itself reaches the container only as the sealed bundle.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import dockerd
from tests.crypto.test_pkcs11 import MODULE, PIN, TOKEN, token  # noqa: F401 - `token` is the fixture
from tests.sealed.conftest import MARKER, hsm_seal, planted_app

REPO = Path(__file__).resolve().parents[2]
IMAGE = "mamori-test/sealed-runtime:1"


@pytest.fixture(scope="module")
def daemon() -> Iterator[dockerd.Daemon]:
    with dockerd.running() as d:
        yield d


@pytest.fixture(scope="module")
def image(daemon: dockerd.Daemon) -> str:
    busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p)), None)
    if busybox is None:
        dockerd.unavailable("busybox-static is not installed")
    ctx = Path(tempfile.mkdtemp(prefix="mamori-sealed-img-"))
    try:
        shutil.copy(busybox, ctx / "busybox")
        (ctx / "Dockerfile").write_text(
            "FROM scratch\nCOPY busybox /busybox\n"
            'RUN ["/busybox", "mkdir", "-p", "/usr", "/etc", "/tmp", "/run/secrets", "/app"]\n'
            'RUN ["/busybox", "ln", "-s", "usr/bin", "/bin"]\n'
            'RUN ["/busybox", "ln", "-s", "usr/lib", "/lib"]\n'
            'RUN ["/busybox", "ln", "-s", "usr/lib64", "/lib64"]\n'
            'RUN ["/busybox", "ln", "-s", "usr/sbin", "/sbin"]\n')
        r = daemon.docker("build", "-q", "-t", IMAGE, str(ctx), check=False, timeout=300)
        if r.returncode != 0:
            dockerd.unavailable(f"cannot build the runtime image: {r.stderr[-2000:]}")
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return IMAGE


def _python_mounts() -> list[str]:
    """The host's /usr, Python and venv read-only at their own paths (the stand-in for a Python base image)."""
    paths = {"/usr", os.path.realpath(sys.base_prefix), sys.prefix, str(REPO / "src")}
    out: list[str] = []
    for p in sorted(paths):
        if p != "/usr" and p.startswith("/usr/"):
            continue
        out += ["-v", f"{p}:{p}:ro"]
    return out


def _export_contains(daemon: dockerd.Daemon, name: str, needle: bytes) -> list[str]:
    """Members of `docker export NAME` (the container's own filesystem, mounts excluded) containing needle."""
    r = subprocess.run(["docker", "-H", daemon.host, "export", name], capture_output=True, timeout=300, check=True)
    hits = []
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
        for m in tar:
            f = tar.extractfile(m) if m.isfile() else None
            if f is not None and needle in f.read():
                hits.append(m.name)
    return hits


def test_sealed_app_in_a_real_container_with_the_hsm_key(daemon: dockerd.Daemon, image: str, token: str,  # noqa: F811
                                                         tmp_path: Path) -> None:
    app = planted_app(tmp_path)
    bundle = tmp_path / "app.sealed"
    hsm_seal(TOKEN, "container-kek", PIN, MODULE, app, bundle, {"app": "example"})
    shutil.rmtree(app)
    pin = tmp_path / "pin"
    pin.write_text(PIN + "\n")
    logdir = tmp_path / "log"
    logdir.mkdir()
    conf = os.environ["SOFTHSM2_CONF"]
    tokens = str(Path(conf).parent)
    common = [*_python_mounts(), "-v", f"{tokens}:{tokens}", "-v", f"{bundle}:/app/app.sealed:ro",
              "-v", f"{pin}:/run/secrets/pkcs11-pin:ro", "-v", f"{logdir}:/log",
              "-e", f"SOFTHSM2_CONF={conf}", "-e", f"MAMORI_PKCS11_MODULE={MODULE}", "-e", "SIGNAL_LOG=/log/signals",
              "--network", "none", "--read-only", "--tmpfs", "/run/app:exec,mode=0700"]
    entry = [os.path.join(sys.prefix, "bin", "mamori-entrypoint"), "--bundle", "/app/app.sealed",
             "--pin-file", "/run/secrets/pkcs11-pin", "--context", "app=example"]

    # 1. runs, prints its decrypted configuration, exit code propagated
    r = daemon.docker("run", "--name", "sealed-1", *common, "--entrypoint", entry[0], image, *entry[1:],
                      "--workdir", "/run/app", "--", "./run.sh", "exit", "3", check=False, timeout=120)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert f"marker={MARKER}" in r.stdout and "app: running in /run/app/mamori-" in r.stdout
    assert _export_contains(daemon, "sealed-1", MARKER.encode()) == []
    mounts = {a.split(":")[1] for a in common if a.count(":") >= 1 and a.startswith("/")} | {"/run/app"}
    allowed = mounts | {str(Path(*Path(m).parts[:i])) for m in mounts for i in range(2, len(Path(m).parts))}
    changed = {line.split(" ", 1)[1] for line in daemon.docker("diff", "sealed-1").stdout.splitlines()}
    assert changed <= allowed, changed - allowed  # --read-only: only the mount points themselves

    # 2. Docker's own /dev/shm is noexec: refused with a clear message, not a confusing EACCES
    r = daemon.docker("run", "--rm", *common, "--entrypoint", entry[0], image, *entry[1:], "--", "./run.sh",
                      check=False, timeout=120)
    assert r.returncode == 2 and "noexec" in r.stderr and "Traceback" not in r.stderr, r.stderr

    # 3. `docker stop` (SIGTERM to PID 1) reaches the app, its status is the container's, the plaintext goes
    cid = daemon.docker("run", "-d", "--name", "sealed-2", *common, "--entrypoint", entry[0], image, *entry[1:],
                        "--workdir", "/run/app", "--", "./run.sh", "wait").stdout.strip()
    deadline = time.monotonic() + 60
    while "app: ready" not in daemon.docker("logs", cid, check=False).stdout and time.monotonic() < deadline:
        time.sleep(0.2)
    assert daemon.docker("exec", cid, "/busybox", "ls", "/run/app").stdout.strip().startswith("mamori-")
    daemon.docker("stop", "-t", "20", cid, timeout=60)
    status = daemon.docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip()
    assert status == "143", daemon.docker("logs", cid, check=False).stderr
    assert (logdir / "signals").read_text().split() == ["TERM"]
    assert _export_contains(daemon, "sealed-2", MARKER.encode()) == []
    assert MARKER.encode() not in bundle.read_bytes()
