"""``mamori scan docker://``: a live Docker host read into the model the static sources use.

Every container (running or not, narrowed by docker's ``--filter`` syntax) is read with
``docker inspect`` and normalised by :func:`mamori.sources.docker_api.load_inspect`, so the
rules that judge Compose files judge live containers too; nothing here judges. Findings
name the container (its name, short id and image digest) in place of a file.

The daemon itself becomes one :class:`~mamori.model.host.DockerHost`, built by
:mod:`mamori.sources.docker_host_doc` from ``docker info``, the default bridge network,
``daemon.json`` (read with mamori's YAML reader so findings have line numbers), the
dockerd command line, the socket's and daemon.json's owner and mode, and ``/etc/group``.
The host files and the command line are read only for a local daemon (a unix socket):
for a remote daemon they belong to another machine, and the report says they were skipped.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import docker.errors  # type: ignore[import-untyped]
import requests

from mamori.live.connect import ConnectError, Endpoint, connect, endpoint
from mamori.model import InputError, Loc, ScanSet, Skipped, Val, Workload
from mamori.model.host import HostFile
from mamori.sources import docker_host_doc as hd
from mamori.sources import read_file
from mamori.sources.docker_api import load_inspect
from mamori.sources.yamldoc import load_docs

# `docker ps --filter` keys (Engine API GET /containers/json).
FILTER_KEYS = frozenset({"ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task", "label",
                         "name", "network", "publish", "since", "status", "volume"})
MAX_CONTAINERS = 20_000
MAX_FILTERS = 100
WORKERS = 8  # concurrent inspect calls: the daemon answers them in parallel
INFO_KEYS = ("ServerVersion", "SecurityOptions", "LiveRestoreEnabled", "LoggingDriver", "Plugins", "RegistryConfig",
             "ExperimentalBuild", "Name", "OperatingSystem", "KernelVersion", "DockerRootDir", "CgroupVersion")
INFO_FILE = "docker info"
BRIDGE_FILE = "docker network inspect bridge"


class FilterError(ValueError):
    """A ``--filter`` that docker would reject; the message names it."""


def parse_filters(items: Iterable[str]) -> dict[str, list[str]]:
    """``["name=web", "label=tier=db"]`` -> ``{"name": ["web"], "label": ["tier=db"]}``, as ``docker ps`` reads them."""
    out: dict[str, list[str]] = {}
    for n, item in enumerate(items):
        if n >= MAX_FILTERS:
            raise FilterError(f"more than {MAX_FILTERS} filters")
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise FilterError(f"bad filter {item[:80]!r}: expected KEY=VALUE (e.g. name=web, label=tier=db, "
                              "status=running)")
        if key not in FILTER_KEYS:
            raise FilterError(f"unknown filter {key[:40]!r} (one of {', '.join(sorted(FILTER_KEYS))})")
        out.setdefault(key, []).append(value[:1024])
    return out


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """How ``mamori scan docker://`` reads a host (the CLI's ``--filter``, ``--daemon-json``, ...)."""

    filters: Mapping[str, list[str]] = field(default_factory=dict)
    daemon_json: str | None = None  # None: the dockerd --config-file, else /etc/docker/daemon.json
    save_snapshot: str | None = None  # write the host view as a DockerHost snapshot document
    host_checks: bool = True
    group_file: str = "/etc/group"
    passwd_file: str = "/etc/passwd"
    proc: str = "/proc"


def load_docker(target: str, filters: Mapping[str, list[str]] | None = None, *,
                options: LiveOptions | None = None, env: Mapping[str, str] | None = None) -> ScanSet:
    """Every container of the daemon named by ``target`` and (``host_checks``) the daemon itself.

    An unreachable daemon is an InputError of the result (the CLI prints it, exit 2).
    """
    opts = options or LiveOptions()
    if filters is not None:
        opts = replace(opts, filters=filters)
    out = ScanSet()
    try:
        ep = endpoint(target, env)
        client = connect(target, env=env)
    except ConnectError as exc:
        out.errors.append(InputError(target, 0, str(exc)))
        return out
    try:
        _containers(client, opts, out)
        if opts.host_checks:
            _host(client, ep, opts, out)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        out.errors.append(InputError(target, 0, f"docker daemon at {ep.base_url}: {_short(exc)}"))
    finally:
        client.close()
    out.complete = not opts.filters  # a filtered set is part of the host: set-wide rules cannot judge it
    return out


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


# --- containers -----------------------------------------------------------------------------
def _containers(client: Any, opts: LiveOptions, out: ScanSet) -> None:
    listed = client.api.containers(all=True, filters=dict(opts.filters) or None)
    if len(listed) > MAX_CONTAINERS:
        out.errors.append(InputError(INFO_FILE, 0, f"{len(listed)} containers: only the first {MAX_CONTAINERS} "
                                                   "are audited (narrow with --filter)"))
        listed = listed[:MAX_CONTAINERS]
    ids: list[str] = [c["Id"] for c in listed if isinstance(c, dict) and isinstance(c.get("Id"), str)]

    def inspect(cid: str) -> dict[str, Any] | None:
        try:
            got = client.api.inspect_container(cid)
        except docker.errors.NotFound:
            return None  # removed since it was listed
        return got if isinstance(got, dict) else None

    with ThreadPoolExecutor(max_workers=min(WORKERS, max(1, len(ids)))) as pool:
        docs = list(pool.map(inspect, ids))
    digests: dict[str, str] = {}
    for cid, doc in zip(ids, docs, strict=True):
        if doc is None:
            out.skipped.append(Skipped(f"docker:{cid[:12]}", 0, f"container {cid[:12]}", "removed while scanning"))
            continue
        raw_image = doc.get("Image")
        image_id = raw_image if isinstance(raw_image, str) else ""
        if image_id and image_id not in digests:
            digests[image_id] = _image_digest(client, image_id)
        part = load_inspect(without_daemon_label(doc), file=container_label(doc, digests.get(image_id, "")))
        out.files.extend(part.files)
        out.errors.extend(part.errors)
        out.workloads.extend(_with_state(w, doc) for w in part.workloads)


def without_daemon_label(doc: dict[str, Any]) -> dict[str, Any]:
    """The inspect document less the ``label=disable`` that dockerd adds by itself.

    dockerd turns SELinux labelling off for every privileged, host-PID or host-IPC
    container that sets no ``label`` option; reporting that as a choice would double the
    privileged or host-namespace finding the operator must fix, and make a live container
    differ from the Compose service it came from. A ``label`` option is the operator's
    only when the container has none of those three.
    """
    host = doc.get("HostConfig")
    if not isinstance(host, dict):
        return doc
    opts = host.get("SecurityOpt")
    if not isinstance(opts, list) or not (
            host.get("Privileged") is True or host.get("PidMode") == "host" or host.get("IpcMode") == "host"):
        return doc
    kept = [o for o in opts if not (isinstance(o, str) and o.replace(":", "=", 1).strip() == "label=disable")]
    if len(kept) == len(opts):
        return doc
    return {**doc, "HostConfig": {**host, "SecurityOpt": kept}}


def container_label(doc: Mapping[str, Any], digest: str) -> str:
    """``docker:web (id 3f2a1b4c5d6e, image busybox@sha256:...)``: what a finding names instead of a file."""
    name = doc.get("Name")
    name = name.strip("/")[:256] if isinstance(name, str) and name.strip("/") else "(unnamed)"
    cid = doc.get("Id")
    short = cid[:12] if isinstance(cid, str) else "?"
    return f"docker:{name} (id {short}, image {digest or 'unknown'})"


def _image_digest(client: Any, image_id: str) -> str:
    """The registry digest the image was pulled by, else its local id (a locally built image has no other)."""
    try:
        img = client.api.inspect_image(image_id)
    except docker.errors.DockerException:
        return image_id[:128]
    repo = img.get("RepoDigests") if isinstance(img, dict) else None
    if isinstance(repo, list) and repo and isinstance(repo[0], str):
        return repo[0][:300]
    return image_id[:128]


def _with_state(w: Workload, doc: Mapping[str, Any]) -> Workload:
    st = doc.get("State")
    status = st.get("Status") if isinstance(st, dict) else None
    if not isinstance(status, str):
        return w
    return replace(w, extra={**w.extra, "state": Val(status[:40], Loc(w.ident.file, 0, "/State/Status"))})


# --- the daemon -----------------------------------------------------------------------------
def _host(client: Any, ep: Endpoint, opts: LiveOptions, out: ScanSet) -> None:
    info_raw = client.info()
    info = {k: info_raw.get(k) for k in INFO_KEYS if isinstance(info_raw, dict) and k in info_raw}
    snap: dict[str, Any] = {"kind": hd.KIND, "endpoint": ep.base_url, "endpointTls": ep.tls, "info": info}
    bridge = _bridge(client)
    snap["bridgeNetwork"] = bridge
    inp = hd.HostInputs(file=INFO_FILE, endpoint=ep.base_url, local=ep.local, tls=ep.tls, root=Loc(INFO_FILE, 0, ""),
                        info=hd.Part(info, lambda p: Loc(INFO_FILE, 0, p)),
                        bridge=hd.Part(bridge, lambda p: Loc(BRIDGE_FILE, 0, p)))
    if ep.local:
        _local_files(ep, opts, inp, snap, out)
    else:
        out.skipped.append(hd.remote_notice(ep.base_url, ep.base_url))
    out.errors.extend(inp.errors)
    out.resources.append(hd.build(inp))
    if opts.save_snapshot:
        _save(opts.save_snapshot, snap, out)


def _bridge(client: Any) -> dict[str, Any] | None:
    """The default bridge network's options, or None when the daemon runs without one (``--bridge none``)."""
    try:
        nets = client.api.networks(names=["bridge"])
    except docker.errors.DockerException:
        return None
    for n in nets if isinstance(nets, list) else []:
        if isinstance(n, dict) and n.get("Name") == "bridge" and n.get("Driver") == "bridge":
            opts = n.get("Options")
            return {"Name": "bridge", "Options": opts if isinstance(opts, dict) else {}}
    return None


def _local_files(ep: Endpoint, opts: LiveOptions, inp: hd.HostInputs, snap: dict[str, Any], out: ScanSet) -> None:
    sock = ep.socket_path or ""
    found = find_dockerd(sock, opts.proc)
    argv: list[str] = []
    if found is None:
        out.skipped.append(Skipped(INFO_FILE, 0, "dockerd command line",
                                   f"no dockerd process serving {sock} is visible here: settings given as "
                                   "command-line flags are not seen (daemon.json and docker info are)"))
    else:
        pid, argv = found
        where = f"dockerd command line (pid {pid})"
        inp.command_line = hd.Part(argv, lambda p: Loc(where, 0, _arg_at(argv, p)))
        snap["commandLine"] = argv
    path = opts.daemon_json or _config_file(argv) or hd.DEFAULT_DAEMON_JSON
    inp.root = Loc(path, 0, "")
    users, groups = _read_ids(opts.passwd_file, opts.group_file)
    if os.path.exists(path):
        text, err = read_file(path, max_bytes=1024 * 1024)
        if err is not None:
            out.skipped.append(Skipped(path, 0, "daemon.json", f"not read: {err.message}"))
        else:
            assert text is not None
            docs, errors = load_docs(path, text)
            inp.errors.extend(errors)
            doc = next((d for d in docs if d.data is not None), None)
            if doc is not None and not isinstance(doc.data, dict):
                inp.errors.append(InputError(path, doc.line, "daemon.json must be a JSON object"))
            elif doc is not None:
                inp.daemon_json = hd.Part(doc.data, doc.loc)
                inp.root = Loc(path, 1, "")
                snap["daemonJson"] = doc.data
        _stat(path, "daemon.json", users, groups, inp)
    _stat(sock, "socket", users, groups, inp)
    sock_gid = next((f.gid for f in inp.files if f.role == "socket"), None)
    inp.group = docker_group(opts.group_file, opts.passwd_file, sock_gid)
    snap["files"] = [{"role": f.role, "path": f.path, "uid": f.uid, "gid": f.gid, "mode": f"{f.mode:04o}",
                      "owner": f.owner, "group": f.group} for f in inp.files]
    if inp.group is not None:
        snap["dockerGroup"] = {"name": inp.group.name, "gid": inp.group.gid, "members": list(inp.group.members)}


def _arg_at(argv: list[str], pointer: str) -> str:
    """The flag at ``/N`` as written, with its value when that is the next argument (``-H tcp://...``)."""
    try:
        i = int(pointer.lstrip("/"))
        arg = argv[i]
    except (ValueError, IndexError):
        return pointer
    name = arg.lstrip("-")
    if "=" not in arg and i + 1 < len(argv) and (hd.SHORT_FLAGS.get(name, name) in hd.VALUE_FLAGS):
        arg = f"{arg} {argv[i + 1]}"
    return arg[:200]


def _config_file(argv: list[str]) -> str | None:
    for f in reversed(hd.parse_command_line(argv)):
        if f.name == "config-file" and f.value:
            return f.value
    return None


def find_dockerd(sock: str, proc: str = "/proc") -> tuple[int, list[str]] | None:
    """The dockerd process that serves ``sock`` (its ``-H``), and its argv; None when not visible."""
    want = os.path.realpath(sock)
    default = os.path.realpath("/var/run/docker.sock")
    try:
        pids = [int(p) for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return None
    for pid in sorted(pids):
        try:
            with open(os.path.join(proc, str(pid), "comm"), encoding="utf-8", errors="replace") as fh:
                if fh.read(64).strip() != "dockerd":
                    continue
            with open(os.path.join(proc, str(pid), "cmdline"), "rb") as fh:
                raw = fh.read(256 * 1024)
        except OSError:
            continue
        argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
        hosts = [f.value or "" for f in hd.parse_command_line(argv) if f.name == "host"]
        if not hosts and want == default:
            return pid, argv
        for h in hosts:
            if h.startswith("unix://") and os.path.realpath(h[len("unix://"):]) == want:
                return pid, argv
            if h.startswith("fd://") and want == default:
                return pid, argv  # socket activation: the unit's socket is the default one
    return None


def _read_ids(passwd_file: str, group_file: str) -> tuple[dict[int, str], dict[int, str]]:
    users: dict[int, str] = {}
    groups: dict[int, str] = {}
    for file, table in ((passwd_file, users), (group_file, groups)):
        for _line, fields in _colon_file(file):
            idx = 2
            if len(fields) > idx and fields[idx].isdigit():
                table.setdefault(int(fields[idx]), fields[0])
    return users, groups


def _colon_file(path: str) -> list[tuple[int, list[str]]]:
    text, err = read_file(path, max_bytes=8 * 1024 * 1024)
    if err is not None or text is None:
        return []
    return [(n, line.split(":")) for n, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.startswith("#")]


def docker_group(group_file: str, passwd_file: str, gid: int | None) -> hd.GroupInfo | None:
    """The group that owns the socket (or ``docker``) and its members, primary-group users included."""
    entries = _colon_file(group_file)
    chosen: tuple[int, list[str]] | None = None
    for line, fields in entries:
        if len(fields) < 4 or not fields[2].isdigit():
            continue
        if (gid not in (None, 0) and int(fields[2]) == gid) or (chosen is None and fields[0] == "docker"):
            chosen = (line, fields)
            if gid not in (None, 0) and int(fields[2]) == gid:
                break
    if chosen is None:
        return None
    line, fields = chosen
    g = int(fields[2])
    members = [m.strip() for m in fields[3].split(",") if m.strip()]
    for _n, pw in _colon_file(passwd_file):
        if len(pw) > 3 and pw[3].isdigit() and int(pw[3]) == g and pw[0] not in members:
            members.append(pw[0])
    return hd.GroupInfo(fields[0], g, tuple(m[:256] for m in members[:hd.MAX_LIST]), Loc(group_file, line, fields[0]))


def _stat(path: str, role: str, users: dict[int, str], groups: dict[int, str], inp: hd.HostInputs) -> None:
    try:
        st = os.stat(path)
    except OSError:
        return
    inp.files.append(HostFile(role, path, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), Loc(path, 0, ""),
                              users.get(st.st_uid), groups.get(st.st_gid)))


def _save(path: str, snap: dict[str, Any], out: ScanSet) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(snap, fh, indent=2, sort_keys=False, default=str)
            fh.write("\n")
    except OSError as exc:
        out.errors.append(InputError(path, 0, f"cannot write the snapshot: {exc.strerror or exc}"))
