"""The console entry point ends the process without the interpreter's teardown, losing nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PRELUDE = "import atexit, sys, threading, time\nfrom mamori.cli.main import main\n"


def run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PRELUDE + code, *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_exit_runs_handlers_flushes_and_keeps_the_status() -> None:
    r = run("atexit.register(lambda: print('handler ran', file=sys.stderr))\n"
            "sys.argv = ['mamori', 'rules', '--format', 'json']\nmain()")
    assert r.returncode == 0, r.stderr
    assert r.stdout.lstrip().startswith("[") and r.stdout.rstrip().endswith("]")  # all of it, flushed
    assert "handler ran" in r.stderr
    bad = run("sys.argv = ['mamori', '--no-such-option']\nmain()")
    assert bad.returncode == 2 and "No such option" in bad.stderr


def test_exit_waits_for_a_thread_that_is_not_a_daemon(tmp_path: Path) -> None:
    done = tmp_path / "done"
    r = run(f"threading.Thread(target=lambda: (time.sleep(0.5), open({str(done)!r}, 'w').close())).start()\n"
            "sys.argv = ['mamori', 'rules', '--format', 'json']\nmain()")
    assert r.returncode == 0, r.stderr
    assert done.exists()


def test_exit_with_a_message_prints_it_and_fails() -> None:
    r = run("import mamori.cli.main as m\nm.cli = lambda: sys.exit('gone wrong')\nmain()")
    assert r.returncode == 1 and "gone wrong" in r.stderr
