"""`mamori log` end to end: append, query, tail, checkpoint export, prove and check-proof offline, verify."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mamori.cli.main import cli


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USER", "tester")

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["log", *args], input=stdin)

    return invoke


def test_cli_round_trip(run: Callable[..., Result], tmp_path: Path) -> None:
    inv = run
    home = tmp_path / "home"
    assert inv("keygen").exit_code == 0
    r = inv("append", stdin='{"type":"exec","container":"web","payload":{"cmd":"sh"}}\n'
            '{"type":"pull","image":"nginx:1.27","payload":{}}\n')
    assert r.exit_code == 0 and r.output.split() == ["0", "1"]
    r = inv("append", "--type", "login", "--container", "db", "user=root", "tty=yes")
    assert r.output.split() == ["2"]
    witness = tmp_path / "witness.txt"
    assert inv("checkpoint", "--key", str(home / "audit-key.pem"), "--export", str(witness)).exit_code == 0
    r = inv("query", "--container", "db", "--format", "json")
    rows = [json.loads(x) for x in r.output.splitlines()]
    assert [(d["seq"], d["source"], d["payload"]) for d in rows] == [(2, "cli:tester", {"user": "root", "tty": "yes"})]
    found = inv("query", "--text", "nginx", "--format", "json").output.splitlines()
    assert [json.loads(x)["seq"] for x in found] == [1]
    assert [json.loads(x)["seq"] for x in inv("tail", "-n", "2", "--format", "json").output.splitlines()] == [1, 2]
    proof = tmp_path / "proof.json"
    r = inv("prove", "1")
    assert r.exit_code == 0 and json.loads(r.output)["size"] == 3
    proof.write_text(r.output)
    r = inv("check-proof", "--checkpoint", str(witness), "--key", str(home / "audit-key.pem.pub"), str(proof))
    assert r.exit_code == 0 and r.output.startswith("OK: entry 1 ")
    forged = json.loads(proof.read_text())
    forged["entry"] = forged["entry"].replace("nginx:1.27", "nginx:1.28")
    proof.write_text(json.dumps(forged))
    r = inv("check-proof", "--checkpoint", str(witness), "--key", str(home / "audit-key.pem.pub"), str(proof))
    assert r.exit_code == 1 and "INVALID" in r.output
    r = inv("verify", "--witness", str(witness))
    assert r.exit_code == 0 and "OK: 3 entries, 1 checkpoints, 1 witnessed" in r.output
    with sqlite3.connect(home / "mamori.db") as c:
        c.execute("UPDATE audit_entries SET data = replace(data, 'root', 'toor') WHERE seq = 2")
    r = inv("verify", "--witness", str(witness), "--format", "json")
    rep = json.loads(r.output)
    assert r.exit_code == 1 and rep["problems"][0].startswith("entry 2: stored content differs")


def test_cli_refuses_bad_input_without_traceback(run: Callable[..., Result]) -> None:
    inv = run
    for args, stdin, msg in ((("append",), "{nope", "not JSON"), (("append",), '{"type": "x", "who": 1}', "entry 0"),
                             (("append", "a=b"), None, "need --type"),
                             (("query", "--since", "yesterday"), None, "RFC 3339"),
                             (("prove", "5"), None, "not in the log")):
        r = inv(*args, stdin=stdin)
        assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, (args, r.output)
