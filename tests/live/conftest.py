"""Private Docker daemons for the live-audit tests, with known settings and containers.

``weak``: the daemon defaults plus an unauthenticated TCP listener on 127.0.0.1, an
insecure registry, experimental features, a world-writable daemon.json and socket.
``hardened``: live-restore, no-new-privileges, a syslog log driver, and a TLS listener on
127.0.0.1 that verifies client certificates. Both run with ``--bridge none`` (tests/dockerd.py),
so there is no default bridge and icc cannot be judged live (snapshot fixtures cover it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mamori.enforce.certs import load_ca, new_ca, serving_cert
from tests import dockerd

# What each container of the weak daemon is created with; the Compose twin is in test_parity.py.
CONTAINERS: dict[str, list[str]] = {
    "insecure": ["--privileged", "--cap-add", "NET_ADMIN", "-v", "/var/run/docker.sock:/var/run/docker.sock",
                 "-v", "/etc:/host-etc", "--network", "host", "--pid", "host", "--user", "root"],
    "hardened": ["--user", "10001:10001", "--cap-drop", "ALL", "--read-only", "--security-opt", "no-new-privileges",
                 "--memory", "64m", "--pids-limit", "100", "--cpus", "0.5", "--health-cmd", "true",
                 "--network", "none", "--label", "tenant=shop", "--label", "data-classification=internal"],
    "mixed": ["--network", "appnet", "-p", "0.0.0.0:8080:80", "-v", "data:/data", "-e", "DB_PASSWORD=hunter2secret",
              "-e", "MODE=prod", "--restart", "always", "--label", "tenant=shop", "--label",
              "data-classification=internal", "--user", "10001", "--tmpfs", "/tmp"],
    "namespaces": ["--ipc", "host", "--uts", "host", "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined",
                   "--security-opt", "apparmor=unconfined", "--device", "/dev/null:/dev/xnull",
                   "--sysctl", "net.ipv4.ip_forward=1"],
    "unlabelled": ["--security-opt", "label=disable", "--user", "10001:10001", "--memory", "32m"],
}
RUNNING = ("hardened",)  # started (the others are only created: privileged containers cannot start here)


@dataclass
class Host:
    daemon: dockerd.Daemon
    image: str
    config: Path  # the daemon.json dockerd was started with
    tcp: str  # tcp://127.0.0.1:PORT
    group_file: Path
    passwd_file: Path
    cert_dir: Path | None = None  # client cert.pem/key.pem/ca.pem for a TLS listener

    @property
    def target(self) -> str:
        return "docker://" + self.daemon.host

    @property
    def socket(self) -> Path:
        return Path(self.daemon.host.removeprefix("unix://"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ids(root: Path, members: str) -> tuple[Path, Path]:
    group = root / "group"
    group.write_text(f"root:x:0:\nusers:x:100:\ndocker:x:4242:{members}\n")
    passwd = root / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n")
    return group, passwd


def _client_cert(ca_cert_pem: bytes, ca_key_pem: bytes) -> tuple[bytes, bytes]:
    ca_cert, ca_key = load_ca(ca_cert_pem, ca_key_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mamori-test-client")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@pytest.fixture(scope="session")
def weak() -> Iterator[Host]:
    root = Path(tempfile.mkdtemp(prefix="mlw-", dir="/tmp"))
    config = root / "daemon.json"
    config.write_text(json.dumps({"experimental": True, "insecure-registries": ["registry.example:5000"]},
                                 indent=2) + "\n")
    os.chmod(config, 0o666)
    port = free_port()
    d = dockerd.start("--config-file", str(config), "-H", f"tcp://127.0.0.1:{port}", root=root)
    try:
        os.chmod(root / "docker.sock", 0o666)
        image = dockerd.busybox_image(d)
        d.docker("network", "create", "appnet")
        for name, args in CONTAINERS.items():
            verb = ["run", "-d"] if name in RUNNING else ["create"]
            d.docker(*verb, "--name", name, *args, image, "sleep", "1000")
        group, passwd = _ids(root, "alice")
        yield Host(d, image, config, f"tcp://127.0.0.1:{port}", group, passwd)
    finally:
        d.docker("rm", "-f", *CONTAINERS, check=False)  # a network still in use cannot be removed
        # a user network's bridge outlives the daemon: left behind run after run, they use up the
        # default address pools until `network create` fails on the machine
        d.docker("network", "rm", "appnet", check=False)
        d.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def hardened() -> Iterator[Host]:
    root = Path(tempfile.mkdtemp(prefix="mlh-", dir="/tmp"))
    tls = root / "tls"
    tls.mkdir()
    ca = new_ca("mamori live-test CA", days=2)
    server = serving_cert(ca, ["localhost"], ["127.0.0.1"], days=1)
    for name, data in (("ca.pem", ca.cert_pem), ("server.pem", server.cert_pem), ("server-key.pem", server.key_pem)):
        (tls / name).write_bytes(data)
    client = root / "client"
    client.mkdir()
    cert, key = _client_cert(ca.cert_pem, ca.key_pem)
    (client / "cert.pem").write_bytes(cert)
    (client / "key.pem").write_bytes(key)
    (client / "ca.pem").write_bytes(ca.cert_pem)
    config = root / "daemon.json"
    config.write_text(json.dumps({
        "live-restore": True, "no-new-privileges": True, "log-driver": "syslog",
        "log-opts": {"syslog-address": "udp://127.0.0.1:5514"},
        "tlsverify": True, "tlscacert": str(tls / "ca.pem"), "tlscert": str(tls / "server.pem"),
        "tlskey": str(tls / "server-key.pem"),
    }, indent=2) + "\n")
    os.chmod(config, 0o644)
    port = free_port()
    d = dockerd.start("--config-file", str(config), "-H", f"tcp://127.0.0.1:{port}", root=root)
    try:
        image = dockerd.busybox_image(d)
        d.docker("create", "--name", "hardened", *CONTAINERS["hardened"], image, "sleep", "1000")
        group, passwd = _ids(root, "")
        yield Host(d, image, config, f"tcp://127.0.0.1:{port}", group, passwd, client)
    finally:
        d.stop()
        shutil.rmtree(root, ignore_errors=True)
