"""mamori-entrypoint with a keyring: run, propagate, refuse tampering and disks, forward signals, leave nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mamori.crypto.tmpfs import mount_of, parse_mountinfo
from tests.sealed.conftest import (
    ENTRYPOINT,
    MARKER,
    PASSPHRASE,
    assert_clean_failure,
    files_containing,
    run,
)

Bundle = tuple[Path, dict[str, str]]


def test_runs_the_app_on_tmpfs_and_leaves_no_plaintext(keyring_bundle: Bundle, shm: Path, tmp_path: Path) -> None:
    bundle, env = keyring_bundle
    assert MARKER.encode() not in bundle.read_bytes()
    r = run(["--bundle", str(bundle), "--workdir", str(shm), "--context", "app=example", "--",
             "./run.sh", "exit", "0"], env)
    assert r.returncode == 0, r.stderr
    assert f"marker={MARKER}" in r.stdout
    ran_in = r.stdout.split("app: running in ", 1)[1].split()[0]
    assert Path(ran_in).parent == shm and Path(ran_in).name.startswith("mamori-")
    assert list(shm.iterdir()) == []  # plaintext removed
    assert files_containing(tmp_path, MARKER) == []  # and never written next to the bundle or the keys
    assert files_containing(shm, MARKER) == []


def test_exit_codes_are_propagated(keyring_bundle: Bundle, shm: Path) -> None:
    bundle, env = keyring_bundle
    for code in (0, 3, 7, 42):
        r = run(["--bundle", str(bundle), "--workdir", str(shm), "--", "sh", "./run.sh", "exit", str(code)], env)
        assert r.returncode == code, r.stderr
    assert list(shm.iterdir()) == []


def test_child_environment_has_no_credentials(keyring_bundle: Bundle, shm: Path) -> None:
    bundle, env = keyring_bundle
    r = run(["--bundle", str(bundle), "--workdir", str(shm), "--", "sh", "-c", "env; pwd; ls -ld ."], env)
    assert r.returncode == 0, r.stderr
    assert "MAMORI_KEYRING_PASSPHRASE_FILE" not in r.stdout and PASSPHRASE not in r.stdout
    assert "MAMORI_APP_DIR=" + str(shm) in r.stdout
    assert "drwx------" in r.stdout  # the private directory is 0700


def test_tampering_with_any_byte_is_refused(keyring_bundle: Bundle, shm: Path, tmp_path: Path) -> None:
    bundle, env = keyring_bundle
    blob = bundle.read_bytes()
    damaged = tmp_path / "damaged.sealed"
    for i in sorted({0, 10, 100, 400, len(blob) // 2, len(blob) - 20, len(blob) - 1}):
        data = bytearray(blob)
        data[i] ^= 0x01
        damaged.write_bytes(bytes(data))
        r = run(["--bundle", str(damaged), "--workdir", str(shm), "--", "./run.sh"], env)
        assert_clean_failure(r)
        assert list(shm.iterdir()) == []


def test_wrong_passphrase_context_and_missing_bundle(keyring_bundle: Bundle, shm: Path, tmp_path: Path) -> None:
    bundle, env = keyring_bundle
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    r = run(["--bundle", str(bundle), "--workdir", str(shm), "--passphrase-file", str(wrong), "--", "./run.sh"], env)
    assert_clean_failure(r, "passphrase")
    r = run(["--bundle", str(bundle), "--workdir", str(shm), "--context", "app=other", "--", "./run.sh"], env)
    assert_clean_failure(r, "context")
    r = run(["--bundle", str(tmp_path / "nope.sealed"), "--workdir", str(shm), "--", "./run.sh"], env)
    assert_clean_failure(r, "no such bundle")
    no_pp = {k: v for k, v in env.items() if "PASSPHRASE" not in k}
    r = run(["--bundle", str(bundle), "--workdir", str(shm), "--", "./run.sh"], no_pp)
    assert_clean_failure(r, "passphrase")
    assert list(shm.iterdir()) == []


def test_disk_backed_workdir_is_refused_unless_allowed(keyring_bundle: Bundle, tmp_path: Path) -> None:
    bundle, env = keyring_bundle
    disk = next((p for p in (tmp_path, Path.cwd()) if (m := mount_of(str(p))) and m.fstype not in ("tmpfs", "ramfs")),
                None)
    if disk is None:
        pytest.skip("no disk-backed directory here") if os.environ.get("CI") != "true" else pytest.fail("no disk dir")
    base = disk / "disk-workdir" if disk == tmp_path else tmp_path / "unused"
    if disk == tmp_path:
        base.mkdir()
        r = run(["--bundle", str(bundle), "--workdir", str(base), "--", "./run.sh", "exit", "0"], env)
        assert_clean_failure(r, "not tmpfs")
        r = run(["--bundle", str(bundle), "--workdir", str(base), "--allow-disk", "--", "./run.sh", "exit", "0"], env)
        assert r.returncode == 0 and MARKER in r.stdout, r.stderr
        assert list(base.iterdir()) == []


def test_a_command_outside_the_bundle_or_missing_is_refused(keyring_bundle: Bundle, shm: Path) -> None:
    bundle, env = keyring_bundle
    assert_clean_failure(run(["--bundle", str(bundle), "--workdir", str(shm), "--", "../../etc/x"], env), "leaves")
    assert_clean_failure(run(["--bundle", str(bundle), "--workdir", str(shm), "--", "./nope.sh"], env), "not in")
    assert list(shm.iterdir()) == []


def _start_waiting(bundle: Path, env: dict[str, str], shm: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")} | env | {"SIGNAL_LOG": str(log)}
    proc = subprocess.Popen([*ENTRYPOINT, "--bundle", str(bundle), "--workdir", str(shm), "--", "./run.sh", "wait"],
                            env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    killer = threading.Timer(60, proc.kill)
    killer.start()
    out = ""
    assert proc.stdout is not None
    while "app: ready" not in out:
        line = proc.stdout.readline()
        if not line:
            break
        out += line
    killer.cancel()
    assert "app: ready" in out, (out, proc.stderr.read() if proc.stderr else "")
    return proc, out


def _wait_for(path: Path, text: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text} never recorded: {path.read_text() if path.exists() else ''!r}")


def test_signals_are_forwarded_and_sigterm_removes_the_plaintext(keyring_bundle: Bundle, shm: Path,
                                                                  tmp_path: Path) -> None:
    bundle, env = keyring_bundle
    log = tmp_path / "signals.log"
    proc, _ = _start_waiting(bundle, env, shm, log)
    assert len(list(shm.iterdir())) == 1  # the plaintext exists while the app runs
    proc.send_signal(signal.SIGUSR1)
    _wait_for(log, "USR1")
    proc.send_signal(signal.SIGHUP)
    _wait_for(log, "HUP")
    assert proc.poll() is None  # the app handled both and keeps running
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert log.read_text().split() == ["USR1", "HUP", "TERM"]
    assert list(shm.iterdir()) == []


def test_child_killed_by_a_signal_gives_128_plus_n(keyring_bundle: Bundle, shm: Path, tmp_path: Path) -> None:
    bundle, env = keyring_bundle
    proc, out = _start_waiting(bundle, env, shm, tmp_path / "log")
    appdir = out.split("app: running in ", 1)[1].split()[0]
    child = int(subprocess.run(["pgrep", "-f", "-P", str(proc.pid), "run.sh"], capture_output=True,
                               text=True).stdout.split()[0])
    assert os.readlink(f"/proc/{child}/cwd") == appdir
    os.kill(child, signal.SIGKILL)
    assert proc.wait(timeout=30) == 128 + signal.SIGKILL
    assert not os.path.exists(appdir)


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "mamori-entrypoint"
    assert script.exists(), "pyproject [project.scripts] mamori-entrypoint (run make venv)"
    r = subprocess.run([str(script), "--bundle", "/nonexistent"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "after --" in r.stderr


def test_mountinfo_longest_prefix_later_mount_wins_and_escapes(tmp_path: Path) -> None:
    text = ("22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
            "30 22 0:5 / /dev/shm rw,nosuid,nodev,noexec - tmpfs shm rw,size=65536k\n"
            "31 22 0:6 / /run/my\\040app rw - tmpfs tmpfs rw\n"
            "32 22 8:1 / /dev/shm rw - ext4 /dev/sda1 rw\n"
            "garbage line\n")
    mounts = parse_mountinfo(text)
    assert [m.target for m in mounts] == ["/", "/dev/shm", "/run/my app", "/dev/shm"]
    assert "noexec" in mounts[1].options
    info = tmp_path / "mountinfo"
    info.write_text(text)
    m = mount_of("/dev/shm/x", str(info))
    assert m is not None and m.fstype == "ext4"  # the later mount over /dev/shm covers the tmpfs
    m = mount_of("/run/my app/x", str(info))
    assert m is not None and m.fstype == "tmpfs"
    m = mount_of("/dev/shmother", str(info))
    assert m is not None and m.target == "/"
    assert mount_of("/x", str(tmp_path / "missing")) is None
