"""The Compose source: every key mapped with its line, Docker's defaults, errors, suppressions."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from mamori.model import Container, Mount, ScanSet, SourceKind, Workload
from mamori.sources import load_text
from mamori.sources.compose import is_compose, load
from mamori.sources.compose_interp import interpolate, interpolate_ex
from mamori.sources.compose_syntax import duration_seconds, parse_port, parse_volume
from mamori.sources.inline import inline_suppressions
from mamori.sources.yamldoc import load_docs

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "compose"
CORPUS = Path("/work/shared/corpus/compose")


def load_text_compose(name: str, text: str) -> ScanSet:
    docs, errors = load_docs(name, text)
    assert not errors
    return load(docs[0])


def load_fixture(name: str) -> ScanSet:
    path = FIXTURES / name
    return load_text_compose(str(path), path.read_text())


def service(scan: ScanSet, name: str) -> Workload:
    found = [w for w in scan.workloads if w.ident.name == name]
    assert len(found) == 1, [w.ident.name for w in scan.workloads]
    return found[0]


def main(w: Workload) -> Container:
    assert len(w.containers) == 1
    return w.containers[0]


def one(text: str) -> tuple[Workload, Container, ScanSet]:
    scan = load_text_compose("docker-compose.yml", text)
    assert len(scan.workloads) == 1
    return scan.workloads[0], scan.workloads[0].containers[0], scan


@pytest.fixture(scope="module")
def full() -> ScanSet:
    return load_fixture("full.yaml")


# --- detection and identity -----------------------------------------------------------


def test_is_compose() -> None:
    assert is_compose({"services": {}})
    assert is_compose({"version": "3", "services": {"a": {}}})
    assert not is_compose({"services": []})
    assert not is_compose({"kind": "Pod", "apiVersion": "v1", "services": {}})
    assert not is_compose(["services"])


def test_identity_and_location(full: ScanSet) -> None:
    assert not full.errors
    assert [w.ident.name for w in full.workloads] == ["web", "db", "builder", "plain"]
    web = service(full, "web")
    assert web.ident.source is SourceKind.COMPOSE
    assert web.ident.kind == "ComposeService"
    assert web.ident.display == "ComposeService/web"
    assert web.ident.namespace is None
    assert web.ident.line == 4 and web.loc.line == 4 and web.loc.path == "/services/web"
    c = main(web)
    assert c.name == "web" and c.role.value == "service" and c.loc == web.loc


# --- image and build --------------------------------------------------------------------


def test_image_and_build(full: ScanSet) -> None:
    web = main(service(full, "web"))
    assert web.image.value is not None
    assert (web.image.value.registry, web.image.value.repository, web.image.value.tag) == (
        "registry.example.com", "shop/web", "1.4.2")
    assert web.image.loc.line == 5 and web.image.explicit
    builder = service(full, "builder")
    assert main(builder).image.value is None and not main(builder).image.explicit
    assert builder.extra["build"].value == "./app"
    assert builder.extra["build_dockerfile"].value == "Dockerfile.prod"
    assert builder.extra["build_args"].value == {"VERSION": "1"}
    assert service(full, "db").stateful and not service(full, "web").stateful


def test_build_string_only() -> None:
    w, c, _ = one("services:\n  app:\n    build: .\n")
    assert c.image.value is None
    assert w.extra["build"].value == "."
    assert w.extra["healthcheck_from_image"].value is True


# --- privileges ---------------------------------------------------------------------------


def test_privileges(full: ScanSet) -> None:
    c = main(service(full, "web"))
    assert c.privileged is not None and c.privileged.value is True and c.privileged.loc.line == 7
    assert c.read_only_root is not None and c.read_only_root.value is True
    assert c.user is not None and c.user.value == "1000:2000"
    assert c.run_as_user is not None and c.run_as_user.value == 1000 and c.run_as_user.loc.line == 6
    assert c.run_as_group is not None and c.run_as_group.value == 2000
    assert c.run_as_non_root is None  # Compose cannot say it
    assert [(v.value, v.loc.line) for v in c.cap_add] == [("NET_ADMIN", 10), ("SYS_TIME", 11)]
    assert [v.value for v in c.cap_drop] == ["ALL"]
    assert c.capabilities is not None and c.capabilities.value is True and not c.capabilities.explicit
    assert c.capabilities.loc.line == 4


def test_security_opt(full: ScanSet) -> None:
    web = main(service(full, "web"))
    assert web.allow_privilege_escalation is not None
    assert web.allow_privilege_escalation.value is False and web.allow_privilege_escalation.loc.line == 14
    assert web.seccomp is not None and web.seccomp.value == "Unconfined" and web.seccomp.loc.line == 15
    assert web.apparmor is not None and web.apparmor.value == "unconfined" and web.apparmor.loc.line == 16
    assert web.selinux_type is not None and web.selinux_type.value == "svirt_apache_t"
    assert web.proc_mount is not None and web.proc_mount.value == "Unmasked"
    builder = main(service(full, "builder"))
    assert builder.allow_privilege_escalation is not None and builder.allow_privilege_escalation.value is False
    assert builder.selinux_disabled is not None and builder.selinux_disabled.value is True
    assert builder.seccomp is not None and builder.seccomp.value == "Localhost//etc/docker/profile.json"


@pytest.mark.parametrize("opt, field, expected", [
    ("no-new-privileges=true", "allow_privilege_escalation", False),
    ("no-new-privileges:false", "allow_privilege_escalation", True),
    ("seccomp=unconfined", "seccomp", "Unconfined"),
    ("seccomp:default", "seccomp", "RuntimeDefault"),
    ("apparmor:unconfined", "apparmor", "unconfined"),
    ("apparmor=my-profile", "apparmor", "localhost/my-profile"),
    ("label:disable", "selinux_disabled", True),
    ("label=type:spc_t", "selinux_type", "spc_t"),
])
def test_security_opt_spellings(opt: str, field: str, expected: object) -> None:
    _, c, scan = one(f"services:\n  a:\n    image: x\n    security_opt:\n      - {opt}\n")
    val = getattr(c, field)
    assert val.value == expected and val.explicit and val.loc.line == 5
    assert not scan.errors


def test_security_defaults_are_dockers(full: ScanSet) -> None:
    plain = service(full, "plain")
    c = main(plain)
    implicit = [c.privileged, c.read_only_root, c.user, c.run_as_user, c.allow_privilege_escalation, c.seccomp,
                c.apparmor, c.selinux_type, c.selinux_disabled, c.proc_mount, c.pull_policy, c.stop_grace,
                c.logging_driver, plain.host_network, plain.host_pid, plain.host_ipc, plain.host_uts,
                plain.host_users, plain.replicas, plain.restart_policy, plain.network_mode]
    for val in implicit:
        assert val is not None
        assert not val.explicit and val.loc == plain.loc
    assert c.privileged is not None and c.privileged.value is False
    assert c.allow_privilege_escalation is not None and c.allow_privilege_escalation.value is None
    assert c.seccomp is not None and c.seccomp.value == "RuntimeDefault"
    assert c.apparmor is not None and c.apparmor.value == "runtime/default"
    assert c.logging_driver is not None and c.logging_driver.value is None  # json-file
    assert c.stop_grace is not None and c.stop_grace.value == 10
    assert plain.host_users is not None and plain.host_users.value is True  # no userns remap by default
    assert plain.restart_policy is not None and plain.restart_policy.value == "no"
    assert plain.replicas is not None and plain.replicas.value == 1
    assert c.cap_add == () and c.cap_drop == () and c.mounts == () and c.ports == ()
    res = c.resources
    assert res is not None and res.pids_limit is not None
    for q in (res.cpu_request, res.cpu_limit, res.memory_request, res.memory_limit, res.pids_limit):
        assert q.value is None and not q.explicit and q.loc == plain.loc


def test_namespaces(full: ScanSet) -> None:
    web = service(full, "web")
    for val, line in ((web.host_network, 19), (web.host_pid, 20), (web.host_ipc, 21), (web.host_uts, 22),
                      (web.host_users, 23)):
        assert val is not None and val.value is True and val.explicit and val.loc.line == line
    builder = service(full, "builder")
    assert builder.network_mode is not None and builder.network_mode.value == "service:web"
    assert builder.host_network is not None and builder.host_network.value is False
    assert builder.extra["pid_mode"].value == "service:web"
    assert builder.networks == ()


def test_user_forms() -> None:
    _, c, _ = one("services:\n  a:\n    image: x\n    user: root\n")
    assert c.run_as_user is not None and c.run_as_user.value == 0
    _, c, _ = one("services:\n  a:\n    image: x\n    user: app:staff\n")
    assert c.user is not None and c.user.value == "app:staff"
    assert c.run_as_user is not None and c.run_as_user.value is None and not c.run_as_user.explicit
    _, c, _ = one("services:\n  a:\n    image: x\n    user: 1001\n")
    assert c.run_as_user is not None and c.run_as_user.value == 1001 and c.run_as_user.explicit


# --- storage --------------------------------------------------------------------------------


def mounts_by_target(c: Container) -> dict[str, Mount]:
    return {m.target: m for m in c.mounts}


def test_volumes(full: ScanSet) -> None:
    m = mounts_by_target(main(service(full, "web")))
    assert (m["/data"].kind, m["/data"].source, m["/data"].read_only) == ("host", "./data", True)
    sock = m["/var/run/docker.sock"]
    assert (sock.kind, sock.source, sock.read_only, sock.loc.line) == ("host", "/var/run/docker.sock", False, 26)
    assert (m["/x"].kind, m["/x"].source, m["/x"].shared_name) == ("volume", "named", "named")
    anon = m["/just/container/path"]
    assert (anon.kind, anon.source, anon.shared_name) == ("volume", None, None)
    etc = m["/host-etc"]
    assert (etc.kind, etc.source, etc.read_only, etc.propagation) == ("host", "/etc", True, "rshared")
    # a named volume declared as a bind of a host directory is a host mount
    assert (m["/bound"].kind, m["/bound"].source, m["/bound"].shared_name) == ("host", "/srv/bound", "bound")
    assert m["/scratch"].kind == "tmpfs"
    assert m["/run"].kind == "tmpfs" and m["/tmp"].kind == "tmpfs"


def test_top_level_volumes(full: ScanSet) -> None:
    web = service(full, "web")
    vols = {v.name: v for v in web.volumes}
    assert vols["named"].kind == "volume" and vols["named"].loc.line == 150
    assert vols["bound"].kind == "hostPath" and vols["bound"].host_path == "/srv/bound"
    assert web.extra["volumes_declared"].value == ("named", "bound")


def test_external_and_undeclared_volume() -> None:
    w, _, _ = one("services:\n  a:\n    image: x\n    volumes: [ext:/e, nope:/n]\nvolumes:\n  ext:\n"
                  "    external: true\n")
    vols = {v.name: v.kind for v in w.volumes}
    assert vols == {"ext": "external", "nope": "volume"}
    assert w.extra["undeclared_volumes"].value == ("nope",)


def test_secrets_and_configs(full: ScanSet) -> None:
    web = service(full, "web")
    m = mounts_by_target(main(web))
    assert (m["/run/secrets/db_password"].kind, m["/run/secrets/db_password"].source) == ("secret", "db_password")
    assert m["/run/secrets/db_password"].read_only
    assert m["/run/secrets/api.key"].source == "api_key"
    assert (m["/app_config"].kind, m["/app_config"].source) == ("config", "app_config")
    assert m["/etc/other.conf"].kind == "config"
    vols = {v.name: v for v in web.volumes}
    assert vols["db_password"].kind == "secret" and vols["db_password"].host_path is None
    sources = web.extra["secret_sources"].value
    assert isinstance(sources, dict) and sources["secret:db_password"] == {"file": "./db_password.txt"}


def test_devices(full: ScanSet) -> None:
    c = main(service(full, "web"))
    assert [(d.value, d.loc.line) for d in c.devices] == [("/dev/fuse", 44)]


@pytest.mark.parametrize("spec, source, target, ro", [
    ("./data:/data:ro", "./data", "/data", True),
    ("../up:/up", "../up", "/up", False),
    ("~/cfg:/cfg:rw", "~/cfg", "/cfg", False),
    ("/just/container/path", None, "/just/container/path", False),
    ("named:/x:nocopy", "named", "/x", False),
    ("C:\\data:/data", "C:\\data", "/data", False),
    ("${DIR:?unset}:/data:ro", "${DIR:?unset}", "/data", True),
])
def test_parse_volume(spec: str, source: str | None, target: str, ro: bool) -> None:
    v = parse_volume(spec)
    assert (v.source, v.target, v.read_only) == (source, target, ro)


@pytest.mark.parametrize("spec", ["", "a::b", "a:b:ro:extra", ":/x"])
def test_parse_volume_errors(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_volume(spec)


def test_host_path_normalised() -> None:
    _, c, _ = one("services:\n  a:\n    image: x\n    volumes:\n      - //var/run/../run/docker.sock:/s\n"
                  "      - /etc/pihole/:/etc/pihole/\n")
    assert [m.source for m in c.mounts] == ["/var/run/docker.sock", "/etc/pihole"]


# --- network --------------------------------------------------------------------------------


def ports_of(c: Container) -> list[tuple[int | None, int | None, str | None, str]]:
    return [(p.container_port, p.host_port, p.host_ip, p.protocol) for p in c.ports]


def test_ports(full: ScanSet) -> None:
    c = main(service(full, "web"))
    assert ports_of(c) == [
        (80, 8080, None, "TCP"),
        (443, 8443, "127.0.0.1", "TCP"),
        (9000, 0, None, "TCP"),  # published on a random host port
        (7000, 7000, None, "UDP"), (7001, 7001, None, "UDP"), (7002, 7002, None, "UDP"),
        (5000, 0, None, "TCP"),
        (53, 5353, "10.0.0.1", "UDP"),
        (3000, None, None, "TCP"),  # expose: not published
        (4000, None, None, "UDP"),
    ]
    assert [p.loc.line for p in c.ports[:2]] == [46, 47]


@pytest.mark.parametrize("spec, expected", [
    ("80", [(80, 0, None, "TCP")]),
    ("8080:80", [(80, 8080, None, "TCP")]),
    ("127.0.0.1:8080:80/udp", [(80, 8080, "127.0.0.1", "UDP")]),
    ("127.0.0.1::80", [(80, 0, "127.0.0.1", "TCP")]),
    ("[::1]:8080:80", [(80, 8080, "::1", "TCP")]),
    ("0.0.0.0:9000-9001:9000-9001", [(9000, 9000, "0.0.0.0", "TCP"), (9001, 9001, "0.0.0.0", "TCP")]),
    ("8000-8010:80", [(80, 8000, None, "TCP")]),
    ("${PORT}:80", [(80, 0, None, "TCP")]),
    ("6060:6060/SCTP", [(6060, 6060, None, "SCTP")]),
])
def test_parse_port(spec: str, expected: list[tuple[int | None, int | None, str | None, str]]) -> None:
    got = [(p.container_port, p.host_port, p.host_ip, p.protocol) for p in parse_port(spec)]
    assert got == expected


@pytest.mark.parametrize("spec", ["", "abc", "70000:80", "80:0", "1-3:5-9", "80/icmp", "999.1.1.1:80:80", "80-70"])
def test_parse_port_errors(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_port(spec)


def test_port_range_is_bounded() -> None:
    assert len(parse_port("1-65535:1-65535")) == 1024


def test_unquoted_sexagesimal_port_is_a_string() -> None:
    """YAML 1.1 reads `53:53` as the base-60 number 3233; Compose (YAML 1.2) reads a string."""
    _, c, _ = one("services:\n  a:\n    image: x\n    ports:\n      - 53:53\n")
    assert ports_of(c) == [(53, 53, None, "TCP")]


def test_networks(full: ScanSet) -> None:
    web = service(full, "web")
    assert web.networks == ("front", "back")
    cfg = web.extra["network_config"].value
    assert isinstance(cfg, dict) and cfg["back"]["internal"] is True and cfg["front"]["internal"] is False
    assert service(full, "db").networks == ("back",)
    plain = service(full, "plain")
    assert plain.networks == ("default",) and not plain.extra["networks_default"].explicit


# --- environment, labels, sysctls ---------------------------------------------------------------


def test_environment(full: ScanSet) -> None:
    web = main(service(full, "web"))
    assert [(e.name, e.value, e.loc.line, e.origin) for e in web.env] == [
        ("DB_HOST", "db", 60, "environment"), ("FROM_SHELL", None, 61, "environment"), ("EMPTY", "", 62, "environment")]
    db = main(service(full, "db"))
    assert [(e.name, e.value, e.loc.line) for e in db.env] == [
        ("POSTGRES_PASSWORD", "example", 109), ("POSTGRES_DB", None, 110), ("PORT", "5432", 111)]
    assert service(full, "web").extra["env_file"].value == (".env", "./more.env")


def test_labels_and_sysctls(full: ScanSet) -> None:
    web = service(full, "web")
    assert web.labels == {"com.example.team": "shop", "tier": "frontend"}
    assert web.labels_loc is not None and web.labels_loc.line == 93
    assert [(s.value.name, s.value.value, s.loc.line) for s in web.sysctls] == [("net.core.somaxconn", "1024", 97)]
    db = service(full, "db")
    assert db.labels == {"tier": "data", "bare": ""}
    assert [(s.value.name, s.value.value) for s in db.sysctls] == [("net.ipv4.ip_forward", "1")]


# --- resources and lifecycle -----------------------------------------------------------------


def test_deploy_resources(full: ScanSet) -> None:
    res = main(service(full, "web")).resources
    assert res is not None and res.pids_limit is not None
    assert (res.cpu_limit.value, res.cpu_limit.loc.line) == ("0.50", 83)
    assert res.memory_limit.value == "512M" and res.pids_limit.value == 100
    assert res.cpu_request.value == "0.25" and res.memory_request.value == "128M"
    assert service(full, "web").replicas is not None
    assert service(full, "web").replicas.value == 3  # type: ignore[union-attr]


def test_legacy_resources(full: ScanSet) -> None:
    db = service(full, "db")
    res = main(db).resources
    assert res is not None and res.pids_limit is not None
    assert res.memory_limit.value == "1g" and res.memory_limit.loc.line == 117
    assert res.memory_request.value == "256m"
    assert res.cpu_limit.value == "1.5"
    assert res.cpu_request.value == "0.5"  # cpu_shares 512 / 1024
    assert res.pids_limit.value == 200
    assert db.extra["memswap_limit"].value == "2g"
    builder = service(full, "builder")
    bres = main(builder).resources
    assert bres is not None and bres.cpu_limit.value == "0.5"  # cpu_quota 50000 / 100000
    assert builder.replicas is not None and builder.replicas.value == 2  # scale


def test_healthcheck(full: ScanSet) -> None:
    web = main(service(full, "web"))
    assert web.health is not None and web.health.liveness.value is True and web.health.liveness.loc.line == 90
    assert web.health.readiness is None and web.health.startup is None
    db = main(service(full, "db"))
    assert db.health is not None and db.health.disabled and db.health.liveness.value is False
    builder = main(service(full, "builder"))
    assert builder.health is not None and builder.health.disabled  # test: ["NONE"]
    plain = service(full, "plain")
    ph = main(plain).health
    assert ph is not None and ph.liveness.value is False and not ph.liveness.explicit
    assert plain.extra["healthcheck_from_image"].value is True
    assert "healthcheck_from_image" not in service(full, "web").extra


def test_healthcheck_timings_only_keep_image_test() -> None:
    w, c, _ = one("services:\n  a:\n    image: x\n    healthcheck:\n      interval: 5s\n")
    assert c.health is not None and c.health.liveness.value is False and not c.health.disabled
    assert w.extra["healthcheck_from_image"].value is True


def test_lifecycle_and_misc(full: ScanSet) -> None:
    web = service(full, "web")
    c = main(web)
    assert c.stop_grace is not None and c.stop_grace.value == 90 and c.stop_grace.loc.line == 92
    assert web.termination_grace == c.stop_grace
    assert web.restart_policy is not None and web.restart_policy.value == "unless-stopped"
    assert c.logging_driver is not None and c.logging_driver.value == "syslog"
    assert web.extra["logging_options"].value == {"tag": "web"}
    assert c.command == ("npm", "start")
    assert c.pull_policy is not None and c.pull_policy.value == "always"
    assert web.extra["stop_signal"].value == "SIGINT" and web.extra["init"].value is True
    assert web.extra["project"].value == "shop" and web.extra["compose_version"].value == "3.8"


@pytest.mark.parametrize("text, seconds", [("10s", 10), ("1m30s", 90), ("500ms", 1), ("1h", 3600), (45, 45),
                                           ("2m", 120), ("1.5s", 2)])
def test_duration(text: object, seconds: int) -> None:
    assert duration_seconds(text) == seconds


def test_restart_from_deploy_policy() -> None:
    w, _, _ = one("services:\n  a:\n    image: x\n    deploy:\n      restart_policy:\n        condition: any\n")
    assert w.restart_policy is not None and w.restart_policy.value == "always" and w.restart_policy.loc.line == 6


def test_legacy_log_driver() -> None:
    _, c, _ = one("version: '2'\nservices:\n  a:\n    image: x\n    log_driver: syslog\n")
    assert c.logging_driver is not None and c.logging_driver.value == "syslog" and c.logging_driver.loc.line == 5


def test_string_command_is_split() -> None:
    _, c, _ = one("services:\n  a:\n    image: x\n    command: sh -c 'echo hi && sleep 1'\n")
    assert c.command == ("sh", "-c", "echo hi && sleep 1")


# --- interpolation -------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected, unresolved", [
    ("plain", "plain", False),
    ("${A:-def}", "def", False),
    ("${A-def}", "def", False),
    ("${A:-}", "", False),
    ("${A}", "${A}", True),
    ("$A and $B", "$A and $B", True),
    ("${A:?need A}", "${A:?need A}", True),
    ("${A?need A}", "${A?need A}", True),
    ("${A:+alt}", "${A:+alt}", True),
    ("$$A costs $$5", "$A costs $5", False),
    ("${A:-${B:-deep}}", "deep", False),
    ("${A:-${B}}", "${B}", True),
    ("x-${A:-1}-${B-2}-y", "x-1-2-y", False),
    ("${unclosed", "${unclosed", True),
    ("$", "$", False),
])
def test_interpolate(text: str, expected: str, unresolved: bool) -> None:
    assert interpolate_ex(text) == (expected, unresolved)


def test_interpolation_in_services() -> None:
    scan = load_fixture("interpolation.yaml")
    assert not scan.errors
    app = service(scan, "app")
    c = main(app)
    assert c.image.value is not None and c.image.value.raw == "docker.io/library/app:1.0"
    assert "image_unresolved" not in app.extra
    assert c.run_as_user is not None and c.run_as_user.value == 1001
    assert c.privileged is not None and c.privileged.value is True and c.privileged.loc.line == 5
    assert ports_of(c) == [(80, 8080, None, "TCP"), (9000, 0, None, "TCP"),
                           (443, 9443, "${BIND:?bind address required}", "TCP")]
    assert [(m.kind, m.source) for m in c.mounts] == [("host", "./data"), ("host", "${SOCK}")]
    env = {e.name: e.value for e in c.env}
    assert env == {"PRICE": "$5", "HOME_DIR": "${HOME}", "NESTED": "deep", "ERR": "${X:?must be set}",
                   "ALT": "${Y:+alt}"}
    assert service(scan, "unresolved").extra["image_unresolved"].value is True


def test_interpolation_bounded_depth() -> None:
    text = "${A:-" * 50 + "x" + "}" * 50
    out = interpolate(text)
    assert len(out) <= len(text)


# --- anchors, merge keys and extends -------------------------------------------------------------


def test_anchor_and_merge_lines() -> None:
    scan = load_fixture("anchors.yaml")
    assert not scan.errors
    merged = service(scan, "merged")
    c = main(merged)
    assert c.image.value is not None and c.image.value.raw == "busybox:1.36"
    # values merged with `<<` are located at the service that merges them
    assert c.privileged is not None and c.privileged.value is True and c.privileged.loc.line == merged.loc.line == 15
    assert c.logging_driver is not None and c.logging_driver.value == "gelf"
    assert c.user is not None and c.user.value == "1000" and c.user.loc.line == 17
    aliased = service(scan, "aliased")
    ac = main(aliased)
    assert aliased.loc.line == 18
    # an aliased service's values are located where the anchor wrote them
    assert ac.image.loc.line == 12 and [v.loc.line for v in ac.cap_add] == [14]
    assert ac.privileged is not None and ac.privileged.loc.line == 18 and not ac.privileged.explicit


def test_extends_same_file() -> None:
    scan = load_fixture("anchors.yaml")
    child = main(service(scan, "child"))
    assert child.image.value is not None and child.image.value.raw == "alpine:3.20" and child.image.loc.line == 12
    assert [v.value for v in child.cap_add] == ["SYS_ADMIN", "NET_RAW"]
    grand = main(service(scan, "grandchild"))
    assert {e.name: e.value for e in grand.env} == {"A": "1", "B": "2"}
    assert grand.run_as_user is not None and grand.run_as_user.value == 0
    remote = service(scan, "remote")
    assert remote.extra["extends"].value == {"file": "other.yaml", "service": "x"}


def test_extends_loop_and_unknown() -> None:
    scan = load_text_compose("c.yml", "services:\n  a:\n    extends: b\n    image: x\n  b:\n    extends: a\n"
                                      "  c:\n    extends: nothere\n    image: y\n")
    assert len(scan.workloads) == 3
    messages = [e.message for e in scan.errors]
    assert any("loops back" in m for m in messages)
    assert any("unknown service 'nothere'" in m for m in messages)


# --- errors --------------------------------------------------------------------------------------


def test_errors_are_reported_and_the_rest_is_read() -> None:
    scan = load_fixture("errors.yaml")
    assert [w.ident.name for w in scan.workloads] == ["broken", "fine"]
    by_line = {e.line: e.message for e in scan.errors}
    assert "not a mapping" in by_line[2] and "not a mapping" in by_line[3]
    assert "invalid container port" in by_line[7]
    assert "invalid host port" in by_line[8]
    assert "ranges differ" in by_line[10]
    assert "empty section" in by_line[12]
    assert "too many colons" in by_line[13]
    assert "needs a `source`" in by_line[15]
    assert "unknown mount type" in by_line[17]
    assert "boolean" in by_line[20]
    assert "duration" in by_line[21]
    assert "must be a list" in by_line[22]
    assert "must be a mapping" in by_line[23]
    assert all(e.file.endswith("errors.yaml") for e in scan.errors)
    broken = main(service(scan, "broken"))
    assert ports_of(broken) == [(80, 8080, None, "TCP")]
    assert [m.source for m in broken.mounts] == ["/ok"]
    assert broken.privileged is not None and broken.privileged.value is False and not broken.privileged.explicit


@pytest.mark.parametrize("text", [
    "services:\n  a: [1, 2]\n",
    "services:\n  a:\n    image: [x]\n",
    "services:\n  a:\n    image: x\n    environment: 5\n",
    "services:\n  a:\n    image: x\n    volumes: [42]\n",
    "services:\n  a:\n    image: x\n    ports: [{published: 80}]\n",
    "services:\n  a:\n    image: x\n    healthcheck: yes\n",
    "services:\n  a:\n    image: x\n    secrets: [{target: x}]\n",
    "services:\n  a:\n    image: x\n    labels: [[1]]\n",
    "services:\n  a:\n    image: x\nvolumes: [a]\n",
    "services:\n  a:\n    image: x\n    extends: {}\n",
])
def test_hostile_values_give_input_errors(text: str) -> None:
    scan = load_text_compose("bad.yml", text)
    assert scan.errors and all(e.line > 0 for e in scan.errors)


def test_deep_nesting_does_not_crash() -> None:
    text = "services:\n  a:\n    image: x\n    labels:\n      x: " + "[" * 200 + "]" * 200 + "\n"
    scan = load_text_compose("deep.yml", text)
    assert len(scan.workloads) == 1


# --- suppressions ---------------------------------------------------------------------------------


def test_label_suppressions() -> None:
    scan = load_fixture("suppress.yaml")
    sups = [s for s in scan.suppressions if s.via == "annotation"]
    assert [(s.rule_ids, s.reason, s.expires) for s in sups] == [
        (("MAM-PRIV-001",), "needs device access", None),
        (("MAM-CAP-001", "MAM-CAP-002"), "reviewed", date(2027, 1, 31)),
    ]
    for s in sups:
        assert (s.first_line, s.last_line, s.resource, s.line) == (3, 14, "ComposeService/web", 6)
    assert [(e.line, "no `=reason`" in e.message) for e in scan.errors] == [(19, True)]


def test_inline_suppressions() -> None:
    path = FIXTURES / "suppress.yaml"
    text = path.read_text()
    docs, _ = load_docs("s.yaml", text)
    errors: list = []  # type: ignore[type-arg]
    sups = inline_suppressions(text.splitlines(), docs[0], "s.yaml", errors)
    got = [(s.rule_ids, s.first_line, s.last_line, s.line, s.via, s.expires) for s in sups]
    assert got == [
        (("MAM-LOG-001",), 2, 23, 1, "inline", None),  # top of the document: all of it
        (("MAM-NET-001",), 8, 8, 7, "inline", None),  # the key below
        (("MAM-PRIV-002",), 9, 9, 9, "inline", None),  # trailing comment: its own line
        (("MAM-VOL-001", "MAM-VOL-002"), 13, 13, 11, "inline", date(2027, 6, 30)),  # list item after a blank line
        (("*",), 16, 19, 15, "inline", None),  # a whole service
    ]
    assert sups[1].reason == "host networking is required for DHCP"
    assert [e.line for e in errors] == [22]


def test_suppressions_through_the_dispatcher() -> None:
    """load_text adds label and inline suppressions of a Compose file."""
    path = FIXTURES / "suppress.yaml"
    scan = load_text("docker-compose.yml", path.read_text())
    vias = sorted({s.via for s in scan.suppressions})
    assert vias == ["annotation", "inline"]


# --- corpus -----------------------------------------------------------------------------------------


CORPUS_FILES = sorted(CORPUS.glob("*.yaml")) + sorted(CORPUS.glob("*.yml"))


@pytest.mark.skipif(not CORPUS_FILES and os.environ.get("CI") != "true", reason="shared corpus not present (CI fails)")
def test_corpus_reads_without_errors() -> None:
    total = 0
    for path in CORPUS_FILES:
        scan = load_text(str(path), path.read_text())
        assert not scan.errors, (path.name, scan.errors)
        compose = [w for w in scan.workloads if w.ident.source is SourceKind.COMPOSE]
        assert compose, path.name
        for w in compose:
            total += 1
            c = main(w)
            assert w.ident.line > 0 and c.loc.line == w.ident.line
            assert c.image.value is not None or "build" in w.extra, (path.name, w.ident.name)
            for m in c.mounts:
                assert m.target and m.loc.line > w.ident.line
                assert m.kind in ("host", "volume", "tmpfs", "secret", "config")
            for p in c.ports:
                assert p.container_port is not None and 0 < p.container_port <= 65535
                assert p.host_port is None or 0 <= p.host_port <= 65535
    assert total >= 60


def corpus_service(file: str, name: str) -> Workload:
    path = CORPUS / file
    scan = load_text(str(path), path.read_text())
    return service(scan, name)


@pytest.mark.skipif(not CORPUS_FILES and os.environ.get("CI") != "true", reason="shared corpus not present (CI fails)")
def test_corpus_values() -> None:
    portainer = main(corpus_service("portainer.yaml", "portainer"))
    sock = [m for m in portainer.mounts if m.source == "/var/run/docker.sock"]
    assert len(sock) == 1 and sock[0].kind == "host" and sock[0].loc.line == 9
    assert [m.shared_name for m in portainer.mounts if m.kind == "volume"] == ["portainer_data"]
    assert [(p.container_port, p.host_port) for p in portainer.ports] == [(9000, 9000)]
    plex = corpus_service("plex.yaml", "plex")
    assert plex.host_network is not None and plex.host_network.value is True
    wg = corpus_service("wireguard.yaml", "wireguard")
    wc = main(wg)
    assert [v.value for v in wc.cap_add] == ["NET_ADMIN", "SYS_MODULE"]
    assert [(s.value.name, s.value.value) for s in wg.sysctls] == [("net.ipv4.conf.all.src_valid_mark", "1")]
    assert ports_of(wc) == [(51820, 51820, None, "UDP")]
    assert {m.source for m in wc.mounts} == {"/usr/share/appdata/wireguard/config", "/usr/src", "/lib/modules"}
    es = main(corpus_service("elasticsearch-logstash-kibana.yaml", "elasticsearch"))
    assert es.health is not None and es.health.liveness.value is True
    assert {e.name: e.value for e in es.env}["discovery.type"] == "single-node"
    pihole = main(corpus_service("pihole-cloudflared-DoH.yaml", "pihole"))
    assert {e.name: e.value for e in pihole.env}["WEBPASSWORD"] == "${PIHOLE_PW}"
    assert (53, 53, None, "UDP") in ports_of(pihole)

