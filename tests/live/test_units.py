"""The live loader's parts that need no daemon: targets, filters, dockerd flags, /proc, /etc/group, snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mamori.live.connect import ConnectError, connect, endpoint
from mamori.live.docker_host import FilterError, docker_group, find_dockerd, parse_filters, without_daemon_label
from mamori.sources.docker_host_doc import parse_command_line, parse_mode
from tests.helpers import scan_text


@pytest.mark.parametrize(("target", "env", "url", "tls", "local"), [
    ("docker://", {}, "unix:///var/run/docker.sock", False, True),
    ("docker://", {"DOCKER_HOST": "tcp://10.9.8.7:2376", "DOCKER_TLS_VERIFY": "1"}, "tcp://10.9.8.7:2376", True,
     False),
    ("docker://unix:///tmp/x.sock", {"DOCKER_HOST": "tcp://h:1"}, "unix:///tmp/x.sock", False, True),
    ("docker:///tmp/y.sock", {}, "unix:///tmp/y.sock", False, True),
    ("docker://tcp://h:2375", {}, "tcp://h:2375", False, False),
    ("docker://h:2376", {"DOCKER_CERT_PATH": "/certs"}, "tcp://h:2376", True, False),
    ("docker://tcp://h:2376", {"DOCKER_TLS_VERIFY": ""}, "tcp://h:2376", False, False),
])
def test_endpoint(target: str, env: dict[str, str], url: str, tls: bool, local: bool) -> None:
    ep = endpoint(target, env)
    assert (ep.base_url, ep.tls, ep.local) == (url, tls, local)


@pytest.mark.parametrize("target", ["docker://ftp://x", "docker://unix://relative.sock", "docker://" + "a" * 5000])
def test_bad_targets(target: str) -> None:
    with pytest.raises(ConnectError):
        endpoint(target, {})


def test_missing_tls_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    with pytest.raises(ConnectError, match=r"key\.pem, ca\.pem"):
        connect("docker://tcp://127.0.0.1:1", env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)})


def test_filters() -> None:
    assert parse_filters(["name=web", "label=tier=db", "label=team", "Status=running"]) == {
        "name": ["web"], "label": ["tier=db", "team"], "status": ["running"]}
    for bad in ("name", "=x", "colour=red"):
        with pytest.raises(FilterError):
            parse_filters([bad])
    with pytest.raises(FilterError):
        parse_filters(["name=x"] * 101)


def test_dockerd_flags() -> None:
    flags = parse_command_line(["/usr/bin/dockerd", "-H", "fd://", "-Htcp://0.0.0.0:2375", "--icc=false",
                                "--insecure-registry", "r:5000", "--live-restore", "--tlsverify=false", "-D"])
    assert [(f.name, f.value, f.index) for f in flags] == [
        ("host", "fd://", 1), ("host", "tcp://0.0.0.0:2375", 3), ("icc", "false", 4),
        ("insecure-registry", "r:5000", 5), ("live-restore", None, 7), ("tlsverify", "false", 8), ("debug", None, 9)]


def test_modes() -> None:
    assert parse_mode("0660") == 0o660 and parse_mode("644") == 0o644 and parse_mode(0o600) == 0o600
    assert parse_mode("rw-") is None and parse_mode(True) is None and parse_mode("77777") is None


def _proc(root: Path, pid: int, comm: str, argv: list[str]) -> None:
    d = root / str(pid)
    d.mkdir()
    (d / "comm").write_text(comm + "\n")
    (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_find_dockerd_by_socket(tmp_path: Path) -> None:
    _proc(tmp_path, 10, "containerd", ["containerd"])
    _proc(tmp_path, 20, "dockerd", ["dockerd", "--host", "unix:///tmp/a.sock"])
    _proc(tmp_path, 30, "dockerd", ["dockerd", "-H", "unix:///tmp/b.sock", "--icc=false"])
    _proc(tmp_path, 40, "dockerd", ["dockerd", "-H", "fd://"])
    assert find_dockerd("/tmp/b.sock", str(tmp_path)) == (30, ["dockerd", "-H", "unix:///tmp/b.sock", "--icc=false"])
    assert find_dockerd("/var/run/docker.sock", str(tmp_path)) == (40, ["dockerd", "-H", "fd://"])
    assert find_dockerd("/tmp/none.sock", str(tmp_path)) is None


def test_docker_group_members(tmp_path: Path) -> None:
    group = tmp_path / "group"
    group.write_text("root:x:0:\n# comment\nstaff:x:50:bob\ndocker:x:999:alice,carol\n")
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0::/root:/bin/sh\ndave:x:1001:999::/home/dave:/bin/sh\n")
    g = docker_group(str(group), str(passwd), 999)
    assert g is not None and g.members == ("alice", "carol", "dave") and g.loc.line == 4
    by_gid = docker_group(str(group), str(passwd), 50)
    assert by_gid is not None and by_gid.name == "staff" and by_gid.members == ("bob",)
    assert docker_group(str(tmp_path / "missing"), str(passwd), 999) is None


def test_daemon_label_removed_only_where_dockerd_adds_it() -> None:
    doc = {"HostConfig": {"Privileged": True, "SecurityOpt": ["label=disable", "no-new-privileges"]}}
    assert without_daemon_label(doc)["HostConfig"]["SecurityOpt"] == ["no-new-privileges"]
    plain = {"HostConfig": {"Privileged": False, "SecurityOpt": ["label=disable"]}}
    assert without_daemon_label(plain) is plain


def test_snapshot_errors_are_input_errors() -> None:
    text = json.dumps({"kind": "DockerHost", "files": [{"role": "socket", "path": "/s", "uid": 0, "mode": "bad"}],
                       "dockerGroup": {"members": "alice"}}, indent=2)
    decision = scan_text("host.json", text)
    messages = [e.message for e in decision.errors]
    assert any("/files/0" in m for m in messages) and any("/dockerGroup" in m for m in messages)
    assert all(e.line >= 1 for e in decision.errors)
    bad = scan_text("host.json", json.dumps({"kind": "DockerHost", "info": []}))
    assert [e.message for e in bad.errors] == ["/info: must be an object"]


def test_snapshot_is_not_a_kubernetes_object() -> None:
    decision = scan_text("host.yaml", "kind: DockerHost\nendpoint: tcp://h:2375\n")
    assert {f.rule_id for f in decision.findings} == {"MAM-DAEMON-001"}
    assert any("remote" in s.reason for s in decision.skipped)
