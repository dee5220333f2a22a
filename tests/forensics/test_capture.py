"""Capture from a real Docker Engine: a container an intruder changed, and what the bundle holds about it."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from pathlib import Path
from typing import Any

from mamori.audit.log import open_log
from tests import dockerd
from tests.forensics.conftest import Captured, KeyPair, Victim, compromise, run


def manifest(bundle: Path) -> dict[str, Any]:
    m: dict[str, Any] = json.loads((bundle / "manifest.json").read_text())
    return m


def load(bundle: Path, rel: str) -> Any:
    return json.loads((bundle / rel).read_text())


def test_dropped_files_are_kept_with_their_contents(captured: Captured, victim: Victim) -> None:
    b = captured.path
    assert (b / "container/fs/tmp/dropper.sh").read_text() == victim.dropped + "\n"
    assert (b / "container/fs/etc/evil.conf").read_text() == victim.config + "\n"
    index = {row["path"]: row for row in load(b, "container/files.json")}
    assert index["/tmp/dropper.sh"]["status"] == "stored"
    assert index["/tmp/dropper.sh"]["sha256"] == hashlib.sha256((victim.dropped + "\n").encode()).hexdigest()
    # a link and a FIFO are described, never followed or read
    assert index["/tmp/link"]["type"] == "symlink" and index["/tmp/link"]["link_target"] == "/etc/evil.conf"
    assert index["/tmp/link"]["status"] == "metadata only"
    assert index["/tmp/fifo"]["type"] == "fifo" and "artifact" not in index["/tmp/fifo"]
    assert not (b / "container/fs/tmp/link").exists() and not (b / "container/fs/tmp/fifo").exists()


def test_diff_lists_the_intruders_changes(captured: Captured) -> None:
    changes = {c["path"]: c["kind"] for c in load(captured.path, "container/changes.json")}
    assert changes["/tmp/dropper.sh"] == "added"
    assert changes["/etc/evil.conf"] == "added"
    assert changes["/etc"] == "modified"


def test_process_list_shows_the_started_listener(captured: Captured, victim: Victim) -> None:
    top = load(captured.path, "container/processes.json")
    cmd = top["Titles"].index("CMD")
    commands = [p[cmd] for p in top["Processes"]]
    assert f"nc -l -p {victim.port}" in commands
    assert "sleep 3600" in commands


def test_open_connections_are_read_from_the_container_namespace(captured: Captured, victim: Victim) -> None:
    conns = load(captured.path, "container/connections.json")
    listening = [c for c in conns if c["state"] == "LISTEN" and c["local_port"] == victim.port]
    assert listening, conns
    assert (captured.path / "container/net/tcp6").is_file()


def test_logs_carry_timestamps_and_both_streams(captured: Captured, victim: Victim) -> None:
    out = (captured.path / "container/logs.stdout.txt").read_text()
    err = (captured.path / "container/logs.stderr.txt").read_text()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z " + re.escape(victim.marker) + "\n", out), out
    assert "boot-warning" in err and victim.marker not in err


def test_manifest_lists_every_artifact_and_who_captured(captured: Captured, victim: Victim,
                                                        daemon: dockerd.Daemon) -> None:
    m = manifest(captured.path)
    assert m["subject"]["container_id"] == victim.cid
    assert m["captured"]["by"]["operator"] == "examiner-7" and m["captured"]["case"] == "INC-42"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", m["captured"]["finished"])
    assert m["docker"]["engine_id"] == daemon.docker("info", "--format", "{{.ID}}").stdout.strip()
    files = {p.relative_to(captured.path).as_posix() for p in captured.path.rglob("*") if p.is_file()}
    listed = {a["path"] for a in m["artifacts"]}
    assert files - listed == {"manifest.json", "manifest.sig", "signer.pem"}
    assert listed <= files
    for a in m["artifacts"]:
        data = (captured.path / a["path"]).read_bytes()
        assert a["sha256"] == hashlib.sha256(data).hexdigest() and a["size"] == len(data)
    image = load(captured.path, "image/inspect.json")
    assert m["subject"]["image"]["id"] == image["Id"]
    assert load(captured.path, "container/inspect.json")["Id"] == victim.cid


def test_memory_is_captured_or_unavailable_with_a_reason(captured: Captured) -> None:
    m = manifest(captured.path)
    memory = [a for a in m["artifacts"] if a["kind"] == "memory"]
    reasons = [u["reason"] for u in m["unavailable"] if u["kind"] == "memory"]
    assert bool(memory) != bool(reasons)
    if reasons:  # this daemon runs without --experimental (or CRIU): the daemon's own refusal is kept
        assert "experimental" in reasons[0] or "criu" in reasons[0].lower()


def test_daemon_events_and_log_store_records(captured: Captured, victim: Victim) -> None:
    events = load(captured.path, "container/events.json")
    actions = [e["Action"] for e in events]
    assert "create" in actions and "start" in actions
    assert any(a.startswith("exec_start") for a in actions)
    entries = [json.loads(line) for line in (captured.path / "store/audit-entries.jsonl").read_text().splitlines()]
    assert any(e["payload"].get("note") == "seeded-before-capture" for e in entries)
    stored = load(captured.path, "store/container-events.json")
    assert [(e["action"], e["container_id"]) for e in stored] == [("start", victim.cid)]


def test_capture_and_verify_are_chain_of_custody_entries(captured: Captured) -> None:
    digest = hashlib.sha256((captured.path / "manifest.json").read_bytes()).hexdigest()
    r = run("forensics", "verify", str(captured.path), "--key", str(captured.key.public), "--audit-db", captured.db,
            "--reason", "court export")
    assert r.exit_code == 0, r.output
    log = open_log(captured.db)
    custody = [e.json() for e in log.query(type="forensics.custody")]
    log.engine.dispose()
    capture = [e for e in custody if e["payload"]["action"] == "capture"]
    access = [e for e in custody if e["payload"]["action"] == "verify" and e["payload"]["reason"] == "court export"]
    assert capture and capture[0]["payload"]["manifest_sha256"] == digest
    assert capture[0]["payload"]["actor"]["operator"] == "examiner-7"
    assert access and access[-1]["payload"]["result"] == "intact"
    assert access[-1]["payload"]["manifest_sha256"] == digest


def test_the_container_keeps_running(captured: Captured, victim: Victim, daemon: dockerd.Daemon) -> None:
    assert daemon.docker("inspect", "-f", "{{.State.Status}}", victim.name).stdout.strip() == "running"
    assert manifest(captured.path)["actions"] == []


def test_tar_bundle_with_pause_and_export(daemon: dockerd.Daemon, victim: Victim, keys: dict[str, KeyPair],
                                          tmp_path: Path) -> None:
    out = tmp_path / "evidence.tar"
    r = run("forensics", "capture", victim.name, "-H", daemon.host, "-o", str(out), "--key",
            str(keys["ed25519"].private), "--pause", "--export-fs", "--no-memory", "--format", "json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["bundle"] == str(out) and out.is_file()
    assert {"kind": "memory", "reason": "not requested (--no-memory)"} in res["unavailable"]
    assert daemon.docker("inspect", "-f", "{{.State.Status}}", victim.name).stdout.strip() == "running"
    assert not list(tmp_path.glob(".mamori-forensics-*"))  # the work directory is gone
    with tarfile.open(out) as tar:
        m = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert [a["action"] for a in m["actions"]] == ["pause", "unpause"]
        fs = tar.extractfile("container/filesystem.tar")
        assert fs is not None
        with tarfile.open(fileobj=fs) as inner:
            dropped = inner.extractfile("tmp/dropper.sh")
            assert dropped is not None and dropped.read() == (victim.dropped + "\n").encode()
    r = run("forensics", "verify", str(out), "--key", str(keys["ed25519"].public))
    assert r.exit_code == 0, r.output
    assert "INTACT" in r.output


def test_export_over_its_bound_is_dropped_and_said(daemon: dockerd.Daemon, victim: Victim,
                                                   keys: dict[str, KeyPair], tmp_path: Path) -> None:
    r = run("forensics", "capture", victim.name, "-H", daemon.host, "-o", str(tmp_path / "b"), "--key",
            str(keys["ecdsa"].private), "--export-fs", "--max-export", "1", "--max-file", "0", "--no-memory")
    assert r.exit_code == 0, r.output
    m = manifest(tmp_path / "b")
    assert any(u["kind"] == "export" and "larger than" in u["reason"] for u in m["unavailable"])
    assert not (tmp_path / "b/container/filesystem.tar").exists()
    index = {row["path"]: row for row in load(tmp_path / "b", "container/files.json")}
    assert index["/tmp/dropper.sh"]["status"].startswith("omitted:")


def test_stop_takes_volatile_evidence_first_then_stops(daemon: dockerd.Daemon, keys: dict[str, KeyPair],
                                                       tmp_path: Path) -> None:
    v = compromise(daemon, "victim-stop", 5555)
    try:
        r = run("forensics", "capture", v.name, "-H", daemon.host, "-o", str(tmp_path / "b"), "--key",
                str(keys["ecdsa"].private), "--stop", "--no-memory")
        assert r.exit_code == 0, r.output
        assert daemon.docker("inspect", "-f", "{{.State.Running}}", v.name).stdout.strip() == "false"
        b = tmp_path / "b"
        assert [a["action"] for a in manifest(b)["actions"]] == ["stop"]
        top = load(b, "container/processes.json")
        assert any("nc -l -p 5555" in " ".join(p) for p in top["Processes"])
        assert (b / "container/fs/tmp/dropper.sh").read_text() == v.dropped + "\n"
    finally:
        daemon.docker("rm", "-f", v.name, check=False)


def test_capture_errors_exit_2_without_traceback(daemon: dockerd.Daemon, keys: dict[str, KeyPair],
                                                 captured: Captured, tmp_path: Path) -> None:
    r = run("forensics", "capture", "no-such-container", "-H", daemon.host, "-o", str(tmp_path / "x"), "--key",
            str(keys["ecdsa"].private))
    assert r.exit_code == 2 and "no container 'no-such-container'" in r.output
    assert not (tmp_path / "x").exists()
    r = run("forensics", "capture", "no-such-container", "-H", daemon.host, "-o", str(tmp_path / "x.tar"), "--key",
            str(keys["ecdsa"].private))
    assert r.exit_code == 2 and sorted(p.name for p in tmp_path.iterdir()) == []
    r = run("forensics", "capture", "victim", "-H", daemon.host, "-o", str(captured.path), "--key",
            str(keys["ecdsa"].private))
    assert r.exit_code == 2 and "never written over" in r.output
    r = run("forensics", "capture", "victim", "-H", daemon.host, "--key", str(keys["ecdsa"].public))
    assert r.exit_code == 2 and "signing key" in r.output
    r = run("forensics", "capture", "victim", "-H", "unix:///nonexistent.sock", "-o", str(tmp_path / "y"),
            "--key", str(keys["ecdsa"].private))
    assert r.exit_code == 2 and "cannot reach" in r.output


def test_memory_checkpoint_on_an_experimental_daemon(keys: dict[str, KeyPair], tmp_path: Path) -> None:
    """With --experimental the daemon tries CRIU: the memory image is kept and hashed, or its failure is recorded
    and nothing half-written stays in the bundle."""
    with dockerd.running("--experimental") as d:
        image = dockerd.busybox_image(d)
        d.docker("run", "-d", "--name", "mem", image, "sleep", "3600")
        out = tmp_path / "b"
        r = run("forensics", "capture", "mem", "-H", d.host, "-o", str(out), "--key", str(keys["ecdsa"].private))
        assert r.exit_code == 0, r.output
        m = manifest(out)
        assert m["docker"]["experimental"] is True
        memory = [a for a in m["artifacts"] if a["kind"] == "memory"]
        reasons = [u["reason"] for u in m["unavailable"] if u["kind"] == "memory"]
        if memory:
            assert all(a["path"].startswith("memory/") for a in memory)
        else:  # e.g. no criu, or a kernel CRIU cannot work with: the daemon's own words are kept
            assert reasons and "criu" in reasons[0].lower() and "experimental" not in reasons[0]
            assert not (out / "memory").exists()
        assert d.docker("inspect", "-f", "{{.State.Running}}", "mem").stdout.strip() == "true"
        assert run("forensics", "verify", str(out), "--key", str(keys["ecdsa"].public)).exit_code == 0


def test_an_exited_container_says_what_cannot_be_taken(daemon: dockerd.Daemon, keys: dict[str, KeyPair],
                                                      tmp_path: Path) -> None:
    image = dockerd.busybox_image(daemon)
    daemon.docker("run", "--name", "gone", image, "sh", "-c", "mkdir -p /tmp && echo left-behind > /tmp/trace; "
                  "echo bye")
    try:
        r = run("forensics", "capture", "gone", "-H", daemon.host, "-o", str(tmp_path / "b"), "--key",
                str(keys["ecdsa"].private))
        assert r.exit_code == 0, r.output
        m = manifest(tmp_path / "b")
        why = {u["kind"]: u["reason"] for u in m["unavailable"]}
        assert why["processes"] == why["memory"] == "the container is not running"
        assert all("not running" in why[f"connections.{t}"] for t in ("tcp", "tcp6", "udp", "udp6"))
        assert why["store"].startswith("no --audit-db")
        assert (tmp_path / "b/container/fs/tmp/trace").read_text() == "left-behind\n"
        assert (tmp_path / "b/container/logs.stdout.txt").read_text().endswith(" bye\n")
    finally:
        daemon.docker("rm", "-f", "gone", check=False)


def test_pause_leaves_an_already_paused_container_as_it_found_it(daemon: dockerd.Daemon, victim: Victim,
                                                                keys: dict[str, KeyPair], tmp_path: Path) -> None:
    daemon.docker("pause", victim.name)
    try:
        r = run("forensics", "capture", victim.name, "-H", daemon.host, "-o", str(tmp_path / "b"), "--key",
                str(keys["ecdsa"].private), "--pause", "--no-memory", "--format", "json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["actions"] == []
        assert daemon.docker("inspect", "-f", "{{.State.Status}}", victim.name).stdout.strip() == "paused"
        assert (tmp_path / "b/container/fs/tmp/dropper.sh").read_text() == victim.dropped + "\n"
    finally:
        daemon.docker("unpause", victim.name, check=False)
