"""Docker Compose files -> one Workload per service.

Covers the Compose Specification and the legacy v2/v3 file formats (``version:`` is only
recorded). Variables are interpolated without reading the environment (see
:mod:`mamori.sources.compose_interp`); ``extends`` within the same file is resolved.
A setting the file does not make gets Docker's own default, located at the service key
and marked ``explicit=False``; only what Compose cannot express at all is ``None``.

Conventions rules rely on:

* ``Port.host_port`` is ``0`` when a port is published on a host port the file does not
  fix (``ports: ["80"]``, an unresolved variable) and ``None`` when it is not published
  (``expose``); ``host_ip`` ``None`` means Docker's default, all interfaces.
* A named volume whose top-level declaration binds a host directory (``driver_opts:
  {o: bind, device: /x}``) is a ``host`` Mount with that directory as source.
* ``Resources.cpu_request`` comes from ``deploy.resources.reservations.cpus`` or, failing
  that, ``cpu_shares`` converted to cores (shares / 1024, as Kubernetes maps requests).
* Secrets and configs are Mounts of kind ``secret``/``config`` (``/run/secrets/<name>``,
  configs at ``/<name>``) and Volumes without a host path, even when file-based.
* ``host_users`` is True (implicit) unless the file says otherwise: Docker shares the host
  user namespace unless the daemon remaps users. ``user: root`` sets ``run_as_user`` 0.
* Values merged in with ``<<: *anchor`` are located at the service key (the loader keeps
  no lines for them); values of an aliased service are located where the anchor wrote them.

``Workload.extra`` keys (each a Val, present only when set unless said otherwise):
``project``, ``compose_version``, ``build`` (context), ``build_dockerfile``, ``build_args``
(dict), ``env_file`` (tuple of paths, not read), ``healthcheck_from_image`` (no healthcheck
test in the file but an image whose HEALTHCHECK may apply), ``image_unresolved`` (the image
holds a variable), ``pid_mode``/``ipc_mode``/``uts_mode``/``userns_mode``/``cgroup`` (any
value, ``service:x`` and ``container:x`` included), ``networks_default`` (no ``networks``
and no ``network_mode``: the project's default network), ``network_config`` (dict name ->
driver/internal/external/declared), ``volumes_declared`` (top-level volume names, always),
``undeclared_volumes``, ``secret_sources`` (dict ``secret:<name>``/``config:<name>`` -> its
top-level ``file``/``environment``/``external``/``name``/``content``), ``security_opt_other``
(tuple), ``logging_options``, ``memswap_limit``,
``deploy_mode``, ``extends`` and the service keys listed in ``PASSTHROUGH`` under their own
name (``init``, ``stop_signal``, ``container_name``, ``oom_kill_disable``, ``group_add``,
``volumes_from``, ``depends_on`` ...).
"""

from __future__ import annotations

import shlex
from typing import Any

from mamori.model import (
    Container,
    EnvVar,
    Health,
    ImageRef,
    InputError,
    Resources,
    Role,
    ScanSet,
    Suppression,
    Sysctl,
    Val,
    Workload,
)
from mamori.sources.compose_interp import interpolate_ex, interpolate_tree
from mamori.sources.compose_net import networks, ports
from mamori.sources.compose_security import caps, namespaces, security
from mamori.sources.compose_storage import devices, mounts
from mamori.sources.compose_syntax import duration_seconds, parse_user, to_bool, to_int, to_text
from mamori.sources.compose_view import MAX_ITEMS, Project, ServiceView
from mamori.sources.imageref import parse_image_ref
from mamori.sources.inline import node_span
from mamori.sources.suppress import parse_annotation
from mamori.sources.yamldoc import Doc, escape

IGNORE_LABEL = "mamori.io/ignore"
MAX_SERVICES = 5000
PASSTHROUGH = (
    "init", "stop_signal", "container_name", "hostname", "domainname", "oom_kill_disable", "oom_score_adj",
    "cgroup_parent", "mem_swappiness", "shm_size", "ulimits", "group_add", "volumes_from", "links",
    "external_links", "depends_on", "profiles", "runtime", "platform", "entrypoint", "tty", "stdin_open",
    "dns", "dns_search", "extra_hosts", "device_cgroup_rules", "gpus", "cpuset", "storage_opt", "isolation",
    "working_dir", "mac_address", "post_start", "pre_stop", "scale",
)
DATABASE_IMAGES = frozenset({
    "postgres", "postgresql", "postgis", "mysql", "mariadb", "percona", "percona-server", "mongo", "mongodb",
    "redis", "redis-stack", "valkey", "keydb", "elasticsearch", "opensearch", "cassandra", "scylla", "couchdb",
    "couchbase", "influxdb", "neo4j", "cockroach", "clickhouse-server", "clickhouse", "rethinkdb", "arangodb",
    "timescaledb", "timescaledb-ha", "zookeeper", "kafka", "rabbitmq", "etcd", "minio", "questdb", "surrealdb",
    "dgraph", "oracle", "db2", "memgraph", "yugabyte", "tidb", "vitess", "firebird",
})
_RESTART_CONDITIONS = {"none": "no", "on-failure": "on-failure", "any": "always"}


def is_compose(data: object) -> bool:
    """A Compose file: a mapping with a ``services`` mapping and no Kubernetes ``kind``."""
    return (isinstance(data, dict) and isinstance(data.get("services"), dict)
            and "kind" not in data and "apiVersion" not in data)


def load(doc: Doc) -> ScanSet:
    """Every service of a Compose document as a Workload; bad entries become InputErrors."""
    out = ScanSet(files=[doc.file])
    if not is_compose(doc.data):
        out.errors.append(InputError(doc.file, doc.line, "not a Compose file: no `services` mapping"))
        return out
    try:
        project = Project(doc, interpolate_tree(doc.data), out)
    except RecursionError:
        out.errors.append(InputError(doc.file, doc.line, "Compose file nested too deeply"))
        return out
    for count, (key, value) in enumerate(project.services.items()):
        name = str(key)
        ptr = f"/services/{escape(name)}"
        if count >= MAX_SERVICES:
            project.error("/services", f"more than {MAX_SERVICES} services; the rest are not read")
            break
        if not isinstance(value, dict):
            project.error(ptr, f"service {name!r} is not a mapping")
            continue
        out.workloads.append(_Service(project, name, project.layers(name, value, ptr)).workload())
    return out


class _Service(ServiceView):
    """Builds the Workload of one service."""

    def workload(self) -> Workload:
        for key in ("deploy", "healthcheck", "logging"):
            self.mapping(key)
        image = self.image()
        user = self.text("user")
        uid, gid = parse_user(user.value) if user.value is not None else (None, None)
        run_as_user: Val[int | None] = Val(uid, user.loc) if uid is not None else self.default(None)
        run_as_group: Val[int | None] = Val(gid, user.loc) if gid is not None else self.default(None)
        sec = security(self)
        stop_grace: Val[int | None] = self.typed(duration_seconds, 10, "stop_grace_period")
        mount_list, volumes = mounts(self)
        label_pairs = self.pairs("labels")
        labels = {k: "" if v is None else v for k, v, _ in label_pairs}
        self.suppressions(label_pairs)
        network_mode = self.text("network_mode")
        ns = namespaces(self)
        for key in PASSTHROUGH:
            got = self.get(key)
            if got is not None:
                self.extra[key] = Val(got[0], self.loc(got[1]))
        self.project_extra()
        container = Container(
            name=self.name,
            role=Role.SERVICE,
            loc=self.sloc,
            image=image,
            pull_policy=self.typed(lambda v: to_text(v).lower(), "missing", "pull_policy"),
            user=user,
            run_as_user=run_as_user,
            run_as_group=run_as_group,
            run_as_non_root=None,
            privileged=self.typed(to_bool, False, "privileged"),
            allow_privilege_escalation=sec.no_new_privs,
            cap_add=caps(self, "cap_add"),
            cap_drop=caps(self, "cap_drop"),
            capabilities=self.default(True),
            read_only_root=self.typed(to_bool, False, "read_only"),
            seccomp=sec.seccomp,
            apparmor=sec.apparmor,
            selinux_type=sec.selinux_type,
            selinux_disabled=sec.selinux_disabled,
            proc_mount=sec.proc_mount,
            windows_host_process=None,
            security_context=None,
            mounts=tuple(mount_list),
            devices=tuple(devices(self)),
            resources=self.resources(),
            env=tuple(self.env()),
            ports=tuple(ports(self)),
            health=self.health(image),
            logging_driver=self.logging(),
            command=self.command(),
            stop_grace=stop_grace,
        )
        labels_got = self.get("labels")
        return Workload(
            ident=self.ident,
            loc=self.sloc,
            containers=(container,),
            labels=labels,
            labels_loc=self.loc(labels_got[1]) if labels_got else self.sloc,
            namespace=None,
            replicas=self.replicas(),
            host_network=Val(network_mode.value == "host", network_mode.loc, network_mode.explicit),
            host_pid=ns["pid"],
            host_ipc=ns["ipc"],
            host_uts=ns["uts"],
            host_users=ns["userns_mode"],
            service_account=None,
            automount_token=None,
            volumes=tuple(volumes),
            sysctls=tuple(self.sysctls()),
            termination_grace=stop_grace,
            restart_policy=self.restart(),
            networks=networks(self, network_mode),
            network_mode=network_mode,
            stateful=_is_database(image.value),
            extra=self.extra,
        )

    # --- image and build ----------------------------------------------------------------
    def image(self) -> Val[ImageRef | None]:
        build = self.get("build")
        if build is not None:
            value, ptr = build
            if isinstance(value, dict):
                ctx = value.get("context", ".")
                self.extra["build"] = Val(to_text(ctx) if not isinstance(ctx, dict | list) else ".", self.loc(ptr))
                if value.get("dockerfile") is not None:
                    self.extra["build_dockerfile"] = Val(value["dockerfile"], self.loc(f"{ptr}/dockerfile"))
                if value.get("args") is not None:
                    args = {k: v for k, v, _ in self.pairs_at(value.get("args"), f"{ptr}/args", "build.args")}
                    self.extra["build_args"] = Val(args, self.loc(f"{ptr}/args"))
            elif isinstance(value, str):
                self.extra["build"] = Val(value, self.loc(ptr))
            else:
                self.error(ptr, "`build` must be a path or a mapping")
        got = self.get("image")
        if got is None:
            return self.default(None)
        value, ptr = got
        if not isinstance(value, str) or not value.strip():
            self.error(ptr, "`image` must be a non-empty string")
            return self.default(None)
        raw = _raw_at(self.doc.data, ptr)
        if isinstance(raw, str) and interpolate_ex(raw)[1]:
            self.extra["image_unresolved"] = Val(True, self.loc(ptr))
        return Val(parse_image_ref(value), self.loc(ptr))

    def pairs_at(self, value: Any, ptr: str, what: str) -> list[tuple[str, str | None, str]]:
        if isinstance(value, dict):
            return [(str(k), None if v is None else to_text(v) if not isinstance(v, dict | list) else None,
                     f"{ptr}/{escape(str(k))}") for k, v in value.items()]
        if isinstance(value, list):
            out: list[tuple[str, str | None, str]] = []
            for i, v in enumerate(value[:MAX_ITEMS]):
                if isinstance(v, str):
                    k, eq, rest = v.partition("=")
                    out.append((k.strip(), rest if eq else None, f"{ptr}/{i}"))
            return out
        self.error(ptr, f"`{what}` must be a list or a mapping")
        return []

    # --- suppressions -------------------------------------------------------------------
    def suppressions(self, label_pairs: list[tuple[str, str | None, str]]) -> None:
        span: tuple[int, int] | None = None
        for key, value, ptr in label_pairs:
            if value is None or (key != IGNORE_LABEL and not key.startswith(IGNORE_LABEL + "-")):
                continue
            span = span or node_span(self.doc, self.ptr)
            line = self.doc.line_of(ptr)
            for ids, reason, expires, problem in parse_annotation(value):
                if problem:
                    self.p.out.errors.append(InputError(self.doc.file, line, problem))
                    continue
                self.p.out.suppressions.append(Suppression(
                    ids, reason, self.doc.file, span[0], span[1], "annotation", expires, self.ident.display, line))

    # --- environment ----------------------------------------------------------------------
    def env(self) -> list[EnvVar]:
        out = [EnvVar(name, value, self.loc(ptr), origin="environment")
               for name, value, ptr in self.pairs("environment")]
        files: list[str] = []
        for item, _ptr in self.items("env_file", scalar_ok=True):
            if isinstance(item, str):
                files.append(item)
            elif isinstance(item, dict) and isinstance(item.get("path"), str):
                files.append(item["path"])
        if files:
            got = self.get("env_file")
            self.extra["env_file"] = Val(tuple(files), self.loc(got[1]) if got else self.sloc)
        return out

    def command(self) -> tuple[str, ...]:
        got = self.get("command")
        if got is None:
            return ()
        value, ptr = got
        if isinstance(value, list):
            return tuple(to_text(v) for v in value[:MAX_ITEMS] if not isinstance(v, dict | list) and v is not None)
        if isinstance(value, str):
            try:
                return tuple(shlex.split(value))
            except ValueError:
                return tuple(value.split())
        self.error(ptr, "`command` must be a string or a list")
        return ()

    # --- resources ----------------------------------------------------------------------
    def resources(self) -> Resources:
        def first(*paths: tuple[str, ...]) -> Val[str | None]:
            for path in paths:
                if self.get(*path) is not None:
                    return self.text(*path)
            return self.default(None)

        cpu_limit = first(("deploy", "resources", "limits", "cpus"), ("cpus",))
        if cpu_limit.value is None:
            quota = self.typed(to_int, None, "cpu_quota")
            period = self.typed(to_int, 100000, "cpu_period")
            if quota.value is not None and quota.value > 0 and period.value:
                cpu_limit = Val(f"{quota.value / period.value:g}", quota.loc)
        cpu_request = first(("deploy", "resources", "reservations", "cpus"))
        if cpu_request.value is None:
            shares = self.typed(to_int, None, "cpu_shares")
            if shares.value is not None and shares.value > 0:
                cpu_request = Val(f"{shares.value / 1024:g}", shares.loc)
        pids: Val[int | None] = self.default(None)
        for path in (("deploy", "resources", "limits", "pids"), ("pids_limit",)):
            if self.get(*path) is not None:
                pids = self.typed(to_int, None, *path)
                if pids.value is not None and pids.value <= 0:  # 0 and -1 mean unlimited to the engine
                    pids = Val(None, pids.loc)
                break
        swap = self.get("memswap_limit")
        if swap is not None:
            self.extra["memswap_limit"] = Val(swap[0], self.loc(swap[1]))
        return Resources(
            cpu_request=cpu_request,
            cpu_limit=cpu_limit,
            memory_request=first(("deploy", "resources", "reservations", "memory"), ("mem_reservation",)),
            memory_limit=first(("deploy", "resources", "limits", "memory"), ("mem_limit",)),
            pids_limit=pids,
        )

    # --- lifecycle ----------------------------------------------------------------------
    def health(self, image: Val[ImageRef | None]) -> Health:
        pre_stop = self.get("pre_stop")
        pre = Val(True, self.loc(pre_stop[1])) if pre_stop is not None else self.default(False)
        got = self.mapping("healthcheck")
        if got is None:
            if image.value is not None or "build" in self.extra:
                self.extra["healthcheck_from_image"] = self.default(True)
            return Health(liveness=self.default(False), pre_stop=pre)
        hc, ptr = got
        loc = self.loc(ptr)
        disabled = False
        if hc.get("disable") is not None:
            try:
                disabled = to_bool(hc["disable"])
            except ValueError as exc:
                self.error(f"{ptr}/disable", f"`healthcheck.disable`: {exc}")
        test = hc.get("test")
        if isinstance(test, list) and test and str(test[0]).upper() == "NONE":
            disabled = True
        if disabled:
            return Health(liveness=Val(False, loc), pre_stop=pre, disabled=True)
        if test is None or test == [] or test == "":
            # Only timings are overridden: the image's HEALTHCHECK test still applies.
            self.extra["healthcheck_from_image"] = Val(True, loc, explicit=False)
            return Health(liveness=Val(False, loc, explicit=False), pre_stop=pre)
        if not isinstance(test, str | list):
            self.error(f"{ptr}/test", "`healthcheck.test` must be a string or a list")
            return Health(liveness=Val(False, loc, explicit=False), pre_stop=pre)
        return Health(liveness=Val(True, self.loc(f"{ptr}/test")), pre_stop=pre)

    def logging(self) -> Val[str | None]:
        opts = self.get("logging", "options") or self.get("log_opt")
        if opts is not None:
            self.extra["logging_options"] = Val(opts[0], self.loc(opts[1]))
        if self.get("logging", "driver") is not None:
            return self.text("logging", "driver")
        return self.text("log_driver")

    def replicas(self) -> Val[int | None]:
        mode = self.text("deploy", "mode")
        if mode.value is not None:
            self.extra["deploy_mode"] = Val(mode.value, mode.loc)
        for path in (("deploy", "replicas"), ("scale",)):
            if self.get(*path) is not None:
                return self.typed(to_int, 1, *path)
        return self.default(1)

    def restart(self) -> Val[str | None]:
        if self.get("restart") is not None:
            return self.text("restart")
        cond = self.text("deploy", "restart_policy", "condition")
        if cond.value is not None:
            return Val(_RESTART_CONDITIONS.get(cond.value, cond.value), cond.loc)
        return self.default("no")

    def sysctls(self) -> list[Val[Sysctl]]:
        return [Val(Sysctl(k, v or ""), self.loc(p)) for k, v, p in self.pairs("sysctls")]

    def project_extra(self) -> None:
        for key, extra_key in (("name", "project"), ("version", "compose_version")):
            if self.p.data.get(key) is not None:
                self.extra[extra_key] = Val(self.p.data[key], self.doc.loc(f"/{key}"))
        ext = self.layers[0].data.get("extends")
        if ext is not None:
            self.extra["extends"] = Val(ext, self.loc(f"{self.ptr}/extends"))


def _raw_at(data: Any, pointer: str) -> Any:
    cur = data
    for part in pointer.strip("/").split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        cur = cur.get(key) if isinstance(cur, dict) else None
    return cur


def _is_database(image: ImageRef | None) -> bool:
    if image is None:
        return False
    last = image.repository.rsplit("/", 1)[-1].lower()
    if last in DATABASE_IMAGES:
        return True
    return "mssql" in image.repository.lower()
