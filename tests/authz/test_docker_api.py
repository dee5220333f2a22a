"""Engine API container configuration -> the model, with Go's JSON rules and the Compose source's choices."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mamori.policy.config import Policy
from mamori.policy.engine import decide
from mamori.sources import docker_api, docker_ops, load_text
from mamori.sources.gojson import JsonError, fold, loads
from tests.authz.helpers import captured_body, inspected


def ids(scan: object) -> Counter[str]:
    return Counter(f.rule_id for f in decide(scan, Policy()).findings)  # type: ignore[arg-type]


def create(body: object, name: str = "web") -> Counter[str]:
    scan = docker_api.load_create(loads(json.dumps(body).encode()), name=name)
    assert not scan.errors, scan.errors
    return ids(scan)


# --- a Compose service and the equivalent `docker run` give the same findings -------------------

EQUIVALENT = [
    ("privileged: true\n    cap_add: [SYS_ADMIN, NET_ADMIN]\n    pid: host\n    network_mode: host",
     {"HostConfig": {"Privileged": True, "CapAdd": ["CAP_SYS_ADMIN", "NET_ADMIN"], "PidMode": "host",
                     "NetworkMode": "host"}}),
    ('volumes: ["/:/host", "/var/run/docker.sock:/var/run/docker.sock:ro", "data:/data"]',
     {"HostConfig": {"Binds": ["/:/host", "/var/run/docker.sock:/var/run/docker.sock:ro", "data:/data"]}}),
    ('user: "10001:10001"\n    cap_drop: [ALL]\n    read_only: true\n    security_opt: [no-new-privileges:true]\n'
     '    mem_limit: 64m\n    pids_limit: 64\n    cpus: 0.5\n    healthcheck: {test: ["CMD", "true"]}\n'
     '    logging: {driver: syslog}\n    labels: {tenant: a, data-classification: public}',
     {"User": "10001:10001", "Healthcheck": {"Test": ["CMD", "true"]}, "Labels": {"tenant": "a",
      "data-classification": "public"}, "HostConfig": {"CapDrop": ["ALL"], "ReadonlyRootfs": True,
      "SecurityOpt": ["no-new-privileges:true"], "Memory": 67108864, "PidsLimit": 64, "NanoCpus": 500000000,
      "LogConfig": {"Type": "syslog"}}}),
    ('security_opt: ["seccomp:unconfined", "apparmor:unconfined", "label:disable"]\n    ipc: host\n    uts: host\n'
     '    userns_mode: host\n    sysctls: {kernel.msgmax: "65536"}\n    devices: ["/dev/kmsg:/dev/kmsg"]',
     {"HostConfig": {"SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined", "label=disable"], "IpcMode": "host",
                     "UTSMode": "host", "UsernsMode": "host", "Sysctls": {"kernel.msgmax": "65536"},
                     "Devices": [{"PathOnHost": "/dev/kmsg", "PathInContainer": "/dev/kmsg",
                                  "CgroupPermissions": "rwm"}]}}),
    ('ports: ["8080:80", "127.0.0.1:2222:22"]\n'
     '    environment: ["AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]\n    user: root',
     {"User": "root", "Env": ["AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
      "ExposedPorts": {"80/tcp": {}, "22/tcp": {}},
      "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                      "22/tcp": [{"HostIp": "127.0.0.1", "HostPort": "2222"}]}}}),
]


@pytest.mark.parametrize(("service", "body"), EQUIVALENT)
def test_compose_service_and_docker_run_give_the_same_findings(service: str, body: dict[str, object]) -> None:
    compose = ids(load_text("compose.yaml", f"services:\n  web:\n    image: nginx:1.25\n    {service}\n"))
    assert create({"Image": "nginx:1.25", **body}) == compose


def test_captured_insecure_run_is_read_completely() -> None:
    scan = docker_api.load_create(captured_body("run-insecure"), name="insecure")
    assert not scan.errors
    c = scan.workloads[0].containers[0]
    assert c.privileged is not None and c.privileged.value
    assert [m.source for m in c.mounts if m.kind == "host"] == ["/var/run/docker.sock", "/"]
    assert [v.value for v in c.cap_add] == ["SYS_ADMIN"]
    found = ids(scan)
    for rule in ("MAM-PRIV-001", "MAM-PRIV-003", "MAM-HOST-002", "MAM-HOST-003", "MAM-CAP-004"):
        assert found[rule], rule


def test_captured_hardened_run_has_no_finding_at_medium_or_above() -> None:
    scan = docker_api.load_create(captured_body("run-hardened"), name="hardened")
    findings = decide(scan, Policy()).findings
    assert not [f for f in findings if f.severity.value >= 2], [f.rule_id for f in findings]
    c = scan.workloads[0].containers[0]
    assert c.resources is not None and c.resources.pids_limit is not None
    assert (c.resources.memory_limit.value, c.resources.cpu_limit.value, c.resources.pids_limit.value) == (
        "67108864", "0.5", 64)
    assert c.allow_privilege_escalation is not None and c.allow_privilege_escalation.value is False


def test_captured_mounts_run() -> None:
    scan = docker_api.load_create(captured_body("run-mounts"), name="mounts")
    w = scan.workloads[0]
    c = w.containers[0]
    host = {m.target: (m.source, m.read_only) for m in c.mounts if m.kind == "host"}
    # --mount type=volume with local bind options is the host directory it binds
    assert host == {"/etc2": ("/etc", True), "/data": ("/root", False)}
    assert [m.target for m in c.mounts if m.kind == "tmpfs"] == ["/run"]
    assert [(p.container_port, p.host_port, p.host_ip) for p in c.ports] == [(80, 8080, "127.0.0.1")]
    assert c.seccomp is not None and c.seccomp.value == "Unconfined"
    assert c.proc_mount is not None and c.proc_mount.value == "Unmasked"  # systempaths=unconfined: MaskedPaths []
    assert w.host_ipc is not None and w.host_ipc.value and w.host_uts is not None and w.host_uts.value
    assert c.logging_driver is not None and c.logging_driver.value == "syslog"
    found = ids(scan)
    for rule in ("MAM-HOST-002", "MAM-HOST-007", "MAM-HARD-002", "MAM-HARD-004", "MAM-PRIV-004", "MAM-PRIV-006",
                 "MAM-PRIV-007", "MAM-PRIV-011", "MAM-PRIV-012", "MAM-HOST-005"):
        assert found[rule], rule
    assert not found["MAM-LOG-001"] and not found["MAM-NET-004"]


def test_zero_values_sent_by_the_cli_are_defaults_not_settings() -> None:
    w = docker_api.load_create(captured_body("run-hardened")).workloads[0]
    assert w.host_users is not None and w.host_users.value and not w.host_users.explicit
    assert w.host_pid is not None and not w.host_pid.value and not w.host_pid.explicit


@pytest.mark.parametrize("key", ["hostconfig", "HOSTCONFIG", "HostConfiG"])
def test_field_names_match_case_insensitively_like_go(key: str) -> None:
    assert create({"Image": "nginx:1.25", key: {"privileged": True}})["MAM-PRIV-001"] == 1


def test_unicode_folding_of_field_names() -> None:
    assert fold("\u017fecurityOpt") == "SECURITYOPT" and fold("\u212aey") == "KEY" and fold("Pr\u0131v") == "PRIV"
    body = ('{"Image": "nginx:1.25", "HostConfig": {"\u017fecurityOpt": ["seccomp=unconfined"], '
            '"Pr\u0131vileged": true}}')
    found = ids(docker_api.load_create(loads(body.encode())))
    assert found["MAM-HARD-002"] and found["MAM-PRIV-001"]


@pytest.mark.parametrize("body", [
    '{"Image": "x", "HostConfig": {"Privileged": false, "privileged": true}}',
    '{"Image": "x", "HostConfig": {"Privileged": false}, "hostConfig": {"Privileged": true}}',
    '{"Image": "x", "HostConfig": {"Binds": [], "Binds": ["/:/host"]}}',
])
def test_a_field_set_twice_is_refused(body: str) -> None:
    with pytest.raises(JsonError, match="set 2 times"):
        docker_api.load_create(loads(body.encode()))


@pytest.mark.parametrize("key", ["Privileged", "binds", "CapAdd", "Mounts", "Cpuset"])
def test_host_config_fields_at_the_top_level_are_refused(key: str) -> None:
    with pytest.raises(JsonError, match="top level"):
        docker_api.load_create({"Image": "x", key: True})


def test_map_keys_are_exact_and_the_last_duplicate_wins() -> None:
    scan = docker_api.load_create(loads(b'{"Image":"x","HostConfig":{"Sysctls":{"net.ipv4.ping_group_range":"0 1",'
                                        b'"kernel.msgmax":"1","kernel.msgmax":"2"}}}'))
    assert [(s.value.name, s.value.value) for s in scan.workloads[0].sysctls] == [
        ("net.ipv4.ping_group_range", "0 1"), ("kernel.msgmax", "2")]


@pytest.mark.parametrize(("host", "message"), [
    ({"Privileged": "true"}, "Privileged: must be true or false"),
    ({"Memory": 1.5}, "Memory: must be a whole number"),
    ({"Binds": "/:/host"}, "Binds: must be a list"),
    ({"Binds": ["/a:/b:ro:extra"]}, "invalid bind"),
    ({"Mounts": [{"Type": "weird", "Target": "/x"}]}, "unknown mount type"),
    ({"Devices": [{"PathInContainer": "/dev/x"}]}, "PathOnHost"),
    ("not an object", "must be an object"),
])
def test_wrong_types_are_input_errors(host: object, message: str) -> None:
    scan = docker_api.load_create({"Image": "x", "HostConfig": host})
    assert any(message in e.message for e in scan.errors), scan.errors
    assert decide(scan, Policy()).errors


def test_lists_are_bounded() -> None:
    scan = docker_api.load_create({"Image": "x", "HostConfig": {"CapAdd": ["CHOWN"] * (docker_api.MAX_ITEMS + 10)}})
    assert len(scan.workloads[0].containers[0].cap_add) == docker_api.MAX_ITEMS
    assert any("more than" in e.message for e in scan.errors)


@pytest.mark.parametrize(("masked", "unmasked"), [
    (None, False), ([], True), (["/proc/kcore"], True),
    ([*docker_api.CORE_MASKED, "/proc/scsi"], False),
])
def test_masked_paths(masked: list[str] | None, unmasked: bool) -> None:
    c = docker_api.load_create({"Image": "x", "HostConfig": {"MaskedPaths": masked}}).workloads[0].containers[0]
    assert c.proc_mount is not None and (c.proc_mount.value == "Unmasked") is unmasked


def test_locations_are_json_pointers_of_the_field_to_change() -> None:
    found = {f.rule_id: f.location.path for f in decide(docker_api.load_create(
        {"Image": "x", "HostConfig": {"CapAdd": ["NET_RAW", "SYS_ADMIN"]}}), Policy()).findings}
    assert found["MAM-CAP-004"] == "/HostConfig/CapAdd/1"
    assert found["MAM-HARD-001"] == "/HostConfig/ReadonlyRootfs"
    assert found["MAM-RES-002"] == "/HostConfig/Memory"


# --- the inspect shape (live-host audit) -------------------------------------------------------


def test_inspect_shape_reads_config_and_effective_mounts() -> None:
    scan = docker_api.load_inspect(inspected("mounts"))
    assert not scan.errors
    w = scan.workloads[0]
    assert w.ident.name == "mounts" and w.ident.file == "docker:mounts"
    c = w.containers[0]
    assert c.image.value is not None and c.image.value.raw == "mamori-test/busybox:1"
    assert {m.target: m.source for m in c.mounts if m.kind == "host"} == {"/etc2": "/etc", "/data": "/root"}
    assert ids(scan)["MAM-HOST-002"]


def test_inspect_of_the_hardened_container_matches_its_create_request() -> None:
    a = ids(docker_api.load_inspect(inspected("hardened")))
    b = ids(docker_api.load_create(captured_body("run-hardened"), name="hardened"))
    assert a == b


def test_load_tells_the_shapes_apart() -> None:
    assert docker_api.load(inspected("hardened")).workloads[0].ident.name == "hardened"
    assert docker_api.load(captured_body("run-insecure"), name="x").workloads[0].ident.name == "x"


# --- exec, pull, volume ----------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "allowed_root", "rules"), [
    ({"User": "root", "Cmd": ["sh"]}, False, {"MAM-PRIV-009"}),
    ({"User": "0:0", "Cmd": ["sh"]}, False, {"MAM-PRIV-009"}),
    ({"User": "root", "Cmd": ["sh"]}, True, set()),
    ({"User": "", "Cmd": ["sh"]}, False, set()),
    ({"User": "10001", "Cmd": ["sh"]}, False, set()),
    ({"Privileged": True, "Cmd": ["sh"]}, True, {"MAM-PRIV-001"}),
])
def test_exec(body: dict[str, object], allowed_root: bool, rules: set[str]) -> None:
    scan = docker_ops.load_exec(body, container="web", root_exec_allowed=allowed_root)
    high = {f.rule_id for f in decide(scan, Policy()).findings if f.severity.value >= 3}
    assert high == rules


@pytest.mark.parametrize(("image", "tag", "ref"), [
    ("registry.invalid/team/app", "1.0", "registry.invalid/team/app:1.0"),
    ("busybox:old", "latest", "busybox:latest"),
    ("localhost:5000/app", "sha256:" + "a" * 64, "localhost:5000/app@sha256:" + "a" * 64),
    ("localhost:5000/app:1@sha256:" + "b" * 64, None, "localhost:5000/app:1@sha256:" + "b" * 64),
])
def test_pull_reference(image: str, tag: str | None, ref: str) -> None:
    assert docker_ops.pull_reference(image, tag) == ref


def test_volume_binding_a_host_directory_is_a_host_mount() -> None:
    name, driver, opts = docker_ops.volume_driver({"Name": "v", "DriverOpts": {"o": "bind", "device": "/etc/"}})
    assert (name, driver) == ("v", "local")
    scan = docker_ops.load_volume(name, driver, opts)
    assert scan.workloads[0].containers[0].mounts[0].source == "/etc"
    assert ids(scan)["MAM-HOST-002"]
    assert not docker_ops.load_volume("v", "local", {"type": "tmpfs", "device": "tmpfs"}).workloads
