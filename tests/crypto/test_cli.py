"""``mamori seal`` / ``unseal``: round trip, rewrap, and every failure a one-line error with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mamori.cli.main import cli
from tests.crypto.conftest import PASSPHRASE

PLAINTEXT = b"pl4nted-plaintext-marker-0c3d " * 5000  # 150 kB: three segments


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    pp = tmp_path / "passphrase"
    pp.write_text(PASSPHRASE + "\n")
    yield {"MAMORI_KEYRING": str(tmp_path / "keyring.json"), "MAMORI_KEYRING_PASSPHRASE_FILE": str(pp)}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)


def assert_clean_failure(result: Result) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "mamori: error:" in result.output
    for leak in (PASSPHRASE, "pl4nted-plaintext-marker"):
        assert leak not in result.output


@pytest.fixture
def sealed(env: dict[str, str], tmp_path: Path) -> Path:
    assert run(env, "seal", "keyring", "init", "--scrypt-n", "16384").exit_code == 0
    src = tmp_path / "app.conf"
    src.write_bytes(PLAINTEXT)
    result = run(env, "seal", str(src), "--context", "app=web")
    assert result.exit_code == 0, result.output
    return tmp_path / "app.conf.sealed"


def test_round_trip_and_inspect(env: dict[str, str], sealed: Path, tmp_path: Path) -> None:
    assert b"pl4nted-plaintext-marker" not in sealed.read_bytes()
    assert oct(sealed.stat().st_mode & 0o777) == "0o600"
    out = tmp_path / "back.conf"
    result = run(env, "unseal", str(sealed), "-o", str(out), "--context", "app=web")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == PLAINTEXT
    info = json.loads(run(env, "seal", "inspect", str(sealed)).output)
    assert info["version"] == 1 and info["context"] == {"app": "web"} and info["recipients"][0]["provider"] == "keyring"
    assert "wrapped" not in json.dumps(info)


def test_tampering_with_any_byte_is_a_clean_error(env: dict[str, str], sealed: Path, tmp_path: Path) -> None:
    blob = sealed.read_bytes()
    damaged = tmp_path / "damaged.sealed"
    positions = sorted({*range(0, 600, 7), *range(600, len(blob), len(blob) // 40), len(blob) - 1})
    for i in positions:
        data = bytearray(blob)
        data[i] ^= 0x20
        damaged.write_bytes(bytes(data))
        result = run(env, "unseal", str(damaged), "-o", str(tmp_path / "out"), "--force")
        assert_clean_failure(result)
        assert not (tmp_path / "out").exists()  # no partial plaintext left behind


def test_truncation_wrong_context_wrong_passphrase(env: dict[str, str], sealed: Path, tmp_path: Path) -> None:
    blob = sealed.read_bytes()
    short = tmp_path / "short.sealed"
    short.write_bytes(blob[: len(blob) - (len(blob) % 65552) - 1])
    r = run(env, "unseal", str(short), "-o", str(tmp_path / "o1"))
    assert_clean_failure(r)
    assert "truncated" in r.output or "failed authentication" in r.output
    r = run(env, "unseal", str(sealed), "-o", str(tmp_path / "o2"), "--context", "app=db")
    assert_clean_failure(r)
    assert "context does not match" in r.output
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase")
    r = run(env, "unseal", str(sealed), "-o", str(tmp_path / "o3"), "--passphrase-file", str(wrong))
    assert_clean_failure(r)
    assert "wrong passphrase" in r.output
    r = run(env, "unseal", str(tmp_path / "missing.sealed"))
    assert r.exit_code == 2 and "Traceback" not in r.output
    (tmp_path / "plain.sealed").write_text("just text")
    assert_clean_failure(run(env, "unseal", str(tmp_path / "plain.sealed")))


def test_rotate_and_rewrap_without_reencrypting(env: dict[str, str], sealed: Path, tmp_path: Path) -> None:
    before = sealed.read_bytes()
    old = json.loads(run(env, "seal", "inspect", str(sealed)).output)["recipients"][0]["key_id"]
    new = run(env, "seal", "keyring", "rotate").output.strip().splitlines()[-1]
    r = run(env, "seal", "rewrap", str(sealed))
    assert r.exit_code == 0, r.output
    after = sealed.read_bytes()
    info = json.loads(run(env, "seal", "inspect", str(sealed)).output)
    assert info["recipients"][0]["key_id"] == new != old
    assert after[-100_000:] == before[-100_000:]  # segments copied, not re-encrypted
    assert run(env, "seal", "keyring", "retire", old).exit_code == 0
    r = run(env, "unseal", str(sealed), "-o", str(tmp_path / "out"), "--context", "app=web")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out").read_bytes() == PLAINTEXT


def test_existing_output_refused_without_force(env: dict[str, str], sealed: Path, tmp_path: Path) -> None:
    (tmp_path / "app.conf").write_bytes(b"keep me")
    r = run(env, "unseal", str(sealed))
    assert r.exit_code == 2 and "exists" in r.output
    assert (tmp_path / "app.conf").read_bytes() == b"keep me"


def test_real_process_prints_no_traceback(env: dict[str, str], sealed: Path, tmp_path: Path) -> None:
    data = bytearray(sealed.read_bytes())
    data[-5] ^= 1
    bad = tmp_path / "bad.sealed"
    bad.write_bytes(bytes(data))
    proc = subprocess.run([sys.executable, "-m", "mamori.cli.main", "unseal", str(bad), "-o", str(tmp_path / "x")],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("mamori: error: sealed file is damaged") and "Traceback" not in proc.stderr
    assert PASSPHRASE not in proc.stderr + proc.stdout


def test_directory_bundle_round_trip(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "seal", "keyring", "init", "--scrypt-n", "16384").exit_code == 0
    app = tmp_path / "app"
    (app / "conf").mkdir(parents=True)
    (app / "conf" / "settings.yaml").write_text("level: info\n")
    (app / "bin.dat").write_bytes(os.urandom(200_000))
    (app / "link").symlink_to("conf/settings.yaml")
    r = run(env, "seal", str(app) + "/")
    assert r.exit_code == 0, r.output
    sealed = tmp_path / "app.sealed"
    assert json.loads(run(env, "seal", "inspect", str(sealed)).output)["kind"] == "tar"
    out = tmp_path / "restored"
    r = run(env, "unseal", str(sealed), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert (out / "conf" / "settings.yaml").read_text() == "level: info\n"
    assert (out / "bin.dat").read_bytes() == (app / "bin.dat").read_bytes()
    assert os.readlink(out / "link") == "conf/settings.yaml"
    data = bytearray(sealed.read_bytes())
    data[-20] ^= 1
    sealed.write_bytes(bytes(data))
    r = run(env, "unseal", str(sealed), "-o", str(tmp_path / "again"))
    assert_clean_failure(r)
    assert not (tmp_path / "again").exists()  # nothing extracted from an unauthenticated bundle
