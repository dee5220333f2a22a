"""Session fixtures: one private dockerd, registries (open and htpasswd), and test images in every form."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import components, dockerd
from tests.image import components as comp

USER, PASSWORD = "alice", "s3cret-pass"


@dataclass
class Forms:
    """One image in every form mamori reads."""

    tag: str  # in the private daemon
    pushed: str  # 127.0.0.1:PORT/name:tag in the open registry
    archive: Path  # docker save
    oci: Path  # OCI layout (skopeo)


@pytest.fixture(autouse=True)
def no_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Registry credentials never come from the machine's own ~/.docker/config.json in tests."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))


@pytest.fixture(scope="session")
def daemon() -> Iterator[dockerd.Daemon]:
    with dockerd.running() as d:
        yield d


@pytest.fixture(scope="session")
def registry() -> Iterator[comp.Registry]:
    r = comp.start_registry()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[comp.Registry]:
    r = comp.start_registry({USER: PASSWORD})
    yield r
    r.stop()


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


def forms(daemon: dockerd.Daemon, registry: comp.Registry, work: Path, tag: str, name: str) -> Forms:
    pushed = f"{registry.host}/{name}"
    daemon.docker("tag", tag, pushed)
    r = daemon.docker("push", pushed, check=False, timeout=600)
    if r.returncode != 0:
        components.unavailable("registry push", r.stderr[-2000:])
    archive = work / f"{name.replace('/', '_').replace(':', '_')}.tar"
    daemon.docker("save", "-o", str(archive), tag, timeout=600)
    oci = work / f"{name.replace('/', '_').replace(':', '_')}.oci"
    if shutil.which("skopeo") is None:
        components.unavailable("skopeo", "not installed (Debian package skopeo)")
    r2 = subprocess.run(["skopeo", "copy", "--src-daemon-host", daemon.host, f"docker-daemon:{tag}",
                         f"oci:{oci}:{name.rsplit(':', 1)[-1]}"], capture_output=True, text=True, timeout=600,
                        check=False)
    if r2.returncode != 0:
        components.unavailable("skopeo", r2.stderr[-2000:])
    return Forms(tag, pushed, archive, oci)


@pytest.fixture(scope="session")
def kitchen(daemon: dockerd.Daemon, registry: comp.Registry, work: Path) -> Forms:
    """busybox FROM scratch plus a Debian-built Go binary, package metadata and a whiteout layer."""
    base = dockerd.busybox_image(daemon)
    ctx = work / "kitchen"
    (ctx / "site").mkdir(parents=True)
    shutil.copy("/usr/bin/docker-registry", ctx / "registry-bin")
    (ctx / "site/METADATA").write_text("Metadata-Version: 2.1\nName: demo_pkg\nVersion: 0.4.2\nLicense: MIT\n")
    (ctx / "package.json").write_text('{"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}')
    (ctx / "os-release").write_text('ID=mamori\nVERSION_ID="1"\nPRETTY_NAME="mamori test"\n')
    (ctx / "Dockerfile").write_text(
        f"FROM {base}\n"
        "COPY registry-bin /usr/bin/docker-registry\n"
        "COPY site/METADATA /usr/lib/python3/dist-packages/demo_pkg-0.4.2.dist-info/METADATA\n"
        "COPY package.json /srv/app/node_modules/left-pad/package.json\n"
        "COPY os-release /etc/os-release\n"
        'RUN ["/bin/sh", "-c", "mkdir -p /tmp/junk && echo x > /tmp/junk/a && echo y > /secret-to-delete"]\n'
        'RUN ["/bin/sh", "-c", "rm -rf /tmp/junk /secret-to-delete"]\n')
    tag = "mamori-test/kitchen:1"
    r = daemon.docker("build", "--network", "none", "-q", "-t", tag, str(ctx), check=False, timeout=600)
    if r.returncode != 0:
        components.unavailable("docker build", r.stderr[-2000:])
    return forms(daemon, registry, work, tag, "kitchen:1")


@pytest.fixture(scope="session")
def debian(daemon: dockerd.Daemon, registry: comp.Registry, work: Path) -> Forms:
    rootfs = comp.debian_rootfs()
    tag = "mamori-test/debian-min:12"
    if daemon.docker("image", "inspect", tag, check=False).returncode != 0:
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--exclude=./var/cache/apt/archives/*.deb",
                                "--exclude=./var/lib/apt/lists/*_*", "-c", "."], stdout=subprocess.PIPE)
        r = subprocess.run(["docker", "-H", daemon.host, "import", "-", tag], stdin=tar.stdout, capture_output=True,
                           text=True, timeout=600, check=False)
        tar.wait()
        if r.returncode != 0:
            components.unavailable("docker import", r.stderr[-2000:])
    return forms(daemon, registry, work, tag, "debian-min:12")
