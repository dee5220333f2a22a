"""Docker Engine API container configuration -> one Workload, with the choices of the Compose source.

Two shapes are read, and the caller says which (guessing would let a create body that adds
a ``Config`` key be read as the other shape):

* :func:`load_create` - the body of ``POST /containers/create``: the container Config fields
  at the top level, ``HostConfig`` and ``NetworkingConfig`` beside them (the AuthZ plugin).
* :func:`load_inspect` - ``docker inspect`` / ``GET /containers/{id}/json``: ``Id``, ``Name``,
  ``Config``, ``HostConfig`` and the effective ``Mounts`` (the live-host audit).

Objects are read with Go's rules (:mod:`mamori.sources.gojson`): field names match case-
insensitively and a field set twice is refused. HostConfig fields at the top level of a
create body are refused too: older daemons apply them when ``HostConfig`` is absent, so a
check that only reads ``HostConfig`` would miss ``{"Image": "x", "Privileged": true}``.

Mapping, mirroring :mod:`mamori.sources.compose` so that a Compose service and the equivalent
``docker run`` produce the same findings: a setting the request leaves out gets Docker's
default with ``explicit=False``, located at the field that would set it (the Loc ``path`` is
the JSON pointer, e.g. ``/HostConfig/ReadonlyRootfs``; ``line`` is 0). Bind sources starting
with ``/`` are host mounts (normalised), other sources named volumes; a ``volume`` mount whose
``local`` driver options bind a host directory is a host mount of that directory. Published
ports with an empty ``HostPort`` have ``host_port`` 0. ``PidsLimit`` 0 or -1 means no limit
(None). ``MaskedPaths: []`` (what ``--security-opt systempaths=unconfined`` sends) or a list
without the core masked paths is ``proc_mount`` ``Unmasked``. Labels are kept but a
``mamori.io/ignore`` label is not a suppression here: at runtime the requester writes the
labels, so waivers belong in the policy. ``extra`` uses the Compose keys (``pid_mode``,
``ipc_mode``, ``uts_mode``, ``userns_mode``, ``cgroup``, ``init``, ``group_add``, ...).
"""

from __future__ import annotations

import posixpath
from typing import Any

from mamori.model import (
    Container,
    EnvVar,
    Health,
    Identity,
    ImageRef,
    InputError,
    Loc,
    Mount,
    Port,
    Resources,
    Role,
    ScanSet,
    SourceKind,
    Sysctl,
    Val,
    Workload,
)
from mamori.sources.compose import DATABASE_IMAGES
from mamori.sources.compose_syntax import parse_host_ip, parse_user
from mamori.sources.docker_security import security
from mamori.sources.gojson import JsonError, Obj, as_obj, entries, field, fields_present, fold, plain
from mamori.sources.imageref import parse_image_ref

KIND = "Container"
MAX_ITEMS = 5000
MAX_TEXT = 64 * 1024  # one string value kept in the model
HOST_CONFIG_FIELDS = frozenset(fold(n) for n in (
    "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "AutoRemove",
    "VolumeDriver", "VolumesFrom", "ConsoleSize", "Annotations", "CapAdd", "CapDrop", "CgroupnsMode", "Dns",
    "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links", "OomScoreAdj", "PidMode",
    "Privileged", "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt", "StorageOpt", "Tmpfs", "UTSMode",
    "UsernsMode", "ShmSize", "Sysctls", "Runtime", "Isolation", "CpuShares", "Memory", "NanoCpus", "CgroupParent",
    "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus",
    "CpusetMems", "Devices", "DeviceCgroupRules", "DeviceRequests", "KernelMemory", "KernelMemoryTCP",
    "MemoryReservation", "MemorySwap", "MemorySwappiness", "OomKillDisable", "PidsLimit", "Ulimits", "CpuCount",
    "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "Mounts", "MaskedPaths", "ReadonlyPaths", "Init",
    "Cpuset",
))
# Paths Docker masks by default; a MaskedPaths list without them exposes kernel interfaces.
CORE_MASKED = ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware")
PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
# Docker field -> the Compose key the Compose source stores it under in Workload.extra.
PASSTHROUGH_CONFIG = {
    "Hostname": "hostname", "Domainname": "domainname", "WorkingDir": "working_dir", "MacAddress": "mac_address",
    "Entrypoint": "entrypoint", "Tty": "tty", "OpenStdin": "stdin_open", "StopSignal": "stop_signal",
}
PASSTHROUGH_HOST = {
    "Init": "init", "OomKillDisable": "oom_kill_disable", "OomScoreAdj": "oom_score_adj",
    "CgroupParent": "cgroup_parent", "ShmSize": "shm_size", "Ulimits": "ulimits", "GroupAdd": "group_add",
    "VolumesFrom": "volumes_from", "Links": "links", "Runtime": "runtime", "Dns": "dns", "DnsSearch": "dns_search",
    "ExtraHosts": "extra_hosts", "DeviceCgroupRules": "device_cgroup_rules", "DeviceRequests": "gpus",
    "CpusetCpus": "cpuset", "StorageOpt": "storage_opt", "Isolation": "isolation", "MemorySwappiness":
    "mem_swappiness", "MemorySwap": "memswap_limit", "AutoRemove": "auto_remove", "VolumeDriver": "volume_driver",
}


def load_create(body: Any, *, name: str | None = None, file: str = "docker-api") -> ScanSet:
    """The Workload of a ``POST /containers/create`` body (``name`` from the ``?name=`` query).

    Raises :class:`~mamori.sources.gojson.JsonError` when the daemon could read the body
    differently from this reader (a field set twice, HostConfig fields at the top level);
    other problems become InputErrors of the returned ScanSet.
    """
    out = ScanSet(files=[file])
    obj = as_obj(body)
    if obj is None:
        out.errors.append(InputError(file, 0, "a container create body must be a JSON object"))
        return out
    stray = fields_present(obj, HOST_CONFIG_FIELDS)
    if stray:
        raise JsonError(f"HostConfig field(s) {', '.join(repr(k) for k in stray[:5])} at the top level of the body: "
                        "some daemons apply them, so they are refused; put them under HostConfig")
    r = Reader(out, file)
    host = r.obj(obj, "HostConfig", "")
    out.workloads.append(r.workload(obj, "", host, "/HostConfig", name or "(unnamed)", None))
    return out


def load_inspect(data: Any, *, file: str | None = None) -> ScanSet:
    """The Workload of one ``docker inspect`` container object (its effective ``Mounts`` included)."""
    obj = as_obj(data)
    name = "(unnamed)"
    if obj is not None:
        got = field(obj, "Name")
        if got is not None and isinstance(got[1], str) and got[1].strip("/"):
            name = got[1].strip("/")[:256]
    where = file or f"docker:{name}"
    out = ScanSet(files=[where])
    if obj is None:
        out.errors.append(InputError(where, 0, "a container inspect object must be a JSON object"))
        return out
    r = Reader(out, where)
    config = r.obj(obj, "Config", "")
    host = r.obj(obj, "HostConfig", "")
    effective = r.get(obj, "Mounts", "")
    out.workloads.append(r.workload(config or Obj([]), "/Config", host, "/HostConfig", name, effective))
    return out


def load(data: Any, *, name: str | None = None, file: str = "docker-api") -> ScanSet:
    """Either shape, told apart by a ``Config`` object; for reports only, never for enforcement."""
    obj = as_obj(data)
    if obj is not None and isinstance(as_obj((field(obj, "Config") or ("", None))[1]), Obj):
        return load_inspect(obj, file=None if file == "docker-api" else file)
    return load_create(data, name=name, file=file)


def is_database(image: ImageRef | None) -> bool:
    """The Compose source's test: a database by its image name (state that needs a volume)."""
    if image is None:
        return False
    last = image.repository.rsplit("/", 1)[-1].lower()
    return last in DATABASE_IMAGES or "mssql" in image.repository.lower()


class Reader:
    """Typed, located access to Go-decoded objects; wrong types become InputErrors."""

    def __init__(self, out: ScanSet, file: str) -> None:
        self.out = out
        self.file = file
        self.extra: dict[str, Val[object]] = {}

    # --- access -------------------------------------------------------------------------
    def loc(self, ptr: str) -> Loc:
        return Loc(self.file, 0, ptr)

    def error(self, ptr: str, message: str) -> None:
        self.out.errors.append(InputError(self.file, 0, f"{ptr or '/'}: {message}"))

    def get(self, obj: Obj | None, name: str, base: str) -> tuple[Any, str] | None:
        """The value of field ``name`` and its pointer; None when absent or null (Go's zero value)."""
        if obj is None:
            return None
        got = field(obj, name, base.strip("/").replace("/", ".") + "." if base else "")
        if got is None or got[1] is None:
            return None
        return got[1], f"{base}/{name}"

    def obj(self, obj: Obj | None, name: str, base: str) -> Obj | None:
        got = self.get(obj, name, base)
        if got is None:
            return None
        o = as_obj(got[0])
        if o is None:
            self.error(got[1], "must be an object")
        return o

    def typed(self, obj: Obj | None, name: str, base: str, kind: type, what: str) -> tuple[Any, str] | None:
        got = self.get(obj, name, base)
        if got is None:
            return None
        value, ptr = got
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.error(ptr, f"must be {what}")
            return None
        if isinstance(value, str) and len(value) > MAX_TEXT:
            self.error(ptr, f"longer than {MAX_TEXT} characters")
            return None
        return value, ptr

    def boolean(self, obj: Obj | None, name: str, base: str, default: bool = False) -> Val[bool]:
        got = self.typed(obj, name, base, bool, "true or false")
        return Val(got[0], self.loc(got[1])) if got else Val(default, self.loc(f"{base}/{name}"), explicit=False)

    def integer(self, obj: Obj | None, name: str, base: str) -> tuple[int, str] | None:
        return self.typed(obj, name, base, int, "a whole number")

    def text(self, obj: Obj | None, name: str, base: str) -> Val[str | None]:
        """A string field; the empty string is Go's zero value, which clients send for "not set"."""
        got = self.typed(obj, name, base, str, "a string")
        if got is None or got[0] == "":
            return Val(None, self.loc(f"{base}/{name}"), explicit=False)
        return Val(got[0], self.loc(got[1]))

    def strings(self, obj: Obj | None, name: str, base: str, scalar_ok: bool = False) -> list[tuple[str, str]]:
        """A list of strings (``scalar_ok``: Go's StrSlice also takes one string) with pointers."""
        got = self.get(obj, name, base)
        if got is None:
            return []
        value, ptr = got
        if scalar_ok and isinstance(value, str):
            return [(value, ptr)]
        if not isinstance(value, list):
            self.error(ptr, "must be a list of strings")
            return []
        if len(value) > MAX_ITEMS:
            self.error(ptr, f"more than {MAX_ITEMS} entries; the rest are not read")
        out = []
        for i, item in enumerate(value[:MAX_ITEMS]):
            if not isinstance(item, str) or len(item) > MAX_TEXT:
                self.error(f"{ptr}/{i}", "must be a string")
                continue
            out.append((item, f"{ptr}/{i}"))
        return out

    def items(self, obj: Obj | None, name: str, base: str) -> list[tuple[Any, str]]:
        got = self.get(obj, name, base)
        if got is None:
            return []
        value, ptr = got
        if not isinstance(value, list):
            self.error(ptr, "must be a list")
            return []
        if len(value) > MAX_ITEMS:
            self.error(ptr, f"more than {MAX_ITEMS} entries; the rest are not read")
        return [(item, f"{ptr}/{i}") for i, item in enumerate(value[:MAX_ITEMS])]

    def mapping(self, obj: Obj | None, name: str, base: str) -> list[tuple[str, Any, str]]:
        got = self.get(obj, name, base)
        if got is None:
            return []
        value, ptr = got
        if as_obj(value) is None:
            self.error(ptr, "must be an object")
            return []
        pairs = entries(value)
        if len(pairs) > MAX_ITEMS:
            self.error(ptr, f"more than {MAX_ITEMS} entries; the rest are not read")
        return [(k, v, f"{ptr}/{_escape(k)}") for k, v in pairs[:MAX_ITEMS]]

    # --- the workload -------------------------------------------------------------------
    def workload(self, cfg: Obj | None, cb: str, host: Obj | None, hb: str, name: str,
                 effective: tuple[Any, str] | None) -> Workload:
        ident = Identity(SourceKind.DOCKER, self.file, KIND, name)
        top = self.loc(cb)
        image = self.image(cfg, cb)
        user = self.text(cfg, "User", cb)
        uid, gid = parse_user(user.value) if user.value is not None else (None, None)
        sec = security(self, host, hb)
        network_mode, networks, host_network = self.network(host, hb)
        for field_name, key in PASSTHROUGH_CONFIG.items():
            self.passthrough(cfg, field_name, cb, key)
        for field_name, key in PASSTHROUGH_HOST.items():
            self.passthrough(host, field_name, hb, key)
        ns = self.namespaces(host, hb)
        stop = self.integer(cfg, "StopTimeout", cb)
        stop_grace: Val[int | None] = Val(stop[0], self.loc(stop[1])) if stop else Val(
            10, self.loc(f"{cb}/StopTimeout"), explicit=False)
        labels = {k: v if isinstance(v, str) else "" for k, v, _ in self.mapping(cfg, "Labels", cb)}
        container = Container(
            name=name,
            role=Role.CONTAINER,
            loc=top,
            image=image,
            pull_policy=Val("missing", self.loc(f"{cb}/Image"), explicit=False),  # `docker run --pull` default
            user=user,
            run_as_user=Val(uid, user.loc) if uid is not None else Val(None, user.loc, explicit=False),
            run_as_group=Val(gid, user.loc) if gid is not None else Val(None, user.loc, explicit=False),
            run_as_non_root=None,
            privileged=self.boolean(host, "Privileged", hb),
            allow_privilege_escalation=sec.no_new_privs,
            cap_add=self.caps(host, "CapAdd", hb),
            cap_drop=self.caps(host, "CapDrop", hb),
            capabilities=Val(True, self.loc(f"{hb}/CapDrop"), explicit=False),
            read_only_root=self.boolean(host, "ReadonlyRootfs", hb),
            seccomp=sec.seccomp,
            apparmor=sec.apparmor,
            selinux_type=sec.selinux_type,
            selinux_disabled=sec.selinux_disabled,
            proc_mount=self.proc_mount(host, hb, sec.proc_mount),
            windows_host_process=None,
            security_context=None,
            mounts=tuple(self.mounts(cfg, cb, host, hb, effective)),
            devices=tuple(self.devices(host, hb)),
            resources=self.resources(host, hb),
            env=tuple(self.env(cfg, cb)),
            ports=tuple(self.ports(cfg, cb, host, hb)),
            health=self.health(cfg, cb, image),
            logging_driver=self.logging(host, hb),
            command=tuple(v for v, _ in self.strings(cfg, "Cmd", cb, scalar_ok=True)),
            stop_grace=stop_grace,
        )
        return Workload(
            ident=ident,
            loc=top,
            containers=(container,),
            labels=labels,
            labels_loc=self.loc(f"{cb}/Labels"),
            namespace=None,
            replicas=None,
            host_network=host_network,
            host_pid=ns["pid"],
            host_ipc=ns["ipc"],
            host_uts=ns["uts"],
            host_users=ns["userns"],
            service_account=None,
            automount_token=None,
            sysctls=tuple(Val(Sysctl(k, v if isinstance(v, str) else ""), self.loc(p))
                          for k, v, p in self.mapping(host, "Sysctls", hb)),
            termination_grace=stop_grace,
            restart_policy=self.restart(host, hb),
            networks=networks,
            network_mode=network_mode,
            stateful=is_database(image.value),
            extra=self.extra,
        )

    def image(self, cfg: Obj | None, cb: str) -> Val[ImageRef | None]:
        got = self.text(cfg, "Image", cb)
        if got.value is None or not got.value.strip():
            return Val(None, got.loc, explicit=False)
        return Val(parse_image_ref(got.value), got.loc)

    def passthrough(self, obj: Obj | None, name: str, base: str, key: str) -> None:
        got = self.get(obj, name, base)
        if got is None:
            return
        value = got[0]
        obj = as_obj(value)
        if value in ("", 0, False) or (isinstance(value, list) and not value) or (obj is not None and not obj.pairs):
            return
        self.extra[key] = Val(plain(value), self.loc(got[1]))

    def caps(self, host: Obj | None, name: str, hb: str) -> tuple[Val[str], ...]:
        out = []
        for item, ptr in self.strings(host, name, hb):
            if item.strip():
                out.append(Val(item.strip().upper().removeprefix("CAP_"), self.loc(ptr)))
        return tuple(out)

    def namespaces(self, host: Obj | None, hb: str) -> dict[str, Val[bool]]:
        out: dict[str, Val[bool]] = {}
        for field_name, key in (("PidMode", "pid"), ("IpcMode", "ipc"), ("UTSMode", "uts"),
                                ("UsernsMode", "userns"), ("CgroupnsMode", "cgroup")):
            mode = self.text(host, field_name, hb)
            if mode.value is not None:
                self.extra["cgroup" if key == "cgroup" else f"{key}_mode"] = Val(mode.value, mode.loc)
            if key == "userns":
                # Docker shares the host user namespace unless the daemon remaps users.
                out[key] = Val(True, mode.loc, mode.explicit) if mode.value in (None, "host") else Val(False, mode.loc)
            elif key != "cgroup":
                out[key] = Val(mode.value == "host", mode.loc, mode.explicit)
        return out

    def network(self, host: Obj | None, hb: str) -> tuple[Val[str | None], tuple[str, ...], Val[bool]]:
        mode = self.text(host, "NetworkMode", hb)
        names: list[str] = []
        value = mode.value
        if value in (None, "default"):
            network_mode: Val[str | None] = Val(None, mode.loc, explicit=False)
            self.extra["networks_default"] = Val(True, mode.loc, explicit=False)
            names.append("default")
        elif value in ("host", "none", "bridge") or value.startswith("container:"):
            network_mode = mode
        else:
            network_mode = Val(None, mode.loc, explicit=False)
            names.append(value)
        return network_mode, tuple(names), Val(value == "host", mode.loc, mode.explicit)

    def proc_mount(self, host: Obj | None, hb: str, from_opt: Val[str | None]) -> Val[str | None]:
        if from_opt.value == "Unmasked":
            return from_opt
        for name in ("MaskedPaths", "ReadonlyPaths"):
            got = self.get(host, name, hb)
            if got is None:
                continue
            paths = {p for p, _ in self.strings(host, name, hb)}
            if not paths or (name == "MaskedPaths" and not all(p in paths for p in CORE_MASKED)):
                return Val("Unmasked", self.loc(got[1]))
        return from_opt

    # --- storage ------------------------------------------------------------------------
    def mounts(self, cfg: Obj | None, cb: str, host: Obj | None, hb: str,
               effective: tuple[Any, str] | None) -> list[Mount]:
        out: list[Mount] = []
        if effective is not None:
            # The effective list shows a bind volume as a volume; HostConfig.Mounts still says what it binds.
            binds = {m.target: m for m in self.api_mounts(host, hb) if m.kind == "host"}
            out.extend(binds.get(m.target, m) if m.kind == "volume" else m for m in self.effective_mounts(effective))
        else:
            out.extend(self.binds(host, hb))
            out.extend(self.api_mounts(host, hb))
            for target, _v, ptr in self.mapping(cfg, "Volumes", cb):
                out.append(Mount(target, "volume", None, False, self.loc(ptr)))
        for target, _v, ptr in self.mapping(host, "Tmpfs", hb):
            out.append(Mount(target, "tmpfs", None, False, self.loc(ptr)))
        return out

    def binds(self, host: Obj | None, hb: str) -> list[Mount]:
        out = []
        for spec, ptr in self.strings(host, "Binds", hb):
            parts = spec.split(":")
            opts: list[str] = []
            if len(parts) == 3:
                source, target, opts = parts[0], parts[1], parts[2].split(",")
            elif len(parts) == 2 and parts[1].startswith("/"):
                source, target = parts
            elif len(parts) == 2:  # an anonymous volume with a mode: /data:ro
                source, target, opts = "", parts[0], parts[1].split(",")
            elif len(parts) == 1:
                source, target = "", parts[0]
            else:
                self.error(ptr, f"invalid bind {spec[:80]!r} (SOURCE:TARGET[:OPTIONS])")
                continue
            read_only = "ro" in opts
            propagation = next((o for o in opts if o in PROPAGATIONS), None)
            loc = self.loc(ptr)
            if not source:
                out.append(Mount(target, "volume", None, read_only, loc))
            elif source.startswith("/"):
                out.append(Mount(target, "host", norm_host(source), read_only, loc, propagation=propagation))
            else:
                out.append(Mount(target, "volume", source, read_only, loc, shared_name=source,
                                 propagation=propagation))
        return out

    def api_mounts(self, host: Obj | None, hb: str) -> list[Mount]:
        out = []
        for item, ptr in self.items(host, "Mounts", hb):
            m = as_obj(item)
            if m is None:
                self.error(ptr, "must be an object")
                continue
            mtype = (self.text(m, "Type", ptr).value or "volume").lower()
            source = self.text(m, "Source", ptr).value
            target = self.text(m, "Target", ptr).value
            read_only = self.boolean(m, "ReadOnly", ptr).value
            loc = self.loc(ptr)
            if not target:
                self.error(ptr, "a mount needs a Target")
                continue
            if mtype in ("bind", "npipe"):
                prop = self.text(self.obj(m, "BindOptions", ptr), "Propagation", f"{ptr}/BindOptions").value
                if not source:
                    self.error(ptr, f"a {mtype} mount needs a Source")
                    continue
                out.append(Mount(target, "host", norm_host(source), read_only, loc, propagation=prop))
            elif mtype in ("volume", "cluster"):
                device = self._bind_device(m, ptr)
                if device is not None:
                    out.append(Mount(target, "host", norm_host(device), read_only, loc, shared_name=source))
                else:
                    out.append(Mount(target, "volume", source, read_only, loc, shared_name=source))
            elif mtype == "tmpfs":
                out.append(Mount(target, "tmpfs", None, read_only, loc))
            elif mtype == "image":
                out.append(Mount(target, "other", source, True, loc))
            else:
                self.error(f"{ptr}/Type", f"unknown mount type {mtype[:40]!r} (bind, volume, tmpfs, npipe, image)")
        return out

    def _bind_device(self, m: Obj, ptr: str) -> str | None:
        """The host directory of a ``local`` volume whose driver options bind it (as Compose reads it)."""
        vo = self.obj(m, "VolumeOptions", ptr)
        dc = self.obj(vo, "DriverConfig", f"{ptr}/VolumeOptions")
        if dc is None:
            return None
        base = f"{ptr}/VolumeOptions/DriverConfig"
        driver = self.text(dc, "Name", base).value
        opts = {k: v for k, v, _ in self.mapping(dc, "Options", base) if isinstance(v, str)}
        return bind_device(driver, opts)

    def effective_mounts(self, effective: tuple[Any, str]) -> list[Mount]:
        value, ptr = effective
        if not isinstance(value, list):
            self.error(ptr, "must be a list")
            return []
        out = []
        for i, item in enumerate(value[:MAX_ITEMS]):
            p = f"{ptr}/{i}"
            m = as_obj(item)
            if m is None:
                continue
            mtype = (self.text(m, "Type", p).value or "").lower()
            target = self.text(m, "Destination", p).value or ""
            rw = self.boolean(m, "RW", p, default=True).value
            prop = self.text(m, "Propagation", p).value
            loc = self.loc(p)
            if mtype == "bind":
                source = self.text(m, "Source", p).value or ""
                out.append(Mount(target, "host", norm_host(source), not rw, loc, propagation=prop))
            elif mtype == "volume":
                vname = self.text(m, "Name", p).value
                out.append(Mount(target, "volume", vname, not rw, loc, shared_name=vname, propagation=prop))
            elif mtype == "tmpfs":
                out.append(Mount(target, "tmpfs", None, not rw, loc))
            else:
                out.append(Mount(target, "other", self.text(m, "Source", p).value, not rw, loc))
        return out

    def devices(self, host: Obj | None, hb: str) -> list[Val[str]]:
        out = []
        for item, ptr in self.items(host, "Devices", hb):
            d = as_obj(item)
            path = self.text(d, "PathOnHost", ptr).value if d is not None else None
            if not path:
                self.error(ptr, "a device needs PathOnHost")
                continue
            out.append(Val(path, self.loc(f"{ptr}/PathOnHost")))
        return out

    # --- resources, environment, ports, health --------------------------------------------
    def resources(self, host: Obj | None, hb: str) -> Resources:
        def positive(name: str) -> tuple[int, str] | None:
            got = self.integer(host, name, hb)
            return got if got is not None and got[0] > 0 else None

        def missing(name: str) -> Val[str | None]:
            return Val(None, self.loc(f"{hb}/{name}"), explicit=False)

        nano = positive("NanoCpus")
        quota = positive("CpuQuota")
        period = positive("CpuPeriod")
        if nano:
            cpu_limit: Val[str | None] = Val(f"{nano[0] / 1e9:g}", self.loc(nano[1]))
        elif quota:
            cpu_limit = Val(f"{quota[0] / (period[0] if period else 100000):g}", self.loc(quota[1]))
        else:
            cpu_limit = missing("NanoCpus")
        shares = positive("CpuShares")
        memory = positive("Memory")
        reservation = positive("MemoryReservation")
        pids = self.integer(host, "PidsLimit", hb)
        pids_limit: Val[int | None] = (Val(pids[0] if pids[0] > 0 else None, self.loc(pids[1])) if pids
                                       else Val(None, self.loc(f"{hb}/PidsLimit"), explicit=False))
        return Resources(
            cpu_request=Val(f"{shares[0] / 1024:g}", self.loc(shares[1])) if shares else missing("CpuShares"),
            cpu_limit=cpu_limit,
            memory_request=Val(str(reservation[0]), self.loc(reservation[1])) if reservation
            else missing("MemoryReservation"),
            memory_limit=Val(str(memory[0]), self.loc(memory[1])) if memory else missing("Memory"),
            pids_limit=pids_limit,
        )

    def env(self, cfg: Obj | None, cb: str) -> list[EnvVar]:
        out = []
        for item, ptr in self.strings(cfg, "Env", cb):
            name, eq, value = item.partition("=")
            if name.strip():
                out.append(EnvVar(name.strip(), value if eq else None, self.loc(ptr), origin="environment"))
        return out

    def ports(self, cfg: Obj | None, cb: str, host: Obj | None, hb: str) -> list[Port]:
        out: list[Port] = []
        bound: set[tuple[int | None, str]] = set()
        for key, value, ptr in self.mapping(host, "PortBindings", hb):
            cport, proto = _port_key(key)
            if cport is None and proto == "":
                self.error(ptr, f"invalid port {key[:40]!r} (PORT[/PROTOCOL])")
                continue
            bindings = value if isinstance(value, list) else []
            for i, b in enumerate(bindings[:MAX_ITEMS]):
                bo = as_obj(b)
                hp = self.text(bo, "HostPort", f"{ptr}/{i}").value if bo is not None else None
                hip = self.text(bo, "HostIp", f"{ptr}/{i}").value if bo is not None else None
                try:
                    host_port = int(hp.split("-", 1)[0]) if hp else 0
                    host_ip = parse_host_ip(hip) if hip else None
                except ValueError:
                    self.error(f"{ptr}/{i}", "invalid host port or IP")
                    continue
                out.append(Port(cport, self.loc(f"{ptr}/{i}"), host_port, host_ip, proto.upper()))
                bound.add((cport, proto))
        publish_all = self.boolean(host, "PublishAllPorts", hb)
        for key, _v, ptr in self.mapping(cfg, "ExposedPorts", cb):
            cport, proto = _port_key(key)
            if (cport, proto) in bound or (cport is None and proto == ""):
                continue
            published: int | None = 0 if publish_all.value else None
            out.append(Port(cport, publish_all.loc if publish_all.value else self.loc(ptr), published, None,
                            proto.upper()))
        return out

    def health(self, cfg: Obj | None, cb: str, image: Val[ImageRef | None]) -> Health:
        hc = self.obj(cfg, "Healthcheck", cb)
        ptr = f"{cb}/Healthcheck"
        if hc is None:
            if image.value is not None:
                self.extra["healthcheck_from_image"] = Val(True, self.loc(ptr), explicit=False)
            return Health(liveness=Val(False, self.loc(ptr), explicit=False))
        test = [t for t, _ in self.strings(hc, "Test", ptr)]
        if test and test[0].upper() == "NONE":
            return Health(liveness=Val(False, self.loc(ptr)), disabled=True)
        if not test:  # only timings: the image's HEALTHCHECK test still applies
            self.extra["healthcheck_from_image"] = Val(True, self.loc(ptr), explicit=False)
            return Health(liveness=Val(False, self.loc(ptr), explicit=False))
        return Health(liveness=Val(True, self.loc(f"{ptr}/Test")))

    def logging(self, host: Obj | None, hb: str) -> Val[str | None]:
        lc = self.obj(host, "LogConfig", hb)
        opts = self.mapping(lc, "Config", f"{hb}/LogConfig")
        if opts:
            self.extra["logging_options"] = Val({k: v for k, v, _ in opts}, self.loc(f"{hb}/LogConfig/Config"))
        return self.text(lc, "Type", f"{hb}/LogConfig")

    def restart(self, host: Obj | None, hb: str) -> Val[str | None]:
        rp = self.obj(host, "RestartPolicy", hb)
        got = self.text(rp, "Name", f"{hb}/RestartPolicy")
        if got.value is None:
            return Val("no", got.loc, explicit=False)
        return got


def bind_device(driver: str | None, opts: dict[str, str]) -> str | None:
    """The host directory that a ``local`` volume's options bind (``o: bind``, ``device: /x``), if any."""
    device = opts.get("device")
    o = opts.get("o") or ""
    if device and "bind" in [p.strip() for p in o.split(",")] and driver in (None, "", "local"):
        return device
    return None


def _port_key(key: str) -> tuple[int | None, str]:
    """``80/tcp`` -> (80, "tcp"); (None, "") when the key is not a port."""
    number, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    try:
        port = int(number.split("-", 1)[0])
    except ValueError:
        return None, ""
    if not 0 < port <= 65535 or proto not in ("tcp", "udp", "sctp"):
        return None, ""
    return port, proto


def norm_host(path: str) -> str:
    """Absolute host paths normalised (``//``, ``..``, trailing ``/``), as the daemon cleans them."""
    if not path.startswith("/"):
        return path
    return "/" + posixpath.normpath(path).lstrip("/")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
