"""`mamori watch` refuses bad options with a clear message (no traceback, no secret); --filter narrows events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from mamori.cli.main import cli
from tests import dockerd
from tests.watch.conftest import Watch, wait_until


@pytest.mark.parametrize(("args", "message"), [
    (["--events", "create,explode"], "unknown action"),
    (["--filter", "event=start"], "KEY=VALUE"),
    (["--filter", "label"], "KEY=VALUE"),
    (["--since", "last tuesday"], "RFC 3339"),
    (["--watch-path", "etc"], "absolute path"),
    (["--watch-path", "/etc/../root"], "absolute path"),
    (["--webhook", "ftp://127.0.0.1/x"], "http:// or https://"),
    (["--webhook", "http://127.0.0.1:9/x"], "missing or shorter than 16 bytes"),
    (["--webhook", "http://127.0.0.1:9/a", "--webhook", "http://127.0.0.1:9/b", "--webhook-secret-file", "x",
      "--webhook-secret-file", "y", "--webhook-secret-file", "z"], "one per --webhook"),
])
def test_bad_watch_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path))
    monkeypatch.delenv("MAMORI_WEBHOOK_SECRET", raising=False)
    result = CliRunner().invoke(cli, ["watch", "--no-config", "--host", f"unix://{tmp_path}/none.sock", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_short_secret_is_refused_without_being_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path))
    secret = tmp_path / "s"
    secret.write_text("tiny-secret\n")
    result = CliRunner().invoke(cli, ["watch", "--no-config", "--webhook", "http://127.0.0.1:9/x",
                                      "--webhook-secret-file", str(secret)])
    assert result.exit_code == 2 and "shorter than 16 bytes" in result.output
    assert "tiny-secret" not in result.output


def test_queries_on_an_empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(cli, ["events"]).output.strip() == "no events recorded"
    assert runner.invoke(cli, ["events", "--format", "json"]).output == ""
    assert "pending 0, delivered 0, dead 0" in runner.invoke(cli, ["notifications"]).output
    bad = runner.invoke(cli, ["events", "--since", "soon"])
    assert bad.exit_code == 2 and "RFC 3339" in bad.output


def test_filter_keeps_only_matching_containers(daemon: dockerd.Daemon, image: str,
                                               watch: Callable[..., Watch]) -> None:
    w = watch("--filter", "label=team=a", "--events", "create").start()
    daemon.docker("create", "--name", "fa", "--label", "team=a", image, "true")
    daemon.docker("create", "--name", "fb", "--label", "team=b", image, "true")
    daemon.docker("create", "--name", "fa2", "--label", "team=a", image, "true")
    wait_until(lambda: len(w.events()) == 2, 30, "the two team=a creates")
    w.stop()
    assert sorted(e["container_name"] for e in w.events()) == ["fa", "fa2"]
    assert all(e["attributes"]["team"] == "a" for e in w.events())
    daemon.docker("rm", "fa", "fb", "fa2")
