"""Drift against the baseline taken at start: a new process, a watched file, data outside volumes - nothing else."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from tests import dockerd
from tests.watch.conftest import Receiver, Watch, wait_until


def _drift(w: Watch, name: str) -> tuple[int, dict[str, Any]]:
    r = w.cli("drift", "--host", w.host, "--format", "json", name, check=False)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout.splitlines()[0])["report"]


def test_drift_reports_exactly_what_changed(
        daemon: dockerd.Daemon, image: str, watch: Callable[..., Watch], receiver: Receiver, secret_file: Any) -> None:
    w = watch("--webhook", receiver.url, "--webhook-secret-file", str(secret_file), "--watch-path", "/etc",
              "--drift-interval", "1").start()
    daemon.docker("run", "-d", "--name", "dr", "-v", "drdata:/data", image, "sleep", "300")
    wait_until(lambda: w.cli("drift", "--host", w.host, "dr", check=False).returncode == 0, 30, "the baseline")
    code, clean = _drift(w, "dr")
    assert code == 0 and clean["clean"]
    daemon.docker("exec", "-d", "dr", "sleep", "1000")
    daemon.docker("exec", "dr", "sh", "-c", "echo implant > /etc/evil; echo kept > /data/ok; echo lost > /scratch")
    wait_until(lambda: "sleep 1000" in daemon.docker("top", "dr").stdout, 10, "the exec'd process")
    code, rep = _drift(w, "dr")
    assert code == 1 and not rep["clean"]
    assert [(p["user"], p["cmd"]) for p in rep["processes"]["new"]] == [("root", "sleep 1000")]
    assert rep["files"] == {"added": [{"path": "/etc/evil",
                                       "hash": "sha256:" + hashlib.sha256(b"implant\n").hexdigest()}],
                            "changed": [], "removed": []}
    assert rep["filesystem"]["outside_volumes"] == [{"path": "/etc/evil", "kind": "added"},
                                                    {"path": "/scratch", "kind": "added"}]
    assert rep["filesystem"]["sensitive"] == [{"path": "/etc/evil", "kind": "added"}]
    assert rep["config"] == [] and rep["image"] is None and rep["errors"] == []
    text = w.cli("drift", "--host", w.host, "dr", check=False).stdout
    assert "new process" in text and "/scratch" in text and "CSA-3.1.15.1" in text and "/data/ok" not in text
    # The periodic check notified the same drift, signed, once per distinct drift.
    wait_until(lambda: any(g.doc["kind"] == "drift" and g.doc["drift"]["report"]["files"]["added"]
                           for g in receiver.got), 30, "a drift notification")
    notes = [g for g in receiver.got if g.doc["kind"] == "drift"]
    assert all(g.verifies() for g in notes)
    last = notes[-1].doc["drift"]["report"]
    assert last["filesystem"] == rep["filesystem"] and last["files"] == rep["files"]
    n = len(notes)
    # A configuration change shows field by field.
    daemon.docker("update", "--pids-limit", "77", "dr")
    code, rep = _drift(w, "dr")
    assert [(c["field"], c["before"], c["after"]) for c in rep["config"]] == [
        ("containers[0].resources.pids_limit", None, 77)]
    wait_until(lambda: len([g for g in receiver.got if g.doc["kind"] == "drift"]) > n, 30, "the config drift")
    daemon.docker("rm", "-f", "dr")
    daemon.docker("volume", "rm", "drdata")
    w.stop()


def test_drift_without_a_baseline_is_an_error_until_one_is_recorded(
        daemon: dockerd.Daemon, image: str, watch: Callable[..., Watch]) -> None:
    daemon.docker("run", "-d", "--name", "early", image, "sleep", "300")
    w = watch()
    r = w.cli("drift", "--host", w.host, "early", check=False)
    assert r.returncode == 2 and "no baseline" in r.stderr
    assert w.cli("drift", "--host", w.host, "nosuch", check=False).returncode == 2
    assert w.cli("drift", "--host", w.host, "--baseline", "early").returncode == 0
    assert w.cli("drift", "--host", w.host, "early").returncode == 0
    daemon.docker("exec", "early", "sh", "-c", "echo x > /var-data")
    r = w.cli("drift", "--host", w.host, "early", check=False)
    assert r.returncode == 1 and "/var-data" in r.stdout
    daemon.docker("rm", "-f", "early")
