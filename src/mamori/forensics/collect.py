"""``mamori forensics capture``: collect a live container's evidence into a signed bundle.

Order of volatility (RFC 3227): processes, sockets and memory first, then logs and the daemon's
recent events, then the file system (diff, changed files, optional export), then the slower
static facts (image, mounts, inspect) and the log store's records. The container keeps running
unless ``pause`` (frozen for the capture, thawed after) or ``stop`` (stopped once the volatile
evidence is taken, and left stopped) is asked. Whatever cannot be collected is listed in the
manifest's ``unavailable`` with the reason: nothing is silently missing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mamori import __version__
from mamori.forensics import procnet
from mamori.forensics.bundle import BINARY, JSONL, TAR, TEXT, BundleWriter, dump_json, utc_now
from mamori.forensics.custody import actor, append_custody, check_store, store_records
from mamori.forensics.errors import ForensicsError
from mamori.forensics.files import FileLimits, collect_files, kind_of
from mamori.forensics.paths import MANIFEST, SIGNATURE, SIGNER
from mamori.forensics.signing import ManifestSigner
from mamori.forensics.verify import SCHEMA

MAX_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class CaptureOptions:
    host: str | None = None  # docker target (docker://..., unix:///..., tcp://...); None: DOCKER_HOST
    export_fs: bool = False
    max_export: int = 2 << 30
    max_logs: int = 64 << 20  # per stream
    files: FileLimits = field(default_factory=FileLimits)
    ps_args: str = "-ef"
    pause: bool = False
    stop: bool = False
    memory: bool = True
    audit_db: str | None = None  # store to read the container's records from and append custody to
    operator: str | None = None
    case: str | None = None


@dataclass(frozen=True, slots=True)
class CaptureResult:
    location: str
    bundle_id: str
    container_id: str
    manifest_sha256: str
    artifacts: int
    unavailable: tuple[dict[str, str], ...]
    custody_seq: int | None
    actions: tuple[dict[str, str], ...] = ()


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


class _Capture:
    def __init__(self, api: Any, bundle: BundleWriter, opts: CaptureOptions, local: bool, bundle_id: str) -> None:
        self.api, self.b, self.opts, self.local, self.bundle_id = api, bundle, opts, local, bundle_id
        self.unavailable: list[dict[str, str]] = []
        self.actions: list[dict[str, str]] = []
        self.notes: list[str] = []

    def missing(self, kind: str, reason: str) -> None:
        self.unavailable.append({"kind": kind, "reason": reason})

    def step(self, kind: str, fn: Any, *args: Any) -> None:
        """Run one collection step; a failure is recorded for its kind and the capture goes on."""
        try:
            fn(*args)
        except ForensicsError as exc:
            self.missing(kind, str(exc))
        except Exception as exc:  # noqa: BLE001 - a daemon or host error in one step must not lose the others
            self.missing(kind, _short(exc))

    def act(self, action: str, fn: Any, *args: Any, **kwargs: Any) -> bool:
        """Pause, unpause or stop the container; a refusal is recorded with the action, the capture goes on."""
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the evidence matters more than the state change
            self.actions.append({"action": action, "time": utc_now(), "error": _short(exc)})
            return False
        self.actions.append({"action": action, "time": utc_now()})
        return True

    # -- volatile ------------------------------------------------------------------------------
    def processes(self, cid: str, running: bool) -> None:
        if not running:
            self.missing("processes", "the container is not running")
            return
        top = self.api.top(cid, ps_args=self.opts.ps_args)
        self.b.put_json("container/processes.json", top, "processes",
                        {"endpoint": "GET /containers/{id}/top", "ps_args": self.opts.ps_args})

    def network(self, doc: dict[str, Any], cid: str, pid: int) -> None:
        settings = {"NetworkSettings": doc.get("NetworkSettings"),
                    "HostConfig": {k: (doc.get("HostConfig") or {}).get(k) for k in (
                        "NetworkMode", "PortBindings", "PublishAllPorts", "Dns", "DnsSearch", "ExtraHosts",
                        "Links")},
                    "Config": {k: (doc.get("Config") or {}).get(k) for k in ("Hostname", "Domainname",
                                                                               "ExposedPorts")}}
        self.b.put_json("container/network.json", settings, "network", {"endpoint": "GET /containers/{id}/json"})
        tables, note = procnet.read_tables(pid, cid, self.local)
        if note:
            self.notes.append(note)
        rows: list[dict[str, Any]] = []
        for t in tables:
            if t.raw is None:
                self.missing(f"connections.{t.name}", t.reason or "unreadable")
                continue
            self.b.put_bytes(f"container/net/{t.name}", t.raw, TEXT, "connections.raw",
                             {"host_path": f"/proc/{pid}/net/{t.name}"})
            rows += procnet.parse(t.name, t.raw)
        if any(t.raw is not None for t in tables):
            self.b.put_json("container/connections.json", rows, "connections",
                            {"host_path": f"/proc/{pid}/net/*", "parsed_from": [t.name for t in tables if t.raw]})

    def memory(self, cid: str, running: bool) -> None:
        if not self.opts.memory:
            self.missing("memory", "not requested (--no-memory)")
            return
        if not running:
            self.missing("memory", "the container is not running")
            return
        name = f"mamori-{self.bundle_id[:12]}"
        body: dict[str, Any] = {"CheckpointID": name, "Exit": False}
        target = self.b.root / "memory"
        if self.local:
            target.mkdir(mode=0o700)
            body["CheckpointDir"] = str(target)
        res = self.api._post_json(self.api._url("/containers/{0}/checkpoints", cid), data=body)
        if res.status_code >= 400:
            shutil.rmtree(target, ignore_errors=True)
            try:
                msg = str(res.json().get("message", ""))
            except ValueError:
                msg = res.text
            self.missing("memory", f"docker checkpoint create (CRIU) failed, HTTP {res.status_code}: "
                                   f"{msg.strip()[:1000] or 'no message'}")
            return
        if not self.local:
            self.missing("memory", f"checkpoint {name} was written on the remote daemon's host, not into the "
                                   "bundle; copy it from there")
            return
        try:
            self.b.adopt_tree("memory", BINARY, "memory", {"endpoint": "POST /containers/{id}/checkpoints",
                                                            "checkpoint": name, "leave_running": True})
        except (ForensicsError, OSError):
            shutil.rmtree(target, ignore_errors=True)  # nothing half-adopted stays behind
            raise

    def logs(self, cid: str) -> None:
        for stream in ("stdout", "stderr"):
            chunks = self.api.logs(cid, stdout=stream == "stdout", stderr=stream == "stderr", timestamps=True,
                                   stream=True, follow=False)
            try:
                self.b.put_stream(f"container/logs.{stream}.txt", chunks, self.opts.max_logs, TEXT, f"logs.{stream}",
                                  {"endpoint": "GET /containers/{id}/logs", "timestamps": True, stream: True},
                                  keep_truncated=True)
            finally:
                close = getattr(chunks, "close", None)
                if callable(close):
                    close()

    def events(self, doc: dict[str, Any], cid: str) -> None:
        created = str(doc.get("Created", ""))[:19]
        try:
            since = max(1, int(datetime.fromisoformat(created).replace(tzinfo=UTC).timestamp()))
        except ValueError:
            since = max(1, int(time.time()) - 86400)
        until = f"{time.time():.9f}"  # now: the daemon answers at once instead of waiting for a future second
        out: list[Any] = []
        stream = self.api.events(since=since, until=until, filters={"container": [cid]}, decode=True)
        try:
            for ev in stream:
                out.append(ev)
                if len(out) >= MAX_EVENTS:
                    self.notes.append(f"daemon events: only the first {MAX_EVENTS} kept")
                    break
        finally:
            stream.close()
        self.b.put_json("container/events.json", out, "events",
                        {"endpoint": "GET /events", "since": since, "until": until, "filters": {"container": [cid]},
                         "note": "the daemon keeps a bounded window of recent events"})

    # -- file system ---------------------------------------------------------------------------
    def diff(self, cid: str) -> None:
        changes = self.api.diff(cid) or []
        if not isinstance(changes, list):
            raise ForensicsError("the daemon's diff is not a list")
        listing = [{"path": c.get("Path"), "kind": kind_of(c.get("Kind"))}
                   for c in changes if isinstance(c, dict)]
        self.b.put_json("container/changes.json", listing, "diff", {"endpoint": "GET /containers/{id}/changes"})
        index = collect_files(self.api, cid, [c for c in changes if isinstance(c, dict)], self.b, self.opts.files)
        self.b.put_json("container/files.json", index, "files.index",
                        {"max_file": self.opts.files.max_file, "max_total": self.opts.files.max_total})

    def export(self, cid: str) -> None:
        chunks = self.api.export(cid, chunk_size=1 << 20)
        art = self.b.put_stream("container/filesystem.tar", chunks, self.opts.max_export, TAR, "export",
                                {"endpoint": "GET /containers/{id}/export", "note": "volumes are not included"},
                                keep_truncated=False)
        if art is None:
            self.missing("export", f"the file system export is larger than --max-export ({self.opts.max_export} "
                                   "bytes); not kept")

    # -- static --------------------------------------------------------------------------------
    def image(self, doc: dict[str, Any]) -> dict[str, Any]:
        image_id = str(doc.get("Image", ""))
        img = self.api.inspect_image(image_id)
        self.b.put_json("image/inspect.json", img, "image", {"endpoint": "GET /images/{id}/json", "id": image_id})
        try:
            self.b.put_json("image/history.json", self.api.history(image_id), "image.history",
                            {"endpoint": "GET /images/{id}/history", "id": image_id})
        except Exception as exc:  # noqa: BLE001 - the history is optional, the inspect is kept
            self.missing("image.history", _short(exc))
        return {"id": image_id, "repo_tags": img.get("RepoTags") or [], "repo_digests": img.get("RepoDigests") or []}

    def mounts(self, doc: dict[str, Any]) -> None:
        hc = doc.get("HostConfig") or {}
        self.b.put_json("container/mounts.json", {
            "Mounts": doc.get("Mounts"), "HostConfig": {k: hc.get(k) for k in (
                "Binds", "Mounts", "Tmpfs", "VolumesFrom", "VolumeDriver", "ReadonlyRootfs")}},
            "mounts", {"endpoint": "GET /containers/{id}/json"})

    def store(self, cid: str, name: str) -> None:
        entries, events, why = store_records(self.opts.audit_db, [cid, cid[:12], name])
        self.b.put_bytes("store/audit-entries.jsonl", b"".join(dump_json(e).replace(b"\n", b"") + b"\n"
                                                              for e in entries),
                         JSONL, "store.audit", {"store": "audit log", "containers": [cid, cid[:12], name]})
        if events is None:
            self.missing("store.events", why or "no events table")
        else:
            self.b.put_json("store/container-events.json", events, "store.events",
                            {"store": "container_events", "containers": [cid, cid[:12], name]})


def _connect(host: str | None) -> tuple[Any, str, bool]:
    from mamori.live.connect import ConnectError, connect, endpoint

    try:
        ep = endpoint(host)
        client = connect(host)
    except ConnectError as exc:
        raise ForensicsError(str(exc)) from None
    return client, ep.base_url, ep.local


def _inspect(api: Any, container: str) -> dict[str, Any]:
    import docker.errors  # type: ignore[import-untyped]

    if not container or len(container) > 256:
        raise ForensicsError("container: a name or id of 1-256 characters")
    try:
        doc = api.inspect_container(container)
    except docker.errors.NotFound:
        raise ForensicsError(f"the daemon has no container {container!r}") from None
    except Exception as exc:  # noqa: BLE001 - DockerException, or the connection dropping (requests)
        raise ForensicsError(f"cannot inspect {container!r}: {_short(exc)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Id"), str):
        raise ForensicsError("the daemon's inspect document has no Id")
    return doc


def _prepare_output(output: str) -> tuple[Path, Path | None]:
    """The directory the bundle is written into, and the tar to pack it into (None: keep the directory)."""
    out = Path(output)
    if out.exists() or out.is_symlink():
        raise ForensicsError(f"{output} already exists: a bundle is never written over")
    if out.suffix == ".tar":
        work = Path(tempfile.mkdtemp(prefix=".mamori-forensics-", dir=out.parent if str(out.parent) else "."))
        return work / "bundle", out
    return out, None


def _pack(root: Path, paths: list[str], tar_path: Path) -> None:
    fd = os.open(tar_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in paths:
            info = tar.gettarinfo(str(root / rel), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o600
            with open(root / rel, "rb") as src:
                tar.addfile(info, src)


def capture(container: str, output: str, signer: ManifestSigner, opts: CaptureOptions) -> CaptureResult:
    root, tar_path = _prepare_output(output)
    try:
        return _capture(container, root, tar_path, signer, opts)
    finally:
        if tar_path is not None:
            shutil.rmtree(root.parent, ignore_errors=True)


def _capture(container: str, root: Path, tar_path: Path | None, signer: ManifestSigner,
             opts: CaptureOptions) -> CaptureResult:
    started = utc_now()
    who = actor(opts.operator)
    if opts.audit_db is not None:
        check_store(opts.audit_db)  # before touching the container: custody must be recordable
    client, base_url, local = _connect(opts.host)
    try:
        api = client.api
        doc = _inspect(api, container)
        bundle = BundleWriter(root)
        bundle_id = str(uuid.uuid4())
        cap = _Capture(api, bundle, opts, local, bundle_id)
        cid, name = doc["Id"], str(doc.get("Name", "")).lstrip("/")
        state = doc.get("State") or {}
        pid, running, paused = int(state.get("Pid") or 0), bool(state.get("Running")), bool(state.get("Paused"))
        info: dict[str, Any] = {}
        try:
            info = api.info()
            bundle.put_json("docker/info.json", info, "docker.info", {"endpoint": "GET /info"})
            bundle.put_json("docker/version.json", api.version(), "docker.version", {"endpoint": "GET /version"})
        except Exception as exc:  # noqa: BLE001 - the daemon facts are context, not the evidence itself
            cap.missing("docker.info", _short(exc))
        we_paused = False
        try:
            if opts.pause and running and not paused:
                we_paused = cap.act("pause", api.pause, cid)
            cap.step("processes", cap.processes, cid, running)
            cap.step("network", cap.network, doc, cid, pid)
            cap.step("memory", cap.memory, cid, running)
            cap.step("logs", cap.logs, cid)
            cap.step("events", cap.events, doc, cid)
            if opts.stop and running:
                if we_paused:
                    we_paused = not cap.act("unpause", api.unpause, cid)
                cap.act("stop", api.stop, cid, timeout=10)
            cap.step("diff", cap.diff, cid)
            if opts.export_fs:
                cap.step("export", cap.export, cid)
            image: dict[str, Any] = {"id": doc.get("Image")}
            try:
                image = cap.image(doc)
            except Exception as exc:  # noqa: BLE001 - recorded; the container's own evidence stands
                cap.missing("image", _short(exc))
            cap.step("mounts", cap.mounts, doc)
            bundle.put_json("container/inspect.json", doc, "inspect", {"endpoint": "GET /containers/{id}/json"})
            if opts.audit_db is not None:
                cap.step("store", cap.store, cid, name)
            else:
                cap.missing("store", "no --audit-db given: the log store was not consulted")
        finally:
            if we_paused:
                cap.act("unpause", api.unpause, cid)
    finally:
        client.close()
    manifest = {
        "schema": SCHEMA, "bundle_id": bundle_id,
        "subject": {"container_id": cid, "container_name": name, "requested_as": container,
                    "image_ref": (doc.get("Config") or {}).get("Image"), "image": image,
                    "state_at_capture": {"status": state.get("Status"), "pid": pid,
                                         "started_at": state.get("StartedAt")}},
        "captured": {"started": started, "finished": utc_now(), "by": who, "case": opts.case,
                     "tool": {"name": "mamori", "version": __version__}},
        "docker": {"endpoint": base_url, "engine_id": info.get("ID"), "name": info.get("Name"),
                   "server_version": info.get("ServerVersion"), "experimental": info.get("ExperimentalBuild")},
        "options": {"export_fs": opts.export_fs, "max_export": opts.max_export, "max_logs": opts.max_logs,
                    "max_file": opts.files.max_file, "max_files_total": opts.files.max_total,
                    "ps_args": opts.ps_args, "pause": opts.pause, "stop": opts.stop, "memory": opts.memory},
        "actions": cap.actions, "unavailable": cap.unavailable, "notes": cap.notes,
        "signer": signer.describe(),
        "artifacts": [a.entry() for a in bundle.artifacts],
    }
    body = dump_json(manifest)
    for rel, data in ((MANIFEST, body), (SIGNATURE, base64.b64encode(signer.sign(body)) + b"\n"),
                      (SIGNER, signer.signer_pem())):
        fd = os.open(root / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    location = str(root.resolve())
    if tar_path is not None:
        _pack(root, [MANIFEST, SIGNATURE, SIGNER, *(a.path for a in bundle.artifacts)], tar_path)
        location = str(tar_path.resolve())
    digest = hashlib.sha256(body).hexdigest()
    seq = None
    if opts.audit_db is not None:
        seq = append_custody(opts.audit_db, {
            "action": "capture", "bundle_id": bundle_id, "manifest_sha256": digest, "location": location,
            "case": opts.case, "artifacts": len(bundle.artifacts), "state_actions": cap.actions,
            "unavailable": sorted({u["kind"] for u in cap.unavailable}), "signer": signer.describe()["key_id"]},
            who, container=cid, image=str(image.get("id") or "") or None)
    return CaptureResult(location, bundle_id, cid, digest, len(bundle.artifacts), tuple(cap.unavailable), seq,
                         tuple(cap.actions))
