"""Image scan pieces without a daemon: secret scan of text, config reconstruction, snapshot documents."""

from __future__ import annotations

import json
import string

import pytest

from mamori.image.contents import PREFILTER, command_is_shell, scan_text, wants_text
from mamori.image.model import config_scan, reconstruct
from mamori.policy.engine import decide
from mamori.secrets import DETECTORS
from tests.helpers import scan_text as scan_doc
from tests.secrets.fakes import ALNUM, B64, B64URL, BASE32, body, jwt, pem


def _reference(text: str) -> set[str]:
    """Every unnamed detector run without the keyword prefilter."""
    return {d.id for d in DETECTORS if d.name_check is None for _ in d.spans(None, text)}


SAMPLES = [
    "token: ghp_" + body(36),
    "id = AKIA" + body(16, BASE32, 1),
    "key=AIza" + body(35, B64URL.replace("+", ""), 2),
    "glpat-" + body(20, ALNUM, 3),
    "SLACK=xoxb-" + body(24, ALNUM + "-", 4),
    "sk_live_" + body(24, ALNUM, 5),
    "npm_" + body(36, ALNUM, 6),
    "SG." + body(22, B64URL, 7) + "." + body(43, B64URL, 8),
    "Authorization: Bearer " + jwt(seed=9),
    "DATABASE_URL=postgres://app:" + body(20, ALNUM, 10) + "@db.internal:5432/app",
    "DefaultEndpointsProtocol=https;AccountName=x;ACCOUNTKEY=" + body(86, B64, 11) + "==",
    "github_pat_" + body(22, ALNUM, 12) + "_" + body(59, ALNUM, 13),
    pem(seed=14),
]


@pytest.mark.parametrize("text", SAMPLES)
def test_prefilter_loses_nothing(text: str) -> None:
    ref = _reference(text)
    assert ref, "the sample must be detected at all"
    assert {f.detector for f in scan_text("/app/x.txt", text)} >= ref


def test_prefilter_names_real_detectors() -> None:
    assert set(PREFILTER) <= {d.id for d in DETECTORS if d.name_check is None}


def test_hits_carry_fingerprints_and_lines_not_values() -> None:
    token = "ghp_" + body(36, ALNUM, 20)
    found = scan_text("/app/notes.txt", f"first\nsecond\nGH={token}\n")
    assert [(f.detector, f.line) for f in found] == [("github-token", 3)]
    assert token not in repr(found) and found[0].fingerprint.startswith("sha256:")


def test_keyed_files_are_judged_by_their_keys() -> None:
    secret = body(40, ALNUM + "/+", 21)
    text = f"[default]\naws_access_key_id = AKIA{body(16, BASE32, 22)}\naws_secret_access_key = {secret}\n"
    assert "aws-secret-access-key" in {f.detector for f in scan_text("/root/.aws/credentials", text)}
    # the same line in a file that is not a keyed configuration file is not judged by its key
    assert "aws-secret-access-key" not in {f.detector for f in scan_text("/usr/lib/x/README", text)}


def test_wants_text_bounds() -> None:
    assert wants_text("/app/.env", 10)
    assert not wants_text("/app/.env", 0)
    assert not wants_text("/app/big.txt", 10 << 20)
    assert not wants_text("/usr/share/doc/x/copyright", 100)
    assert not wants_text("/usr/lib/libc.so.6", 100)


@pytest.mark.parametrize(("cfg", "shell"), [
    ({"Cmd": ["/bin/sh"]}, True),
    ({"Cmd": ["bash"]}, True),
    ({"Entrypoint": ["/bin/busybox"], "Cmd": ["sh"]}, True),
    ({"Cmd": ["/bin/sh", "-c", "exec server"]}, False),
    ({"Cmd": ["/bin/busybox", "httpd", "-f"]}, False),
    ({"Entrypoint": ["/app/server"], "Cmd": ["sh"]}, False),
    ({}, False),
    ({"Cmd": "sh"}, False),
])
def test_command_is_shell(cfg: dict[str, object], shell: bool) -> None:
    assert command_is_shell(cfg) is shell


def test_reconstruction_keeps_values_literal() -> None:
    cfg = {"config": {"Env": ["HOME_REF=$HOME", 'Q=a "quoted" \\ value', "BAD NAME=x", "NOEQUALS", 7],
                      "User": "app", "Labels": {"a.b": "c d"}, "ExposedPorts": {"8080/tcp": {}, "x": {}}}}
    scan = config_scan(cfg, "example/app:1")
    assert not scan.errors, scan.errors
    env = {e.name: e.value for e in scan.workloads[0].containers[0].env}
    assert env == {"HOME_REF": "$HOME", "Q": 'a "quoted" \\ value'}
    assert scan.workloads[0].containers[0].user is not None
    assert scan.workloads[0].containers[0].user.value == "app"
    assert scan.workloads[0].ident.kind == "Image" and scan.workloads[0].ident.name == "example/app:1"


@pytest.mark.parametrize("cfg", [
    {}, {"config": None}, {"config": {"Env": "x", "Labels": [], "ExposedPorts": [], "Healthcheck": "x",
                                      "Entrypoint": {}, "Cmd": [1, 2], "User": 5, "Volumes": "v"}},
    {"history": "x"}, {"history": [None, {"created_by": 5}, {"created_by": "RUN |1 TOKEN=x /bin/sh -c make"}]},
    {"config": {"Healthcheck": {"Test": ["CMD"]}}}, {"config": {"Labels": {"org.opencontainers.image.base.name": 5}}},
])
def test_hostile_configs_do_not_crash(cfg: dict[str, object]) -> None:
    scan = config_scan(cfg, "x")
    assert not scan.errors, scan.errors
    assert len(scan.workloads) == 1


def test_history_run_steps_and_base_label_reach_the_build_rules() -> None:
    cfg = {"config": {"Labels": {"org.opencontainers.image.base.name": "debian"}, "User": "10001",
                      "Healthcheck": {"Test": ["CMD-SHELL", "wget -q localhost"]}},
           "history": [{"created_by": "/bin/sh -c #(nop) ADD file:1 in / "},
                       {"created_by": "RUN /bin/sh -c curl -fsSL https://get.example/x | sh # buildkit"},
                       {"created_by": "|1 TOKEN=abc /bin/sh -c make"}]}
    got = {f.rule_id for f in decide(config_scan(cfg, "x")).findings}
    assert {"MAM-BUILD-006", "MAM-BUILD-001"} <= got
    assert not {"MAM-PRIV-010", "MAM-LIFE-001"} & got


def test_display_reconstruction_redacts() -> None:
    token = "ghp_" + body(36, ALNUM, 30)
    cfg = {"config": {"Env": [f"GH={token}", f"DB_PASSWORD={body(24, string.ascii_letters, 31)}"],
                      "Cmd": ["/app", f"--token={token}"]},
           "history": [{"created_by": f"/bin/sh -c curl -H 'Authorization: token {token}' https://x.example"}]}
    shown = reconstruct(cfg, display=True)
    assert token not in shown and shown.count("<redacted>") >= 3
    assert "DB_PASSWORD" in shown and cfg["config"]["Env"][1].split("=")[1] not in shown  # type: ignore[index]
    assert token in reconstruct(cfg)  # the rules' input keeps values (they report fingerprints only)


def test_snapshot_document_errors_are_input_errors() -> None:
    doc = {"kind": "ImageContents", "name": "x", "files": [{"path": "rel", "mode": "0755"}, "bad",
                                                           {"path": "/ok", "mode": "9999"}],
           "secrets": [{"path": "/a"}], "layers": [{"size": -1}]}
    decision = scan_doc("snap.json", json.dumps(doc))
    assert len(decision.errors) == 5
    assert all("snap.json" in str(e) for e in decision.errors)


def test_build_arguments_recorded_in_history_are_judged() -> None:
    token = "ghp_" + body(36, ALNUM, 40)
    cfg = {"config": {"User": "1000"},
           "history": [{"created_by": f"RUN |2 GH_TOKEN={token} MODE=prod /bin/sh -c make install # buildkit"},
                       {"created_by": "|1 NOTE=has spaces here /bin/sh -c true"}]}
    text = reconstruct(cfg)
    assert f'ARG GH_TOKEN="{token}"' in text and 'ARG MODE="prod"' in text and "RUN make install" in text
    assert "NOTE" not in text  # ambiguous split: the step is left out rather than misread
    findings = decide(config_scan(cfg, "x")).findings
    hits = [f for f in findings if f.rule_id == "MAM-SECRET-001"]
    assert hits and all(token not in f.message for f in findings)
    assert token not in reconstruct(cfg, display=True)
