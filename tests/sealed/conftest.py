"""A copy of examples/sealed/app with a planted marker, sealed for a keyring; helpers to run mamori-entrypoint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from mamori.crypto.keyring import Keyring
from mamori.crypto.keys import KeyWrapper
from mamori.crypto.stream import SealWriter
from mamori.secrets import Secret

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sealed" / "app"
MARKER = "pl4nted-sealed-app-marker-7e21"
PASSPHRASE = "pl4nted-entrypoint-passphrase-93c4"
ENTRYPOINT = [sys.executable, "-c", "from mamori.crypto.entrypoint import console; console()"]


def seal_dir(src: Path, dst: Path, wrappers: Sequence[KeyWrapper], context: dict[str, str] | None = None) -> None:
    """What `mamori seal DIR` writes: a pax tar stream straight into the sealed stream."""
    with open(dst, "wb") as fh, SealWriter(fh, list(wrappers), context=context or {}, kind="tar") as writer, \
            tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        tar.add(str(src), arcname=".")


def planted_app(tmp_path: Path) -> Path:
    app = tmp_path / "app-src"
    shutil.copytree(EXAMPLE, app)
    with open(app / "config.txt", "a", encoding="utf-8") as fh:
        fh.write(f"marker={MARKER}\n")
    return app


@pytest.fixture
def shm() -> Iterator[Path]:
    """A base directory on /dev/shm for --workdir, so the test can look for leftovers after exit."""
    base = Path(tempfile.mkdtemp(prefix="mamori-test-", dir="/dev/shm"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def keyring_bundle(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """(bundle, environment) for a keyring-sealed copy of the example; the plaintext source is deleted."""
    ring_path = tmp_path / "keys" / "keyring.json"
    ring_path.parent.mkdir()
    ring = Keyring.create(str(ring_path), Secret(PASSPHRASE), n=1 << 14)
    app = planted_app(tmp_path)
    bundle = tmp_path / "app.sealed"
    seal_dir(app, bundle, [ring.wrapper()], {"app": "example"})
    shutil.rmtree(app)
    pp = tmp_path / "keys" / "passphrase"
    pp.write_text(PASSPHRASE + "\n")
    return bundle, {"MAMORI_KEYRING": str(ring_path), "MAMORI_KEYRING_PASSPHRASE_FILE": str(pp)}


def run(args: Sequence[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")} | env
    return subprocess.run([*ENTRYPOINT, *args], env=full, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def files_containing(root: Path, needle: str) -> list[Path]:
    hits = []
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink() and needle.encode() in p.read_bytes():
            hits.append(p)
    return hits


def assert_clean_failure(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mamori-entrypoint: error: "), result.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert "app: running" not in result.stdout
    for leak in (MARKER, PASSPHRASE):
        assert leak not in result.stdout + result.stderr


_HSM_SEAL = """
import sys
from pathlib import Path
from mamori.crypto.pkcs11 import Pkcs11Key
from mamori.secrets import Secret
from tests.sealed.conftest import seal_dir
token, label, pin, module, src, dst = sys.argv[1:7]
key = Pkcs11Key(token, label, Secret(pin), module)
key.generate()
seal_dir(Path(src), Path(dst), [key], dict(p.split("=", 1) for p in sys.argv[7:]))
"""


def hsm_seal(token: str, label: str, pin: str, module: str, src: Path, dst: Path, context: dict[str, str]) -> None:
    """Generate a KEK on the token and seal ``src`` with it, in a fresh process: python-pkcs11 initialises the
    module once per process, so this process may still see the token directory of an earlier test module."""
    subprocess.run([sys.executable, "-c", _HSM_SEAL, token, label, pin, module, str(src), str(dst),
                    *(f"{k}={v}" for k, v in context.items())],
                   cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True, capture_output=True, timeout=120)
