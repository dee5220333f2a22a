"""mamori-entrypoint with the key on a SoftHSM2 token: PIN from a mounted file, missing PIN a clean error."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.crypto.test_pkcs11 import MODULE, PIN, TOKEN, token  # noqa: F401 - `token` is the fixture
from tests.sealed.conftest import MARKER, PASSPHRASE, assert_clean_failure, files_containing, hsm_seal, planted_app, run


def _sealed(tmp_path: Path, label: str) -> tuple[Path, Path]:
    app = planted_app(tmp_path)
    bundle = tmp_path / "app.sealed"
    hsm_seal(TOKEN, label, PIN, MODULE, app, bundle, {})
    shutil.rmtree(app)
    pin = tmp_path / "pin"
    pin.write_text(PIN + "\n")
    return bundle, pin


def test_hsm_sealed_app_runs_with_the_pin_file(token: str, tmp_path: Path, shm: Path) -> None:  # noqa: F811
    bundle, pin = _sealed(tmp_path, "app-kek-1")
    assert MARKER.encode() not in bundle.read_bytes()
    env = {"MAMORI_PKCS11_MODULE": MODULE}
    r = run(["--bundle", str(bundle), "--workdir", str(shm), "--pin-file", str(pin), "--", "./run.sh", "exit", "5"],
            env)
    assert r.returncode == 5, r.stderr
    assert f"marker={MARKER}" in r.stdout and PIN not in r.stdout + r.stderr
    assert list(shm.iterdir()) == [] and files_containing(tmp_path, MARKER) == []
    uri = f"pkcs11:token={TOKEN};object=app-kek-1;pin-source=file:{pin}"
    r = run(["--bundle", str(bundle), "--workdir", str(shm), "--key", uri, "--", "sh", "-c", "env"], env)
    assert r.returncode == 0 and PIN not in r.stdout and "MAMORI_PKCS11_PIN" not in r.stdout, r.stderr


def test_missing_or_wrong_pin_and_wrong_token(token: str, tmp_path: Path, shm: Path) -> None:  # noqa: F811
    bundle, pin = _sealed(tmp_path, "app-kek-2")
    env = {"MAMORI_PKCS11_MODULE": MODULE}
    assert_clean_failure(run(["--bundle", str(bundle), "--workdir", str(shm), "--", "./run.sh"], env), "PIN")
    pin.write_text("0000\n")
    r = run(["--bundle", str(bundle), "--workdir", str(shm), "--pin-file", str(pin), "--", "./run.sh"], env)
    assert_clean_failure(r)
    assert "0000" not in r.stderr
    pin.write_text(PIN + "\n")
    uri = f"pkcs11:token=not-{TOKEN};object=app-kek-2;pin-source=file:{pin}"  # the token is the access unit
    assert_clean_failure(run(["--bundle", str(bundle), "--workdir", str(shm), "--key", uri, "--", "./run.sh"], env))
    assert list(shm.iterdir()) == [] and PASSPHRASE not in bundle.read_text(errors="replace")
