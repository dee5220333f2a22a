"""Fixtures: a private Docker Engine, a "compromised" busybox container, signing keys, one captured bundle."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from mamori.cli.main import cli
from tests import dockerd


@dataclass(frozen=True)
class Victim:
    name: str
    cid: str
    dropped: str  # content of /tmp/dropper.sh
    config: str  # content of /etc/evil.conf
    marker: str  # printed on stdout at start
    port: int  # nc listens here


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


@dataclass(frozen=True)
class Captured:
    path: Path
    db: str
    key: KeyPair


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write_key(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, where: Path, stem: str) -> KeyPair:
    priv, pub = where / f"{stem}.pem", where / f"{stem}.pub"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return KeyPair(priv, pub)


@pytest.fixture(scope="session")
def daemon() -> Iterator[dockerd.Daemon]:
    with dockerd.running() as d:
        yield d


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    d = tmp_path_factory.mktemp("keys")
    return {"ecdsa": write_key(ec.generate_private_key(ec.SECP256R1()), d, "ecdsa"),
            "ed25519": write_key(ed25519.Ed25519PrivateKey.generate(), d, "ed25519"),
            "other": write_key(ec.generate_private_key(ec.SECP256R1()), d, "other")}


def compromise(daemon: dockerd.Daemon, name: str, port: int) -> Victim:
    """Start a container, then act as the intruder: drop files into /tmp and /etc, start a listener."""
    image = dockerd.busybox_image(daemon)
    marker, dropped, config = (f"{w}-{secrets.token_hex(6)}" for w in ("started", "payload", "config"))
    cid = daemon.docker("run", "-d", "--name", name, image, "sh", "-c",
                        f"echo {marker}; echo boot-warning >&2; sleep 3600").stdout.strip()
    daemon.docker("exec", name, "sh", "-c",
                  f"mkdir -p /tmp /etc && printf '%s\\n' '{dropped}' > /tmp/dropper.sh && "
                  f"printf '%s\\n' '{config}' > /etc/evil.conf && ln -s /etc/evil.conf /tmp/link && "
                  "mkfifo /tmp/fifo")
    daemon.docker("exec", "-d", name, "nc", "-l", "-p", str(port))
    deadline = time.monotonic() + 20
    while f"nc -l -p {port}" not in daemon.docker("top", name).stdout:
        if time.monotonic() > deadline:
            pytest.fail(f"the intruder's nc did not start in {name}")
        time.sleep(0.2)
    return Victim(name, cid, dropped, config, marker, port)


@pytest.fixture(scope="session")
def victim(daemon: dockerd.Daemon) -> Victim:
    return compromise(daemon, "victim", 4444)


@pytest.fixture(scope="session")
def captured(daemon: dockerd.Daemon, victim: Victim, keys: dict[str, KeyPair],
             tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """One directory bundle of the victim, captured with a log store holding records about it."""
    from mamori.audit.entry import new_entry
    from mamori.audit.log import open_log
    from mamori.store.events import EventRecord, open_store, store_event

    d = tmp_path_factory.mktemp("captured")
    db = f"sqlite:///{d / 'store.db'}"
    log = open_log(db)
    log.append([new_entry({"type": "admission.decision", "container": victim.name,
                           "payload": {"note": "seeded-before-capture"}}, "test")])
    log.engine.dispose()
    engine = open_store(db)
    store_event(engine, EventRecord("k" * 64, "2026-01-01T00:00:00.000000000Z", 1, "daemon-id", "host", "start", None,
                                    victim.cid, victim.name, "busybox", None, None, {"name": victim.name}))
    engine.dispose()
    out = d / "bundle"
    r = run("forensics", "capture", victim.name, "-H", daemon.host, "-o", str(out), "--key",
            str(keys["ecdsa"].private), "--audit-db", db, "--operator", "examiner-7", "--case", "INC-42")
    assert r.exit_code == 0, r.output
    return Captured(out, db, keys["ecdsa"])
