"""`mamori scan docker://` against real daemons: exact rule ids per container and per daemon."""

from __future__ import annotations

import json

import pytest

from mamori.live.connect import ConnectError, connect
from mamori.scan import load_paths
from tests.live.conftest import Host
from tests.live.helpers import audit, daemon_ids, per_container

BASE = {"MAM-IMG-002", "MAM-IMG-004"}  # a locally built image has no registry digest to pin
DEFAULTS = BASE | {"MAM-CAP-001", "MAM-CAP-005", "MAM-HARD-001", "MAM-LIFE-001", "MAM-PRIV-002", "MAM-RES-001",
                   "MAM-RES-005"}
EXPECTED = {
    "insecure": DEFAULTS | {"MAM-CAP-002", "MAM-CAP-003", "MAM-CAP-006", "MAM-HOST-001", "MAM-HOST-002",
                            "MAM-HOST-003", "MAM-HOST-004", "MAM-LOG-001", "MAM-PRIV-001", "MAM-PRIV-003",
                            "MAM-PRIV-005", "MAM-PRIV-008", "MAM-PRIV-009", "MAM-PRIV-014", "MAM-PRIV-015",
                            "MAM-RES-002", "MAM-TEN-001"},
    "hardened": BASE | {"MAM-LOG-001"},
    "mixed": DEFAULTS | {"MAM-LOG-001", "MAM-NET-004", "MAM-PRIV-015", "MAM-RES-002", "MAM-SECRET-002"},
    "namespaces": DEFAULTS | {"MAM-CAP-002", "MAM-CAP-003", "MAM-CAP-004", "MAM-CAP-006", "MAM-HARD-002",
                              "MAM-HARD-004", "MAM-HOST-005", "MAM-LOG-001", "MAM-PRIV-004", "MAM-PRIV-006",
                              "MAM-PRIV-008", "MAM-PRIV-011", "MAM-PRIV-014", "MAM-PRIV-015", "MAM-RES-002",
                              "MAM-TEN-001"},
    "unlabelled": DEFAULTS | {"MAM-HARD-005", "MAM-LOG-001", "MAM-TEN-001"},
}
WEAK_DAEMON = {"MAM-DAEMON-001", "MAM-DAEMON-002", "MAM-DAEMON-004", "MAM-DAEMON-005", "MAM-DAEMON-006",
               "MAM-DAEMON-008", "MAM-DAEMON-009", "MAM-DAEMON-010", "MAM-DAEMON-011", "MAM-DAEMON-012",
               "MAM-DAEMON-013"}
HARDENED_DAEMON = {"MAM-DAEMON-004", "MAM-DAEMON-009"}


def test_each_container_gets_exactly_its_rules(weak: Host) -> None:
    decision = audit(weak)
    assert not decision.errors, decision.errors
    got = per_container(decision)
    assert set(got) == set(EXPECTED)
    for name, want in EXPECTED.items():
        assert got[name] == want, (name, sorted(got[name] - want), sorted(want - got[name]))


def test_findings_name_container_id_and_image(weak: Host) -> None:
    decision = audit(weak, filters={"name": ["^/insecure$"]})
    cid = weak.daemon.docker("inspect", "-f", "{{.Id}}", "insecure").stdout.strip()
    image_id = weak.daemon.docker("image", "inspect", "-f", "{{.Id}}", weak.image).stdout.strip()
    priv = next(f for f in decision.findings if f.rule_id == "MAM-PRIV-001")
    assert priv.location.resource == "Container/insecure"
    assert f"id {cid[:12]}" in priv.location.file and image_id in priv.location.file
    assert priv.location.path == "/HostConfig/Privileged"
    assert priv.source == "docker"


def test_daemon_added_selinux_label_is_not_the_operators(weak: Host) -> None:
    """dockerd writes label=disable into privileged containers; only an explicit one is reported."""
    opts = json.loads(weak.daemon.docker("inspect", "-f", "{{json .HostConfig.SecurityOpt}}", "insecure").stdout)
    assert "label=disable" in opts
    got = per_container(audit(weak))
    assert "MAM-HARD-005" not in got["insecure"] and "MAM-HARD-005" in got["unlabelled"]


def test_weak_daemon_rules(weak: Host) -> None:
    assert daemon_ids(audit(weak)) == WEAK_DAEMON


def test_hardened_daemon_rules_and_containers(hardened: Host) -> None:
    decision = audit(hardened)
    assert not decision.errors, decision.errors
    assert daemon_ids(decision) == HARDENED_DAEMON
    assert per_container(decision) == {"hardened": BASE}  # syslog driver: no MAM-LOG-001 either


def test_daemon_findings_point_at_their_source(weak: Host) -> None:
    decision = audit(weak)
    by_id = {f.rule_id: f for f in decision.findings if f.location.kind == "DockerHost"}
    lines = weak.config.read_text().splitlines()
    exp = by_id["MAM-DAEMON-010"].location
    assert exp.file == str(weak.config) and exp.path == "/experimental"
    assert '"experimental"' in lines[exp.line - 1]
    assert by_id["MAM-DAEMON-002"].location.path == "/insecure-registries"
    tcp = by_id["MAM-DAEMON-001"].location
    assert tcp.file.startswith("dockerd command line") and tcp.path == f"-H {weak.tcp}"
    assert by_id["MAM-DAEMON-011"].location.file == str(weak.config)
    assert "0666" in by_id["MAM-DAEMON-011"].message
    assert by_id["MAM-DAEMON-012"].location.file == str(weak.socket)
    assert "alice" in by_id["MAM-DAEMON-013"].message
    assert by_id["MAM-DAEMON-005"].location.file == "docker info"


@pytest.mark.parametrize(("filters", "names"), [
    ({"name": ["hardened"]}, {"hardened"}),
    ({"label": ["tenant=shop"]}, {"hardened", "mixed"}),
    ({"status": ["running"]}, {"hardened"}),
    ({"status": ["created"]}, {"insecure", "mixed", "namespaces", "unlabelled"}),
])
def test_filters_select_containers(weak: Host, filters: dict[str, list[str]], names: set[str]) -> None:
    decision = audit(weak, filters=filters)
    assert set(per_container(decision)) == names
    assert daemon_ids(decision) == WEAK_DAEMON  # the daemon is judged whatever the filter


def test_remote_daemon_skips_host_files(weak: Host) -> None:
    decision = audit(weak, target="docker://" + weak.tcp)
    assert not decision.errors, decision.errors
    assert per_container(decision) == EXPECTED
    # Known from docker info and the connection itself; nothing from files or the command line.
    assert daemon_ids(decision) == WEAK_DAEMON - {"MAM-DAEMON-006", "MAM-DAEMON-011", "MAM-DAEMON-012",
                                                  "MAM-DAEMON-013"}
    assert any("remote" in s.reason for s in decision.skipped)


def test_tls_client_certificates(hardened: Host) -> None:
    assert hardened.cert_dir is not None
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(hardened.cert_dir)}
    decision = audit(hardened, target="docker://" + hardened.tcp, env=env)
    assert not decision.errors, decision.errors
    assert per_container(decision) == {"hardened": BASE}
    assert "MAM-DAEMON-001" not in daemon_ids(decision)  # TLS: the connection is not plain TCP
    with pytest.raises(ConnectError, match="cannot reach"):
        connect("docker://" + hardened.tcp, env={}, timeout=5)  # no client certificate: refused
    with pytest.raises(ConnectError, match="TLS client files missing"):
        connect("docker://" + hardened.tcp, env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/nonexistent"})


def test_docker_host_from_environment(weak: Host) -> None:
    decision = audit(weak, target="docker://", env={"DOCKER_HOST": weak.daemon.host})
    assert set(per_container(decision)) == set(EXPECTED)


def test_snapshot_scans_offline_like_the_live_host(weak: Host, tmp_path: object) -> None:
    from pathlib import Path

    snap = Path(str(tmp_path)) / "host.json"
    live = audit(weak, save_snapshot=str(snap))
    data = json.loads(snap.read_text())
    assert data["kind"] == "DockerHost" and data["endpoint"] == weak.daemon.host
    offline = load_paths([str(snap)])
    from mamori.policy.engine import decide
    from tests.helpers import TODAY

    decision = decide(offline, today=TODAY)
    assert not decision.errors, decision.errors
    assert daemon_ids(decision) == daemon_ids(live) == WEAK_DAEMON
    assert all(f.location.file == str(snap) and f.location.line >= 1 for f in decision.findings)
