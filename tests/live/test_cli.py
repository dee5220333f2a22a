"""The `mamori scan docker://` command line: exit codes, error lines, filters, JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from mamori.cli.main import cli
from tests.live.conftest import Host

MAMORI = [sys.executable, "-m", "mamori.cli.main"]


def test_unreachable_daemon_is_one_error_line_exit_2(tmp_path: object) -> None:
    r = subprocess.run([*MAMORI, "scan", "--no-config", f"docker://unix://{tmp_path}/none.sock"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("mamori: error:")]
    assert len(errors) == 1 and "cannot reach the docker daemon" in errors[0] and "no such socket" in errors[0]


def test_refused_tcp_is_exit_2() -> None:
    r = subprocess.run([*MAMORI, "scan", "--no-config", "docker://tcp://127.0.0.1:1"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "cannot reach the docker daemon" in r.stderr


def test_bad_filter_is_a_usage_error() -> None:
    res = CliRunner().invoke(cli, ["scan", "--no-config", "--filter", "colour=red", "docker://"])
    assert res.exit_code == 2 and "unknown filter 'colour'" in res.output
    res = CliRunner().invoke(cli, ["scan", "--no-config", "--filter", "name", "docker://"])
    assert res.exit_code == 2 and "KEY=VALUE" in res.output


def test_scan_with_filter_json_and_fail_on(weak: Host) -> None:
    r = subprocess.run([*MAMORI, "scan", "--no-config", "--filter", "name=^/insecure$", "-f", "json",
                        "--fail-on", "critical", weak.target], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr  # MAM-HOST-003 (socket mounted) and MAM-DAEMON-001 are critical
    report = json.loads(r.stdout)
    names = {f["location"]["name"] for f in report["findings"] if f["location"]["kind"] == "Container"}
    assert names == {"insecure"}
    assert {f["rule_id"] for f in report["findings"]} >= {"MAM-PRIV-001", "MAM-HOST-003", "MAM-DAEMON-001"}


def test_daemon_json_option_overrides_the_command_line(weak: Host, tmp_path: object) -> None:
    other = f"{tmp_path}/daemon.json"
    with open(other, "w") as fh:
        fh.write('{\n  "live-restore": true,\n  "no-new-privileges": true\n}\n')
    r = subprocess.run([*MAMORI, "scan", "--no-config", "--filter", "name=nothing-matches", "--daemon-json", other,
                        "-f", "json", weak.target], capture_output=True, text=True, timeout=120)
    report = json.loads(r.stdout)
    by_id = {f["rule_id"]: f for f in report["findings"]}
    assert "MAM-DAEMON-006" not in by_id  # no-new-privileges read from the given file
    assert "MAM-DAEMON-005" in by_id  # docker info says live restore is off, whatever a file claims
    assert by_id["MAM-DAEMON-005"]["location"]["file"] == other and by_id["MAM-DAEMON-005"]["location"]["line"] == 2
