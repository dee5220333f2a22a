"""`mamori authz install`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mamori.cli.main import cli


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["authz", "install", *args])
    return r.exit_code, r.output


def test_install_writes_the_spec_and_prints_daemon_json_and_unit(tmp_path: Path) -> None:
    code, out = run("--plugins-dir", str(tmp_path / "plugins"), "--socket", "/run/docker/plugins/mamori.sock",
                    "--config", "/etc/mamori/p.yaml")
    assert code == 0, out
    assert (tmp_path / "plugins" / "mamori.spec").read_text() == "unix:///run/docker/plugins/mamori.sock\n"
    start = out.index("{")
    assert json.loads(out[start:out.index("}", start) + 1]) == {"authorization-plugins": ["mamori"]}
    assert "Before=docker.service" in out
    exec_start = next(line for line in out.splitlines() if line.startswith("ExecStart="))
    assert "serve --no-webhook --authz-socket /run/docker/plugins/mamori.sock --config /etc/mamori/p.yaml" in exec_start
    assert "finds the socket itself" in out and "refuses every API request" in out


def test_socket_elsewhere_names_the_plugin_and_needs_the_spec(tmp_path: Path) -> None:
    unit = tmp_path / "mamori-authz.service"
    code, out = run("--plugins-dir", str(tmp_path), "--socket", "/var/run/mamori/guard.sock", "--unit-file", str(unit))
    assert code == 0, out
    assert (tmp_path / "guard.spec").read_text() == "unix:///var/run/mamori/guard.sock\n"
    assert '"guard"' in out and "spec file is needed" in out
    assert "ExecStartPre=/bin/mkdir -p /var/run/mamori" in unit.read_text()


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    code, out = run("--plugins-dir", str(tmp_path / "p"), "--dry-run")
    assert code == 0 and "would write" in out and not (tmp_path / "p").exists()


def test_bad_sockets_are_usage_errors(tmp_path: Path) -> None:
    assert run("--plugins-dir", str(tmp_path), "--socket", "relative.sock")[0] == 2
    assert run("--plugins-dir", str(tmp_path), "--socket", "/run/docker/plugins/bad name.sock")[0] == 2


def test_unwritable_spec_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out = run("--plugins-dir", str(blocker / "sub"))
    assert code == 1 and "cannot write" in out
