"""`mamori scan` as a user runs it: exit codes, formats, errors, policy files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mamori.cli.main import cli

ROOT = Path(__file__).parent.parent.parent
PRIV = """apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop}
spec:
  containers:
    - name: c
      image: nginx:1.27
      securityContext: {privileged: true}
"""


def run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """Run the real console script, as CI users do."""
    exe = Path(sys.executable).parent / "mamori"
    p = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture()
def pod(tmp_path: Path) -> Path:
    f = tmp_path / "pod.yaml"
    f.write_text(PRIV, encoding="utf-8")
    return f


def test_exit_codes_follow_fail_on(pod: Path) -> None:
    assert run("scan", "--no-config", str(pod))[0] == 0
    assert run("scan", "--no-config", "--fail-on", "high", str(pod))[0] == 1
    assert run("scan", "--no-config", "--fail-on", "critical", str(pod))[0] == 0


def test_json_stdout_is_only_json(pod: Path) -> None:
    code, out, _ = run("scan", "--no-config", "-f", "json", str(pod))
    data = json.loads(out)
    assert code == 0
    assert "MAM-PRIV-001" in {f["rule_id"] for f in data["findings"]}
    priv = next(f for f in data["findings"] if f["rule_id"] == "MAM-PRIV-001")
    assert priv["location"]["line"] == 8
    assert priv["location"]["container"] == "c"
    assert priv["location"]["resource"] == "Pod/shop/p"
    assert "CSA-3.1.2.3" in priv["controls"]


def test_output_file(pod: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.sarif"
    code, stdout, _ = run("scan", "--no-config", "-f", "sarif", "-o", str(out), str(pod))
    assert code == 0 and stdout == ""
    assert json.loads(out.read_text())["version"] == "2.1.0"


def test_malformed_file_is_reported_and_others_still_scanned(tmp_path: Path, pod: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n", encoding="utf-8")
    code, out, err = run("scan", "--no-config", "-f", "json", str(tmp_path))
    assert code == 2
    data = json.loads(out)
    assert any(e["file"].endswith("bad.yaml") and e["line"] >= 4 for e in data["errors"])
    assert any(f["rule_id"] == "MAM-PRIV-001" for f in data["findings"])
    assert "bad.yaml:" in err and "Traceback" not in err


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    code, _, err = run("scan", "--no-config", str(tmp_path / "nope"))
    assert code == 2
    assert "no such file" in err


def test_usage_error_exit_2() -> None:
    assert run("scan", "--no-config", "--fail-on", "severe", ".")[0] == 2
    assert run("scan")[0] == 2


def test_binary_and_non_utf8_input(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_bytes(b"\xff\xfe\x00bad")
    code, out, _ = run("scan", "--no-config", "-f", "json", str(tmp_path))
    assert code == 2
    assert "UTF-8" in json.loads(out)["errors"][0]["message"]


def test_policy_file_is_found_in_cwd_and_applies(tmp_path: Path, pod: Path) -> None:
    (tmp_path / ".mamori.yaml").write_text("fail-on: high\nrules:\n  disable: [MAM-PRIV-001]\n", encoding="utf-8")
    code, out, _ = run("scan", "-f", "json", str(pod), cwd=tmp_path)
    ids = {f["rule_id"] for f in json.loads(out)["findings"]}
    assert "MAM-PRIV-001" not in ids
    assert code == 0  # nothing at high or above remains


def test_bad_policy_file_names_file_and_line(tmp_path: Path, pod: Path) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text("fail-on: high\nallow:\n  registrys: [x]\n", encoding="utf-8")
    code, _, err = run("scan", "--config", str(cfg), str(pod))
    assert code == 2
    assert f"{cfg}:3" in err and "registrys" in err


def test_rule_and_skip_rule(pod: Path) -> None:
    _code, out, _ = run("scan", "--no-config", "-f", "json", "--rule", "MAM-PRIV-00*", "--skip-rule", "MAM-PRIV-002",
                       str(pod))
    ids = {f["rule_id"] for f in json.loads(out)["findings"]}
    assert ids and all(i.startswith("MAM-PRIV-00") for i in ids)
    assert "MAM-PRIV-002" not in ids
    assert run("scan", "--no-config", "--rule", "NOPE-*", str(pod))[0] == 2


def test_severity_filter(pod: Path) -> None:
    _, out, _ = run("scan", "--no-config", "-f", "json", "--severity", "high", str(pod))
    sev = {f["severity"] for f in json.loads(out)["findings"]}
    assert sev <= {"high", "critical"} and sev


def test_text_has_no_colour_when_not_a_terminal(pod: Path) -> None:
    _, out, _ = run("scan", "--no-config", str(pod))
    assert "\x1b[" not in out
    assert "MAM-PRIV-001" in out


def test_controls_and_rules_commands() -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["controls", "--format", "json"])
    assert res.exit_code == 0
    data = json.loads(res.output)
    by_id = {c["id"]: c for c in data["controls"]}
    assert "MAM-PRIV-001" in by_id["CSA-3.1.2.3"]["rules"]
    assert data["coverage"]["all"][0] >= 20
    text = runner.invoke(cli, ["controls"]).output
    assert "CSA-3.1.2.3" in text and "Coverage" in text
    rules = json.loads(runner.invoke(cli, ["rules", "--format", "json"]).output)
    assert len(rules) >= 60
    assert all(r["controls"] and r["remediation"] for r in rules)


def test_every_rule_names_real_controls() -> None:
    from mamori.controls.catalog import control_ids
    from mamori.rules.registry import all_rules

    known = control_ids()
    for r in all_rules():
        assert set(r.controls) <= known, (r.id, r.controls)
        assert r.id.startswith("MAM-")


def test_demo_examples_insecure_blocked_hardened_allowed() -> None:
    cfg = str(ROOT / "examples" / "mamori.yaml")
    code_bad, out_bad, _ = run("scan", "--config", cfg, "-f", "json", str(ROOT / "examples" / "insecure"))
    code_ok, out_ok, _ = run("scan", "--config", cfg, "-f", "json", str(ROOT / "examples" / "hardened"))
    assert code_bad == 1 and code_ok == 0
    assert json.loads(out_ok)["findings"] == []
    bad = json.loads(out_bad)
    sources = {f["source"] for f in bad["findings"]}
    assert sources == {"kubernetes", "compose", "dockerfile"}
    assert os.path.exists(cfg)


def test_standard_input_yaml_and_dockerfile() -> None:
    exe = Path(sys.executable).parent / "mamori"
    p = subprocess.run([str(exe), "scan", "--no-config", "-f", "json", "-"], input=PRIV, capture_output=True,
                       text=True, timeout=60)
    data = json.loads(p.stdout)
    assert any(f["rule_id"] == "MAM-PRIV-001" and f["location"]["file"] == "<stdin>" for f in data["findings"])
    p = subprocess.run([str(exe), "scan", "--no-config", "-f", "json", "-"], input="# hi\nFROM alpine:3.20\n",
                       capture_output=True, text=True, timeout=60)
    assert "MAM-PRIV-010" in {f["rule_id"] for f in json.loads(p.stdout)["findings"]}
