"""Baselines and drift of running containers: configuration, processes, files (CSA-3.1.15.1 among others).

A baseline is taken when a container starts: the image id, the *normalised model* of the
container (what :func:`mamori.sources.docker_api.load_inspect` reads, with locations and
environment values dropped - values are replaced by a hash so that a change shows without
the secret it may hold), its hash, the process list (``top``), the writable-layer changes
(``diff``) and SHA-256 hashes of the files under each watched path (``get_archive``).

Drift is the difference against it, field by field: changed configuration (``docker update``),
processes that were not there (``docker exec``), watched files added, changed or removed,
writes under sensitive system paths, and data written into the container filesystem outside
its declared volumes - data that is lost when the container is removed unless backed up.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import posixpath
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import fields, is_dataclass
from typing import Any

MAX_FILES = 10_000  # per watched path
MAX_ARCHIVE = 64 * 1024 * 1024  # bytes read per watched path
MAX_LIST = 500  # entries of one kind in a report
SENSITIVE = ("/etc", "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/lib", "/lib64",
             "/usr/lib", "/usr/lib64", "/root", "/boot", "/var/spool/cron")
KINDS = {0: "changed", 1: "added", 2: "deleted"}
DROP_FIELDS = frozenset({"loc", "labels_loc", "line", "file", "explicit", "template"})


def _plain(obj: Any) -> Any:
    """The model as JSON data without locations: what the container *is*, not where it was read."""
    from mamori.model import EnvVar, Loc, Val

    if isinstance(obj, Val):
        return _plain(obj.value)
    if isinstance(obj, Loc):
        return None
    if isinstance(obj, EnvVar):
        return {"name": obj.name, "from_secret": obj.from_secret,
                "value": None if obj.value is None else "sha256:" + hashlib.sha256(obj.value.encode()).hexdigest()[:16]}
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj) if f.name not in DROP_FIELDS}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)


def normalised_config(inspect_doc: Any) -> tuple[dict[str, Any], list[str]]:
    """(the container's model as plain data, input errors); the identity (file, name) is left out."""
    from mamori.sources.docker_api import load_inspect

    scan = load_inspect(inspect_doc, file="docker:container")
    if not scan.workloads:
        return {}, [str(e) for e in scan.errors]
    w = _plain(scan.workloads[0])
    assert isinstance(w, dict)
    w.pop("ident", None)
    for c in w.get("containers", []):
        c.pop("name", None)  # the container's name is its identity, not its configuration
    return w, [str(e) for e in scan.errors]


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"containers": [{"privileged": true}]}`` -> ``{"containers[0].privileged": true}``; empty containers kept."""
    out: dict[str, Any] = {}
    if isinstance(data, dict) and data:
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(data, list) and data:
        for i, v in enumerate(data):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = data
    return out


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    a, b = flatten(before), flatten(after)
    return [{"field": k, "before": a.get(k), "after": b.get(k)} for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)][:MAX_LIST]


def processes(top: Any) -> list[dict[str, Any]]:
    """``top`` output -> [{user, pid, cmd}] (bounded); unknown shapes give []."""
    if not isinstance(top, dict) or not isinstance(top.get("Titles"), list):
        return []
    titles = [str(t).upper() for t in top["Titles"]]
    idx = {name: titles.index(name) for name in ("UID", "USER", "PID", "CMD", "COMMAND") if name in titles}
    cmd_i = idx.get("CMD", idx.get("COMMAND"))
    user_i = idx.get("UID", idx.get("USER"))
    out = []
    for row in (top.get("Processes") or [])[:MAX_FILES]:
        if not isinstance(row, list) or cmd_i is None or cmd_i >= len(row):
            continue
        out.append({"user": str(row[user_i])[:64] if user_i is not None and user_i < len(row) else "",
                    "pid": str(row[idx["PID"]])[:16] if "PID" in idx and idx["PID"] < len(row) else "",
                    "cmd": str(row[cmd_i])[:1024]})
    return out


class _Chunks(io.RawIOBase):
    """A file over the archive stream that refuses to read past ``limit`` bytes."""

    def __init__(self, chunks: Iterable[bytes], limit: int) -> None:
        self._it: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self.limit = limit
        self.read_total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            nxt = next(self._it, None)
            if nxt is None:
                return 0
            self._buf = nxt
        n = min(len(b), len(self._buf))
        if self.read_total + n > self.limit:
            raise OverflowError(f"archive larger than {self.limit} bytes")
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self.read_total += n
        return n


def hash_archive(chunks: Iterable[bytes], path: str) -> dict[str, str]:
    """{absolute path: "sha256:..." | "dir" | "link:target" | "other"} of a ``get_archive`` tar stream.

    Raises OverflowError when the stream is over :data:`MAX_ARCHIVE` bytes or :data:`MAX_FILES` members.
    """
    parent = posixpath.dirname(path.rstrip("/")) or "/"
    out: dict[str, str] = {}
    with tarfile.open(fileobj=io.BufferedReader(_Chunks(chunks, MAX_ARCHIVE)), mode="r|") as tf:
        for m in tf:
            if len(out) >= MAX_FILES:
                raise OverflowError(f"more than {MAX_FILES} files")
            name = posixpath.normpath(posixpath.join(parent, m.name))
            if m.isreg():
                fh = tf.extractfile(m)
                h = hashlib.sha256()
                if fh is not None:
                    for block in iter(lambda f=fh: f.read(65536), b""):  # type: ignore[misc]
                        h.update(block)
                out[name] = f"sha256:{h.hexdigest()}"
            elif m.isdir():
                out[name] = "dir"
            elif m.issym() or m.islnk():
                out[name] = f"link:{m.linkname[:1024]}"
            else:
                out[name] = "other"
    return out


def watched_hashes(container: Any, paths: tuple[str, ...]) -> dict[str, Any]:
    """{watched path: {file: hash} | {"error": ...}} for a docker-py Container."""
    import docker.errors  # type: ignore[import-untyped]

    out: dict[str, Any] = {}
    for path in paths:
        try:
            chunks, _stat = container.get_archive(path)
            out[path] = {"files": hash_archive(chunks, path)}
        except docker.errors.NotFound:
            out[path] = {"files": {}, "missing": True}
        except (docker.errors.APIError, OverflowError, tarfile.TarError, OSError) as exc:
            out[path] = {"error": str(exc)[:300]}
    return out


def changes(diff: Any) -> list[dict[str, str]]:
    if not isinstance(diff, list):
        return []
    out = []
    for d in diff[: MAX_FILES * 10]:
        if isinstance(d, dict) and isinstance(d.get("Path"), str):
            out.append({"path": d["Path"][:4096], "kind": KINDS.get(d.get("Kind", -1), "unknown")})
    return out


def mount_targets(inspect_doc: Any) -> list[str]:
    mounts = inspect_doc.get("Mounts") if isinstance(inspect_doc, dict) else None
    return sorted({m["Destination"] for m in mounts or [] if isinstance(m, dict) and isinstance(m.get("Destination"),
                                                                                                   str)})


def _under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/") or "/"
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def capture(container: Any, watch_paths: tuple[str, ...]) -> dict[str, Any]:
    """A baseline (or the current state) of a docker-py Container: reloads it first."""
    import docker.errors

    container.reload()
    attrs = container.attrs
    config, errors = normalised_config(attrs)
    state: dict[str, Any] = {
        "image_id": attrs.get("Image"), "image": (attrs.get("Config") or {}).get("Image"),
        "config": config, "config_hash": digest(config), "errors": errors, "mounts": mount_targets(attrs),
        "watch_paths": list(watch_paths), "processes": [], "diff": [], "paths": {},
        "running": bool((attrs.get("State") or {}).get("Running")),
    }
    try:  # the registry digests the image was pulled by (none for a locally built image)
        digests = container.client.images.get(attrs.get("Image")).attrs.get("RepoDigests") or []
        state["image_digests"] = sorted(str(x)[:512] for x in digests)[:32]
    except (docker.errors.APIError, AttributeError) as exc:
        state["image_digests"] = []
        errors.append(f"image: {str(exc)[:300]}")
    if state["running"]:
        try:
            state["processes"] = processes(container.top())
        except docker.errors.APIError as exc:
            errors.append(f"top: {str(exc)[:300]}")
    try:
        state["diff"] = changes(container.diff())
    except docker.errors.APIError as exc:
        errors.append(f"diff: {str(exc)[:300]}")
    if watch_paths:
        state["paths"] = watched_hashes(container, watch_paths)
    return state


def compare(base: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The drift of ``now`` against ``base`` (both from :func:`capture`), precise and bounded."""
    report: dict[str, Any] = {"image": None, "config": [], "processes": {"new": []},
                              "files": {"added": [], "changed": [], "removed": []},
                              "filesystem": {"sensitive": [], "outside_volumes": []}, "errors": list(now["errors"]),
                              "running": bool(now.get("running"))}
    if base.get("image_id") != now.get("image_id"):  # the content; repo digests are the image's names, shown too
        report["image"] = {"before": base.get("image_id"), "after": now.get("image_id"),
                           "digests_before": base.get("image_digests", []),
                           "digests_after": now.get("image_digests", [])}
    if base.get("config_hash") != now.get("config_hash"):
        report["config"] = config_changes(base.get("config") or {}, now.get("config") or {})
    if now.get("running"):
        seen = {(p["user"], p["cmd"]) for p in base.get("processes", [])}
        report["processes"]["new"] = [p for p in now["processes"] if (p["user"], p["cmd"]) not in seen][:MAX_LIST]
    files = report["files"]
    for path in base.get("watch_paths", []):
        b = base.get("paths", {}).get(path, {})
        n = now.get("paths", {}).get(path, {})
        if "error" in b or "error" in n:
            report["errors"].append(f"{path}: {(n.get('error') or b.get('error'))}")
            continue
        bf, nf = b.get("files", {}), n.get("files", {})
        files["added"] += [{"path": p, "hash": nf[p]} for p in sorted(set(nf) - set(bf))]
        files["removed"] += [{"path": p, "hash": bf[p]} for p in sorted(set(bf) - set(nf))]
        files["changed"] += [{"path": p, "before": bf[p], "after": nf[p]} for p in sorted(set(bf) & set(nf))
                             if bf[p] != nf[p]]
    for k in files:
        files[k] = files[k][:MAX_LIST]
    before = {(c["path"], c["kind"]) for c in base.get("diff", [])}
    new = sorted((c for c in now.get("diff", []) if (c["path"], c["kind"]) not in before),
                 key=lambda c: (c["path"], c["kind"]))
    paths = [c["path"] for c in new]
    mounts = now.get("mounts", [])
    fs = report["filesystem"]
    for c in new:
        p = c["path"]
        # A directory marked changed only because something below it changed says nothing more.
        if c["kind"] == "changed" and any(q != p and _under(q, p) for q in paths):
            continue
        if any(_under(p, m) or _under(m, p) for m in mounts):
            continue  # a declared volume or its mount point
        fs["outside_volumes"].append(c)
        if any(_under(p, s) for s in (*SENSITIVE, *base.get("watch_paths", []))):
            fs["sensitive"].append(c)
    fs["outside_volumes"] = fs["outside_volumes"][:MAX_LIST]
    fs["sensitive"] = fs["sensitive"][:MAX_LIST]
    report["clean"] = not (report["image"] or report["config"] or report["processes"]["new"]
                           or any(files.values()) or fs["outside_volumes"])
    return report


def fingerprint(report: dict[str, Any]) -> str:
    """Stable across checks while the drift stays the same (process ids and error texts left out)."""
    data = {k: v for k, v in report.items() if k not in ("errors", "processes")}
    data["processes"] = sorted((p["user"], p["cmd"]) for p in report["processes"]["new"])
    return digest(data)


def summary(report: dict[str, Any]) -> list[str]:
    """Human lines for a report (text output and logs)."""
    if report.get("clean"):
        return ["no drift"]
    lines = []
    if report["image"]:
        lines.append(f"image changed: {report['image']['before']} -> {report['image']['after']}")
    for c in report["config"]:
        lines.append(f"config {c['field']}: {json.dumps(c['before'])} -> {json.dumps(c['after'])}")
    for p in report["processes"]["new"]:
        lines.append(f"new process: pid {p['pid']} user {p['user']}: {p['cmd']}")
    for kind in ("added", "changed", "removed"):
        for f in report["files"][kind]:
            lines.append(f"watched file {kind}: {f['path']}")
    for c in report["filesystem"]["sensitive"]:
        lines.append(f"sensitive path {c['kind']}: {c['path']}")
    for c in report["filesystem"]["outside_volumes"]:
        lines.append(f"written outside volumes ({c['kind']}): {c['path']} - lost on removal unless backed up "
                     "(CSA-3.1.15.1)")
    return lines
