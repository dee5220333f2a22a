"""Session fixtures: a private dockerd and two images built FROM scratch with busybox-static.

``dirty`` plants what the image-content rules look for (a setuid binary, a private key, an AWS
credentials file, a token added in one layer and deleted in the next, apt caches, a 0777
directory, a debugger) and has a Dockerfile-level config to judge (no USER, no HEALTHCHECK,
EXPOSE 22, a token in ENV); ``clean`` has none of it. The secret values are random per session
and kept here so tests can assert they never reach any output.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import dockerd


@dataclass
class Images:
    daemon: dockerd.Daemon
    dirty: str
    clean: str
    archive: Path  # `docker save` of dirty
    values: tuple[str, ...]  # every planted secret value


def _alnum(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


@pytest.fixture(autouse=True)
def no_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))


@pytest.fixture(scope="session")
def daemon() -> Iterator[dockerd.Daemon]:
    with dockerd.running() as d:
        yield d


def _build(daemon: dockerd.Daemon, ctx: Path, tag: str) -> None:
    r = daemon.docker("build", "-q", "-t", tag, str(ctx), check=False, timeout=300)
    if r.returncode != 0:
        dockerd.unavailable(f"cannot build {tag}: {r.stderr[-2000:]}")


@pytest.fixture(scope="session")
def images(daemon: dockerd.Daemon, tmp_path_factory: pytest.TempPathFactory) -> Images:
    busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p)), None)
    if busybox is None:
        dockerd.unavailable("busybox-static is not installed")
    work = tmp_path_factory.mktemp("image-scan")
    key_body = base64.b64encode(secrets.token_bytes(900)).decode()
    pem = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(
        key_body[i:i + 64] for i in range(0, len(key_body), 64)) + "\n-----END RSA PRIVATE KEY-----\n"
    akid = "AKIA" + _alnum(16, string.ascii_uppercase + "234567")
    secret_key = _alnum(40, string.ascii_letters + string.digits + "/+")
    deleted_token = "ghp_" + _alnum(36)
    env_token = "ghp_" + _alnum(36)

    dirty = work / "dirty"
    (dirty / "files/root/.aws").mkdir(parents=True)
    (dirty / "files/root/.aws/credentials").write_text(
        f"[default]\naws_access_key_id = {akid}\naws_secret_access_key = {secret_key}\n")
    (dirty / "files/app").mkdir(parents=True)
    (dirty / "files/app/tls.pem").write_text(pem)
    (dirty / "files/var/cache/apt/archives").mkdir(parents=True)
    (dirty / "files/var/cache/apt/archives/curl_8.0.0-1_amd64.deb").write_bytes(os.urandom(4096))
    (dirty / "files/var/lib/apt/lists").mkdir(parents=True)
    (dirty / "files/var/lib/apt/lists/deb.example_dists_bookworm_InRelease").write_text("Origin: Debian\n" * 50)
    (dirty / "files/var/lib/apt/lists/lock").write_text("")
    (dirty / "files/usr/local/bin").mkdir(parents=True)
    (dirty / "files/usr/local/bin/gdb").write_text("#!/bin/sh\necho gdb\n")
    (dirty / "token.txt").write_text(f"GITHUB_TOKEN={deleted_token}\n")
    shutil.copy(busybox, dirty / "busybox")
    (dirty / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        "COPY files/ /\n"
        "COPY token.txt /app/token.txt\n"
        'RUN ["/bin/rm", "/app/token.txt"]\n'
        'RUN ["/bin/sh", "-c", "cp /bin/busybox /usr/local/bin/pinger && chmod 4755 /usr/local/bin/pinger '
        '&& mkdir -p /data && chmod 0777 /data && mkdir -p /tmp && chmod 1777 /tmp"]\n'
        f"ENV API_TOKEN={env_token}\n"
        "EXPOSE 22 8080\n"
        'CMD ["/bin/busybox", "httpd", "-f"]\n')
    _build(daemon, dirty, "mamori-test/scan-dirty:1")

    clean = work / "clean"
    clean.mkdir()
    shutil.copy(busybox, clean / "server")
    (clean / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY server /app/server\n"
        "USER 10001:10001\n"
        "EXPOSE 8080\n"
        'HEALTHCHECK CMD ["/app/server", "true"]\n'
        'ENTRYPOINT ["/app/server"]\n'
        'CMD ["httpd", "-f", "-p", "8080"]\n')
    _build(daemon, clean, "mamori-test/scan-clean:1")

    archive = work / "dirty.tar"
    daemon.docker("save", "-o", str(archive), "mamori-test/scan-dirty:1", timeout=300)
    return Images(daemon, "mamori-test/scan-dirty:1", "mamori-test/scan-clean:1", archive,
                  (akid, secret_key, deleted_token, env_token, key_body[:64], key_body[64:128]))
