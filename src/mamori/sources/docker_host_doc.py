"""Docker host settings -> one :class:`~mamori.model.host.DockerHost`.

The same builder serves a live daemon (:mod:`mamori.live.docker_host`) and a saved host
snapshot, a JSON or YAML document ``{"kind": "DockerHost", ...}`` that ``mamori scan``
reads offline (and that the rule fixtures are written in)::

    kind: DockerHost
    endpoint: unix:///var/run/docker.sock     # tcp://... : a remote daemon, no host files
    endpointTls: false     # a remote daemon was reached over TLS
    info: {...}            # `docker info` (GET /info), any subset
    daemonJson: {...}      # the daemon.json contents
    commandLine: [dockerd, -H, fd://, --icc=false]
    bridgeNetwork: {...}   # `docker network inspect bridge` (its Options), when it exists
    files: [{role: socket, path: /var/run/docker.sock, uid: 0, gid: 999, mode: "0660"}]
    dockerGroup: {name: docker, gid: 999, members: [alice]}

Each setting's value is the daemon's effective one where ``docker info`` reports it, and
its location is where an operator changes it: the ``daemon.json`` key when the file sets
it, else the dockerd flag, else ``docker info``; a setting that nothing sets is a default
(``explicit=False``) located at ``daemon.json`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mamori.model import Identity, InputError, Loc, ScanSet, Skipped, SourceKind, Val
from mamori.model.host import DockerHost, HostFile
from mamori.model.resources import Meta
from mamori.sources.yamldoc import Doc, escape

KIND = "DockerHost"
MAX_LIST = 1000
MAX_TEXT = 4096
DEFAULT_DAEMON_JSON = "/etc/docker/daemon.json"
# dockerd always treats the loopback range as insecure; it is not a choice the operator made.
DEFAULT_INSECURE = frozenset({"127.0.0.0/8", "::1/128"})
# dockerd flags that take a value (``--flag value``); every other flag is a switch.
VALUE_FLAGS = frozenset({
    "add-runtime", "allow-nondistributable-artifacts", "api-cors-header", "authorization-plugin", "bip", "bridge",
    "cgroup-parent", "config-file", "containerd", "containerd-namespace", "containerd-plugins-namespace",
    "cpu-rt-period", "cpu-rt-runtime", "data-root", "default-address-pool", "default-cgroupns-mode",
    "default-gateway", "default-gateway-v6", "default-ipc-mode", "default-runtime", "default-shm-size",
    "default-ulimit", "dns", "dns-opt", "dns-search", "exec-opt", "exec-root", "fixed-cidr", "fixed-cidr-v6",
    "group", "host", "host-gateway-ip", "init-path", "insecure-registry", "ip", "label", "log-driver", "log-level",
    "log-opt", "max-concurrent-downloads", "max-concurrent-uploads", "max-download-attempts", "metrics-addr", "mtu",
    "network-control-plane-mtu", "node-generic-resource", "oom-score-adjust", "pidfile", "registry-mirror",
    "seccomp-profile", "shutdown-timeout", "storage-driver", "storage-opt", "swarm-default-advertise-addr",
    "tlscacert", "tlscert", "tlskey", "userland-proxy-path", "userns-remap", "default-network-opt",
    "http-proxy", "https-proxy", "no-proxy", "feature", "cdi-spec-dir", "log-format",
})
SHORT_FLAGS = {"H": "host", "G": "group", "b": "bridge", "l": "log-level", "p": "pidfile", "s": "storage-driver",
               "g": "graph", "D": "debug", "e": "exec-driver"}


@dataclass(frozen=True, slots=True)
class Part:
    """One input of the host view: its data and how to locate a pointer inside it."""

    data: Any
    loc: Callable[[str], Loc]


@dataclass(frozen=True, slots=True)
class GroupInfo:
    name: str
    gid: int | None
    members: tuple[str, ...]
    loc: Loc


@dataclass(slots=True)
class HostInputs:
    """Everything read about one daemon; ``None`` parts were not available (a remote daemon)."""

    file: str
    endpoint: str
    local: bool
    root: Loc  # where a missing daemon.json setting belongs
    info: Part
    tls: bool = False  # the endpoint was reached over TLS
    daemon_json: Part | None = None
    command_line: Part | None = None
    bridge: Part | None = None
    files: list[HostFile] = field(default_factory=list)
    group: GroupInfo | None = None
    errors: list[InputError] = field(default_factory=list)


# --- the dockerd command line ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    value: str | None  # None for a switch given without ``=value``
    index: int


def parse_command_line(argv: list[str]) -> list[Flag]:
    """dockerd's flags in order (``--a=b``, ``--a b`` for value flags, ``-H x``, ``-Hx``)."""
    out: list[Flag] = []
    i = 1 if argv and not argv[0].startswith("-") else 0  # argv[0] is the program
    while i < len(argv) and i < MAX_LIST:
        arg = argv[i]
        start = i
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            if not eq and name in VALUE_FLAGS and i + 1 < len(argv):
                i += 1
                out.append(Flag(name, argv[i], start))
            else:
                out.append(Flag(name, value if eq else None, start))
        elif arg.startswith("-") and len(arg) > 1:
            name = SHORT_FLAGS.get(arg[1], arg[1])
            rest = arg[2:].removeprefix("=")
            if rest:
                out.append(Flag(name, rest, start))
            elif name in VALUE_FLAGS and i + 1 < len(argv):
                i += 1
                out.append(Flag(name, argv[i], start))
            else:
                out.append(Flag(name, None, start))
        i += 1
    return out


def flag_bool(f: Flag) -> bool | None:
    if f.value is None:
        return True
    low = f.value.strip().lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    return None


# --- the builder -------------------------------------------------------------------------------
class _Builder:
    def __init__(self, inp: HostInputs) -> None:
        self.inp = inp
        self.cfg: dict[str, Any] = inp.daemon_json.data if inp.daemon_json and isinstance(
            inp.daemon_json.data, dict) else {}
        argv = inp.command_line.data if inp.command_line and isinstance(inp.command_line.data, list) else []
        self.argv = [a for a in argv if isinstance(a, str)][:MAX_LIST]
        self.flags = parse_command_line(self.argv)
        self.info: dict[str, Any] = inp.info.data if isinstance(inp.info.data, dict) else {}

    # where things are
    def cfg_loc(self, key: str) -> Loc | None:
        if key in self.cfg and self.inp.daemon_json is not None:
            return self.inp.daemon_json.loc("/" + escape(key))
        return None

    def flag_loc(self, f: Flag) -> Loc:
        assert self.inp.command_line is not None
        return self.inp.command_line.loc(f"/{f.index}")

    def info_loc(self, *path: str) -> Loc:
        return self.inp.info.loc("/" + "/".join(escape(p) for p in path))

    def where(self, key: str, flag: str, *info_path: str) -> tuple[Loc, bool]:
        """The place a setting is written and whether it is written anywhere."""
        got = self.cfg_loc(key)
        if got is not None:
            return got, True
        fl = self.flag(flag)
        if fl:
            return self.flag_loc(fl[-1]), True
        if info_path:
            return self.info_loc(*info_path), False
        return self.inp.root, False

    def flag(self, name: str) -> list[Flag]:
        return [f for f in self.flags if f.name == name]

    def cfg_bool(self, key: str) -> bool | None:
        v = self.cfg.get(key)
        return v if isinstance(v, bool) else None

    def cfg_strings(self, key: str) -> list[str]:
        v = self.cfg.get(key)
        if isinstance(v, str):
            return [v[:MAX_TEXT]]
        if isinstance(v, list):
            return [x[:MAX_TEXT] for x in v[:MAX_LIST] if isinstance(x, str)]
        return []

    def switch(self, key: str, flag: str) -> Val[bool]:
        """A boolean setting from daemon.json or the command line (``docker info`` does not report it)."""
        value = self.cfg_bool(key)
        if value is not None:
            loc = self.cfg_loc(key)
            assert loc is not None
            return Val(value, loc)
        for f in reversed(self.flag(flag)):
            b = flag_bool(f)
            if b is not None:
                return Val(b, self.flag_loc(f))
        return Val(False, self.inp.root, explicit=False)

    def security_options(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        opts = self.info.get("SecurityOptions")
        for item in opts[:MAX_LIST] if isinstance(opts, list) else []:
            if not isinstance(item, str):
                continue
            kv = dict(p.partition("=")[::2] for p in item.split(","))
            name = kv.pop("name", "")
            if name:
                out[name] = kv
        return out

    # the settings
    def plain_tcp(self) -> Val[tuple[str, ...]] | None:
        if not self.inp.local:
            ep = self.inp.endpoint
            if ep.startswith(("tcp://", "http://")) and not self.inp.tls:
                return Val((ep,), self.inp.info.loc(""))
            return None  # TLS: whether the daemon verifies client certificates is not visible from here
        hosts: list[tuple[str, Loc]] = []
        if self.inp.daemon_json is not None:
            for i, h in enumerate(self.cfg_strings("hosts")):
                hosts.append((h, self.inp.daemon_json.loc(f"/hosts/{i}") if isinstance(self.cfg.get("hosts"), list)
                              else self.inp.daemon_json.loc("/hosts")))
        for f in self.flag("host"):
            if f.value:
                hosts.append((f.value, self.flag_loc(f)))
        tcp = [(h, loc) for h, loc in hosts if h.strip().lower().startswith(("tcp://", "http://"))]
        verify = self.switch("tlsverify", "tlsverify")
        if not tcp or verify.value:
            return Val((), tcp[0][1] if tcp else self.inp.root, explicit=bool(tcp))
        return Val(tuple(h for h, _ in tcp), tcp[0][1])

    def insecure(self) -> Val[tuple[str, ...]] | None:
        reg = self.info.get("RegistryConfig")
        if not isinstance(reg, dict):
            return None
        found: list[str] = []
        cidrs = reg.get("InsecureRegistryCIDRs")
        for c in cidrs[:MAX_LIST] if isinstance(cidrs, list) else []:
            if isinstance(c, str) and c not in DEFAULT_INSECURE:
                found.append(c[:MAX_TEXT])
        idx = reg.get("IndexConfigs")
        for name, conf in list(idx.items())[:MAX_LIST] if isinstance(idx, dict) else []:
            if isinstance(conf, dict) and conf.get("Secure") is False and isinstance(name, str):
                found.append(name[:MAX_TEXT])
        loc, _ = self.where("insecure-registries", "insecure-registry", "RegistryConfig", "InsecureRegistryCIDRs")
        return Val(tuple(dict.fromkeys(found)), loc, explicit=bool(found))

    def icc(self) -> Val[bool] | None:
        written, explicit = self.where("icc", "icc")
        if self.inp.bridge is not None:
            net = self.inp.bridge.data
            if not isinstance(net, dict):
                return None  # no default bridge network: nothing to restrict
            opts = net.get("Options")
            raw = opts.get("com.docker.network.bridge.enable_icc") if isinstance(opts, dict) else None
            on = str(raw).lower() != "false"
            loc = written if explicit else self.inp.bridge.loc(
                "/Options/com.docker.network.bridge.enable_icc" if raw is not None else "/Options")
            return Val(on, loc, explicit=explicit or raw is not None)
        if not self.inp.local and self.inp.daemon_json is None:
            return None
        setting = self.switch("icc", "icc")
        if not setting.explicit:
            return Val(True, setting.loc, explicit=False)  # dockerd's default: icc on
        return setting

    def userns(self) -> Val[bool] | None:
        if not self.info:
            return None
        loc, _ = self.where("userns-remap", "userns-remap", "SecurityOptions")
        on = "userns" in self.security_options()
        return Val(on, loc, explicit=on or self.cfg_loc("userns-remap") is not None)

    def live_restore(self) -> Val[bool] | None:
        value = self.info.get("LiveRestoreEnabled")
        if not isinstance(value, bool):
            return self.switch("live-restore", "live-restore") if self.inp.local else None
        loc, explicit = self.where("live-restore", "live-restore", "LiveRestoreEnabled")
        return Val(value, loc, explicit=explicit)

    def no_new_privileges(self) -> Val[bool] | None:
        if "no-new-privileges" in self.security_options():
            loc, _ = self.where("no-new-privileges", "no-new-privileges", "SecurityOptions")
            return Val(True, loc)
        if not self.inp.local and self.inp.daemon_json is None and self.inp.command_line is None:
            return None  # older daemons do not report it in `docker info`; unknown for a remote one
        return self.switch("no-new-privileges", "no-new-privileges")

    def seccomp(self) -> Val[str] | None:
        if not self.info:
            return None
        opts = self.security_options()
        loc, explicit = self.where("seccomp-profile", "seccomp-profile", "SecurityOptions")
        if "seccomp" not in opts:
            return Val("unavailable", loc, explicit=True) if "SecurityOptions" in self.info else None
        profile = opts["seccomp"].get("profile", "default")[:MAX_TEXT]
        return Val(profile, loc, explicit=explicit)

    def log_driver(self) -> Val[str] | None:
        value = self.info.get("LoggingDriver")
        if not isinstance(value, str):
            return None
        loc, explicit = self.where("log-driver", "log-driver", "LoggingDriver")
        return Val(value[:MAX_TEXT], loc, explicit=explicit)

    def authz(self) -> Val[tuple[str, ...]] | None:
        plugins = self.info.get("Plugins")
        if not isinstance(plugins, dict):
            return None
        names = plugins.get("Authorization")
        got = tuple(n[:MAX_TEXT] for n in names[:MAX_LIST] if isinstance(n, str)) if isinstance(names, list) else ()
        loc, explicit = self.where("authorization-plugins", "authorization-plugin")
        return Val(got, loc if explicit else self.inp.root, explicit=explicit)

    def experimental(self) -> Val[bool] | None:
        value = self.info.get("ExperimentalBuild")
        if not isinstance(value, bool):
            return None
        loc, explicit = self.where("experimental", "experimental", "ExperimentalBuild")
        return Val(value, loc, explicit=explicit)

    def build(self) -> DockerHost:
        inp = self.inp
        name = inp.endpoint[:MAX_TEXT]
        # The object's own line only where the whole view is one file (a snapshot).
        ident = Identity(SourceKind.DOCKER, inp.file, KIND, name, None,
                         inp.root.line if inp.root.file == inp.file else 0)
        version = self.info.get("ServerVersion")
        group = inp.group
        return DockerHost(
            meta=Meta(ident, inp.root),
            endpoint=inp.endpoint,
            local=inp.local,
            server_version=version[:MAX_TEXT] if isinstance(version, str) else None,
            plain_tcp=self.plain_tcp(),
            insecure_registries=self.insecure(),
            icc=self.icc(),
            userns_remap=self.userns(),
            live_restore=self.live_restore(),
            no_new_privileges=self.no_new_privileges(),
            seccomp_profile=self.seccomp(),
            log_driver=self.log_driver(),
            authorization_plugins=self.authz(),
            experimental=self.experimental(),
            files=tuple(inp.files),
            docker_group=Val(group.members, group.loc) if group is not None else None,
        )


def build(inp: HostInputs) -> DockerHost:
    """The host view of everything read about one daemon."""
    return _Builder(inp).build()


def remote_notice(file: str, endpoint: str) -> Skipped:
    return Skipped(file, 0, f"host files of {endpoint}",
                   "the daemon is remote: daemon.json, the dockerd command line, socket and daemon.json "
                   "permissions and the docker group were not checked (run mamori on the daemon's host)")


# --- the snapshot document ---------------------------------------------------------------------
def is_snapshot(data: object) -> bool:
    """A host snapshot: ``kind: DockerHost`` and no ``apiVersion`` (so never a Kubernetes object)."""
    return isinstance(data, dict) and data.get("kind") == KIND and "apiVersion" not in data


def parse_mode(value: object) -> int | None:
    """``"0660"`` / ``"660"`` (octal text) or a number already decoded."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 0o7777 else None
    if isinstance(value, str):
        try:
            mode = int(value.strip().removeprefix("0o") or "x", 8)
        except ValueError:
            return None
        return mode if 0 <= mode <= 0o7777 else None
    return None


def load(doc: Doc) -> ScanSet:
    """A host snapshot document as one DockerHost; malformed parts become InputErrors."""
    out = ScanSet(files=[doc.file])
    data = doc.data
    if not is_snapshot(data):
        out.errors.append(InputError(doc.file, doc.line, "not a DockerHost snapshot"))
        return out

    def under(key: str) -> Callable[[str], Loc]:
        return lambda p: doc.loc(f"/{key}{p}")

    def part(key: str) -> Part | None:
        if key not in data or data[key] is None:
            return None
        return Part(data[key], under(key))

    def err(ptr: str, message: str) -> None:
        out.errors.append(InputError(doc.file, doc.line_of(ptr), f"{ptr}: {message}"))

    endpoint = data.get("endpoint", "unix:///var/run/docker.sock")
    if not isinstance(endpoint, str) or not endpoint:
        err("/endpoint", "must be a docker host string")
        return out
    local = endpoint.startswith("unix://")
    for key, kind in (("info", dict), ("daemonJson", dict), ("commandLine", list), ("files", list)):
        if key in data and data[key] is not None and not isinstance(data[key], kind):
            err(f"/{key}", f"must be {'an object' if kind is dict else 'a list'}")
            return out
    daemon_json = part("daemonJson")
    inp = HostInputs(
        file=doc.file, endpoint=endpoint, local=local, tls=data.get("endpointTls") is True,
        root=doc.loc("/daemonJson") if daemon_json is not None else doc.loc(""),
        info=part("info") or Part({}, lambda p: doc.loc(p)),
        daemon_json=daemon_json, command_line=part("commandLine"),
        bridge=Part(data["bridgeNetwork"], under("bridgeNetwork")) if "bridgeNetwork" in data else None,
    )
    for i, f in enumerate(data.get("files") or []):
        ptr = f"/files/{i}"
        if not isinstance(f, dict):
            err(ptr, "must be an object")
            continue
        mode = parse_mode(f.get("mode"))
        uid, gid = f.get("uid"), f.get("gid")
        path, role = f.get("path"), f.get("role")
        if mode is None or not isinstance(uid, int) or not isinstance(gid, int) or not isinstance(path, str) or (
                role not in ("socket", "daemon.json")):
            err(ptr, "a file needs role (socket or daemon.json), path, uid, gid and an octal mode")
            continue
        owner, group = f.get("owner"), f.get("group")
        inp.files.append(HostFile(role, path[:MAX_TEXT], uid, gid, mode, doc.loc(ptr),
                                  owner if isinstance(owner, str) else None, group if isinstance(group, str) else None))
    grp = data.get("dockerGroup")
    if grp is not None:
        members = grp.get("members") if isinstance(grp, dict) else None
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            err("/dockerGroup", "must be {name, gid, members: [user, ...]}")
        else:
            gname = grp.get("name")
            gid = grp.get("gid")
            inp.group = GroupInfo(gname if isinstance(gname, str) else "docker", gid if isinstance(gid, int) else None,
                                  tuple(m[:256] for m in members[:MAX_LIST]), doc.loc("/dockerGroup/members"))
    out.resources.append(build(inp))
    if not local:
        out.skipped.append(remote_notice(doc.file, endpoint))
    return out
