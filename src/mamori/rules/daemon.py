"""CIS Docker Benchmark daemon and host checks, over the DockerHost model.

These settings apply to every container the daemon runs, so one weak default undoes the
hardening of each Compose file and ``docker run``: CSA-3.1.8.5 asks for a hardened
container engine, CSA-3.1.2.2 for encrypted channels to it, CSA-3.1.8.7 for authorised
access only, CSA-3.1.3.2 for central logs. A field the scan could not learn is ``None``
and its rule stays silent (a remote daemon's files, say).
"""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Severity
from mamori.model.host import DockerHost
from mamori.rules.registry import Context, Hit, Scope, hit, rule

HOST = "CSA-3.1.8.5"
ACCESS = "CSA-3.1.8.7"
CHANNEL = "CSA-3.1.2.2"
PRIV = "CSA-3.1.2.3"
LOGS = "CSA-3.1.3.2"
# Log drivers that keep logs only on the host (or nowhere); journald counts as central
# because the host journal is where log shippers collect from.
LOCAL_LOG_DRIVERS = frozenset({"json-file", "local", "none", ""})


@rule(id="MAM-DAEMON-001", title="Daemon listens on TCP without TLS client verification", severity=Severity.CRITICAL,
      controls=[CHANNEL, ACCESS, HOST], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="Listen on the unix socket only, or set `tlsverify: true` with `tlscacert`, `tlscert` and "
                  "`tlskey` in daemon.json so only clients with a certificate from your CA connect.",
      refs=["cis-docker:2.7"])
def plain_tcp(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """Anyone who reaches a plain TCP socket controls the daemon, and through it the host, as root."""
    if h.plain_tcp is not None and h.plain_tcp.value:
        yield hit(h.plain_tcp, f"the Docker daemon accepts unauthenticated TCP clients on "
                               f"{', '.join(h.plain_tcp.value[:5])}")


@rule(id="MAM-DAEMON-002", title="Insecure registries configured", severity=Severity.HIGH,
      controls=[CHANNEL, HOST], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="Remove `insecure-registries` (`--insecure-registry`); give the registry a TLS certificate "
                  "and trust its CA in /etc/docker/certs.d/<registry>/ca.crt.",
      refs=["cis-docker:2.5"])
def insecure_registries(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """Images pulled over plain HTTP or unverified TLS can be replaced in transit."""
    if h.insecure_registries is not None and h.insecure_registries.value:
        yield hit(h.insecure_registries, f"images are pulled without TLS verification from "
                                         f"{', '.join(h.insecure_registries.value[:5])}")


@rule(id="MAM-DAEMON-003", title="Inter-container communication allowed on the default bridge",
      severity=Severity.MEDIUM, controls=[HOST, "CSA-3.1.5.4"], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="Set `\"icc\": false` in daemon.json and connect containers that must talk over user-defined "
                  "networks.",
      refs=["cis-docker:2.2"])
def icc(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """With icc every container on docker0 reaches every other one's ports: no segmentation by default."""
    if h.icc is not None and h.icc.value:
        yield hit(h.icc, "containers on the default bridge can reach each other (icc is on)")


@rule(id="MAM-DAEMON-004", title="User-namespace remapping is off", severity=Severity.MEDIUM,
      controls=[PRIV, HOST], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="Set `\"userns-remap\": \"default\"` in daemon.json (check volumes' ownership first).",
      refs=["cis-docker:2.9"])
def userns_remap(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """Without remapping, root in a container is UID 0 on the host: one escape and the host is owned."""
    if h.userns_remap is not None and not h.userns_remap.value:
        yield hit(h.userns_remap, "the daemon does not remap container users: container root is host root")


@rule(id="MAM-DAEMON-005", title="Live restore is off", severity=Severity.LOW,
      controls=[HOST], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="Set `\"live-restore\": true` in daemon.json so a daemon restart or upgrade keeps containers up.",
      refs=["cis-docker:2.15"])
def live_restore(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """Without live restore every daemon upgrade stops all containers, so patches get postponed."""
    if h.live_restore is not None and not h.live_restore.value:
        yield hit(h.live_restore, "containers stop whenever the Docker daemon restarts (live-restore is off)")


@rule(id="MAM-DAEMON-006", title="no-new-privileges is not the daemon default", severity=Severity.MEDIUM,
      controls=[PRIV, HOST], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="Set `\"no-new-privileges\": true` in daemon.json; containers that need setuid binaries can "
                  "opt out explicitly.",
      refs=["cis-docker:2.14"])
def no_new_privileges(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """Without the default, every container that forgets the option can gain privileges via setuid binaries."""
    if h.no_new_privileges is not None and not h.no_new_privileges.value:
        yield hit(h.no_new_privileges, "containers may gain new privileges unless each one opts out "
                                       "(no-new-privileges is not the daemon default)")


@rule(id="MAM-DAEMON-007", title="Default seccomp profile disabled", severity=Severity.HIGH,
      controls=[HOST, "CSA-3.1.2.5"], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="Remove `seccomp-profile: unconfined` from daemon.json (or point it at a reviewed profile); "
                  "run a kernel with seccomp.",
      refs=["cis-docker:2.17", "cis-docker:5.22"])
def seccomp_default(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """An unconfined daemon default exposes every syscall of the kernel to every container."""
    if h.seccomp_profile is not None and h.seccomp_profile.value in ("unconfined", "unavailable"):
        what = "runs containers without seccomp by default" if h.seccomp_profile.value == "unconfined" else \
            "has no seccomp support: containers run without syscall filtering"
        yield hit(h.seccomp_profile, f"the Docker daemon {what}")


@rule(id="MAM-DAEMON-008", title="No central log driver", severity=Severity.MEDIUM,
      controls=[LOGS, HOST], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="Set `log-driver` in daemon.json to a driver that ships logs off the host (syslog, journald "
                  "with a forwarder, fluentd, gelf, awslogs, splunk, gcplogs).",
      refs=["cis-docker:2.13"])
def central_logging(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """Logs that stay on the host vanish with the container or the host, and an intruder can edit them."""
    if h.log_driver is not None and h.log_driver.value in LOCAL_LOG_DRIVERS:
        yield hit(h.log_driver, f"containers log to the host only (log driver {h.log_driver.value or 'none'!r})")


@rule(id="MAM-DAEMON-009", title="No authorization plugin", severity=Severity.MEDIUM,
      controls=[ACCESS, HOST], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="Configure an authorization plugin (`\"authorization-plugins\": [\"mamori\"]`, see "
                  "`mamori authz`) so requests are checked against the policy.",
      refs=["cis-docker:2.12"])
def authorization(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """Without one, every client that reaches the socket may do anything: run privileged, mount /."""
    if h.authorization_plugins is not None and not h.authorization_plugins.value:
        yield hit(h.authorization_plugins, "no authorization plugin checks requests to the Docker daemon")


@rule(id="MAM-DAEMON-010", title="Experimental features enabled", severity=Severity.LOW,
      controls=[HOST], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="Remove `\"experimental\": true` from daemon.json on production hosts.",
      refs=["cis-docker:2.18"])
def experimental(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """Experimental code paths get less review and may change or break security behaviour."""
    if h.experimental is not None and h.experimental.value:
        yield hit(h.experimental, "the Docker daemon runs with experimental features")


@rule(id="MAM-DAEMON-011", title="daemon.json is writable by others or not owned by root", severity=Severity.HIGH,
      controls=[HOST, ACCESS], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="`chown root:root /etc/docker/daemon.json && chmod 644 /etc/docker/daemon.json`.",
      refs=["cis-docker:3.17", "cis-docker:3.18"])
def daemon_json_perms(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """Whoever can write daemon.json chooses the daemon's settings at its next start: root on the host."""
    for f in h.files:
        if f.role != "daemon.json":
            continue
        wrong = []
        if f.uid != 0 or f.gid != 0:
            wrong.append(f"owned by {f.owner or f.uid}:{f.group or f.gid}, not root:root")
        if f.mode & ~0o644:
            wrong.append(f"mode {f.mode:04o} is wider than 0644")
        if wrong:
            yield hit(f.loc, f"{f.path} is {' and '.join(wrong)}")


@rule(id="MAM-DAEMON-012", title="Docker socket open beyond root and the docker group", severity=Severity.HIGH,
      controls=[ACCESS, HOST], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="`chown root:docker <socket> && chmod 660 <socket>` (set `group` in daemon.json; fix the unit "
                  "or script that changes it).",
      refs=["cis-docker:3.15", "cis-docker:3.16"])
def socket_perms(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """Access to the socket is root on the host; only root and the docker group may have it."""
    for f in h.files:
        if f.role != "socket":
            continue
        wrong = []
        if f.uid != 0:
            wrong.append(f"owned by {f.owner or f.uid}, not root")
        if f.mode & ~0o660:
            wrong.append(f"mode {f.mode:04o} is wider than 0660")
        if wrong:
            yield hit(f.loc, f"the Docker socket {f.path} is {' and '.join(wrong)}")


@rule(id="MAM-DAEMON-013", title="Users in the docker group", severity=Severity.LOW,
      controls=[ACCESS], scope=Scope.RESOURCE, types=[DockerHost],
      remediation="Remove users who do not administer the host from the docker group (`gpasswd -d USER docker`); "
                  "waive the rule for the admins you keep, or use rootless Docker.",
      refs=["cis-docker:1.1.2"])
def docker_group(ctx: Context, h: DockerHost) -> Iterator[Hit]:
    """Membership of the docker group is root on the host without sudo, logging or a password."""
    if h.docker_group is not None and h.docker_group.value:
        names = ", ".join(h.docker_group.value[:20])
        more = f" and {len(h.docker_group.value) - 20} more" if len(h.docker_group.value) > 20 else ""
        yield hit(h.docker_group, f"{len(h.docker_group.value)} user(s) control the Docker daemon through the "
                                  f"docker group (effectively root): {names}{more}")
