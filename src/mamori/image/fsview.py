"""The merged filesystem of an image, built from layer streams without unpacking anything.

Each layer is read once, in order. Whiteouts (``.wh.NAME``) and opaque directories
(``.wh..wh..opq``) hide lower-layer paths, as overlayfs does. Contents are kept only for files a
cataloger asked for (``Capture``), bounded; hostile members (traversal, absolute paths, hardlinks
to nowhere, device nodes) are refused and recorded, never silently dropped.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import IO

from mamori.image.errors import ImageError
from mamori.image.layers import LayerStream
from mamori.image.limits import Limits
from mamori.image.tarstream import Member

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_SYMLINK_HOPS = 40

FILE, DIR, SYMLINK, HARDLINK = "file", "dir", "symlink", "hardlink"


@dataclass(frozen=True, slots=True)
class Entry:
    """One path of the final filesystem: which layer put it there and its tar metadata."""

    path: str  # absolute, normalised: "/usr/bin/env"
    kind: str  # FILE, DIR, SYMLINK (hardlinks become FILE with ``link`` set)
    layer: int
    size: int
    mode: int
    uid: int
    gid: int
    link: str = ""  # symlink target as written, or the hardlink's source path


@dataclass(frozen=True, slots=True)
class Refusal:
    layer: int
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Probe:
    """Reads a file's content while it streams past and keeps a small summary instead of the bytes."""

    name: str
    wants: Callable[[str, int, int], bool]  # path, size, mode
    run: Callable[[str, IO[bytes], int], object | None]  # path, stream, size -> summary


@dataclass(frozen=True, slots=True)
class Capture:
    keep: Callable[[str, int], bool] = lambda path, size: False  # keep these files' bytes
    probes: tuple[Probe, ...] = ()
    on_layer: Callable[[int], None] | None = None  # told each layer's index before it streams


@dataclass
class FsView:
    """path → Entry of the final filesystem, plus kept contents, probe summaries and refusals."""

    entries: dict[str, Entry] = field(default_factory=dict)
    content: dict[str, bytes] = field(default_factory=dict)
    probes: dict[str, dict[str, object]] = field(default_factory=dict)  # probe name → path → summary
    refusals: list[Refusal] = field(default_factory=list)
    refused: int = 0
    notes: list[str] = field(default_factory=list)  # things read partially (sizes over the bounds)
    _children: dict[str, set[str]] = field(default_factory=dict)
    _captured: int = 0

    # --- reading -------------------------------------------------------------------------
    def resolve(self, path: str, follow_last: bool = True) -> str | None:
        """Follow symlinks inside the image root (``..`` stops at ``/``); None if dangling or looping."""
        parts = [p for p in path.split("/") if p and p != "."]
        done = "/"
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                done = posixpath.dirname(done) or "/"
                continue
            cur = posixpath.join(done, part)
            e = self.entries.get(cur)
            if e is None:
                return None
            if e.kind == SYMLINK and (parts or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    return None
                target = [p for p in e.link.split("/") if p and p != "."]
                if e.link.startswith("/"):
                    done = "/"
                parts = target + parts
                continue
            done = cur
        return done

    def get(self, path: str) -> Entry | None:
        real = self.resolve(path)
        return self.entries.get(real) if real else None

    def read(self, path: str) -> bytes | None:
        """The kept content of a file (through symlinks), or None if absent or not kept."""
        real = self.resolve(path)
        return self.content.get(real) if real else None

    def files(self) -> Iterator[Entry]:
        return (e for e in self.entries.values() if e.kind == FILE)

    def summaries(self, probe: str) -> dict[str, object]:
        return self.probes.get(probe, {})

    # --- building ------------------------------------------------------------------------
    def _refuse(self, layer: int, path: str, reason: str, limits: Limits) -> None:
        self.refused += 1
        if len(self.refusals) < limits.max_refusals_kept:
            self.refusals.append(Refusal(layer, path[:512], reason))

    def _remove_tree(self, path: str) -> None:
        e = self.entries.pop(path, None)
        self.content.pop(path, None)
        for summaries in self.probes.values():
            summaries.pop(path, None)
        if e is not None:
            parent = posixpath.dirname(path)
            self._children.get(parent, set()).discard(posixpath.basename(path))
        for child in list(self._children.pop(path, ())):
            self._remove_tree(posixpath.join(path, child))

    def _add(self, e: Entry) -> None:
        old = self.entries.get(e.path)
        if old is not None and old.kind == DIR and e.kind != DIR:
            self._remove_tree(e.path)
        # make sure parents exist (tar streams may omit directory entries)
        parent, _, child = e.path.rpartition("/")
        parent = parent or "/"
        while True:
            self._children.setdefault(parent, set()).add(child)
            if parent == "/" or parent in self.entries:
                break
            self.entries[parent] = Entry(parent, DIR, e.layer, 0, 0o755, 0, 0)
            up, _, child = parent.rpartition("/")
            parent = up or "/"
        self.entries[e.path] = e


def normalise(name: str) -> str | None:
    """A tar member name as an absolute image path; None for the root; ImageError-free."""
    name = name.strip("\x00")
    if name in ("", ".", "./", "/"):
        return None
    while name.startswith("./"):
        name = name[2:]
    if name and name[0] not in "./" and "/." not in name and "//" not in name:
        return "/" + name.rstrip("/")  # nothing to normalise (most members): no ".", ".." or empty parts
    if name.startswith("/"):
        raise ValueError("absolute path")
    parts = [p for p in name.split("/") if p and p != "."]
    if ".." in parts:
        raise ValueError("path traversal (..)")
    if not parts:
        return None
    return "/" + "/".join(parts)


@dataclass
class _Pending:
    entries: list[tuple[Entry, bytes | None, dict[str, object]]] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)


def apply_layer(view: FsView, index: int, stream: LayerStream, capture: Capture, limits: Limits) -> None:
    """Read one layer stream into ``view``; the stream is drained and verified at the end."""
    pending = _Pending()
    layer_paths: dict[str, Entry] = {}
    count = 0
    try:
        for member in stream.members():
            count += 1
            if count > limits.max_entries:
                raise ImageError(f"{stream.what}: more than {limits.max_entries} entries; refused")
            _member(view, index, stream, member, pending, layer_paths, capture, limits)
        stream.finish()
    finally:
        stream.close()
    # Opaque directories and whiteouts act on lower layers only, before this layer's own entries.
    for d in pending.opaque:
        for child in list(view._children.get(d, ())):
            view._remove_tree(posixpath.join(d, child))
    for w in pending.whiteouts:
        view._remove_tree(w)
    for e, data, summaries in pending.entries:
        real = _real_path(view, e.path)
        if real is None:
            view._refuse(index, e.path, "parent is a dangling or looping symlink", limits)
            continue
        if real != e.path:  # written through a symlinked directory: lands where the link points, inside
            e = replace(e, path=real)
        view._add(e)
        view.content.pop(e.path, None)
        for s in view.probes.values():
            s.pop(e.path, None)
        if data is not None:
            view.content[e.path] = data
        for name, summary in summaries.items():
            view.probes.setdefault(name, {})[e.path] = summary


def _real_path(view: FsView, path: str) -> str | None:
    """Where a member lands: its parent resolved through symlinks of the view, confined to the root.

    A runtime applying ``etc/passwd`` over a lower ``etc -> /elsewhere`` writes through the link
    (containerd resolves it inside the root); the view does the same instead of keeping both.
    """
    parent = path.rpartition("/")[0] or "/"
    cur = parent
    while cur != "/" and cur not in view.entries:
        cur = posixpath.dirname(cur)
    if cur == "/" or view.entries[cur].kind == DIR:
        return path  # the existing ancestor is a real directory: nothing to follow
    real = view.resolve(cur)
    if real is None or (real in view.entries and view.entries[real].kind != DIR):
        return None
    rest = parent[len(cur):].lstrip("/")
    return posixpath.join(real, rest, posixpath.basename(path)) if rest else \
        posixpath.join(real, posixpath.basename(path))


def _member(view: FsView, index: int, stream: LayerStream, m: Member, pending: _Pending,
            layer_paths: dict[str, Entry], capture: Capture, limits: Limits) -> None:
    if len(m.name) > limits.max_path:
        view._refuse(index, m.name, f"path longer than {limits.max_path} bytes", limits)
        return
    try:
        path = normalise(m.name)
    except ValueError as exc:
        view._refuse(index, m.name, str(exc), limits)
        return
    if path is None:
        return
    parent, _, base = path.rpartition("/")
    if base.startswith(WHITEOUT):
        parent = parent or "/"
        if base == OPAQUE:
            pending.opaque.append(parent)
        else:
            pending.whiteouts.append(posixpath.join(parent, base[len(WHITEOUT):]))
        return
    if m.isreg():  # most members; the type checks below exclude each other, so their order is free
        e = Entry(path, FILE, index, m.size, m.mode, m.uid, m.gid)
        layer_paths[path] = e
        data, summaries = _capture(view, stream, m, path, capture, limits)
        pending.entries.append((e, data, summaries))
        return
    if m.isdev():
        view._refuse(index, path, "device node or FIFO", limits)
        return
    if m.sparse:
        view._refuse(index, path, "sparse file (not written by image builders; its data is not read)", limits)
        return
    if m.isdir():
        e = Entry(path, DIR, index, 0, m.mode, m.uid, m.gid)
        layer_paths[path] = e
        pending.entries.append((e, None, {}))
        return
    if m.issym():
        e = Entry(path, SYMLINK, index, 0, m.mode, m.uid, m.gid, m.linkname)
        layer_paths[path] = e
        pending.entries.append((e, None, {}))
        return
    if m.islnk():
        _hardlink(view, index, m, path, pending, layer_paths, limits)
        return
    view._refuse(index, path, f"unsupported tar member type {m.type!r}", limits)


def _hardlink(view: FsView, index: int, m: Member, path: str, pending: _Pending,
              layer_paths: dict[str, Entry], limits: Limits) -> None:
    try:
        target = normalise(m.linkname)
    except ValueError as exc:
        view._refuse(index, path, f"hardlink escapes the image: {exc}", limits)
        return
    src = layer_paths.get(target) if target else None
    if src is None and target is not None:
        src = view.entries.get(target)
    if src is None or src.kind != FILE:
        view._refuse(index, path, f"hardlink to a missing or non-regular target {m.linkname[:200]!r}", limits)
        return
    data: bytes | None = None
    summaries: dict[str, object] = {}
    for e, d, s in reversed(pending.entries):
        if e.path == target:
            data, summaries = d, s
            break
    else:
        data = view.content.get(src.path)
        summaries = {n: v[src.path] for n, v in view.probes.items() if src.path in v}
    e = Entry(path, FILE, index, src.size, m.mode, m.uid, m.gid, src.path)
    layer_paths[path] = e
    pending.entries.append((e, data, dict(summaries)))


def _capture(view: FsView, stream: LayerStream, m: Member, path: str, capture: Capture,
             limits: Limits) -> tuple[bytes | None, dict[str, object]]:
    keep = capture.keep(path, m.size)
    probes = [p for p in capture.probes if p.wants(path, m.size, m.mode)]
    if not keep and not probes:
        return None, {}
    if keep and m.size > limits.max_file_capture:
        view.notes.append(f"{path}: {m.size} bytes, over the {limits.max_file_capture}-byte bound; not read")
        keep = False
    if keep and view._captured + m.size > limits.max_capture_total:
        view.notes.append(f"{path}: the total content bound ({limits.max_capture_total} bytes) is reached; not read")
        keep = False
    if probes and m.size > limits.max_probe_file:
        view.notes.append(f"{path}: {m.size} bytes, over the {limits.max_probe_file}-byte probe bound; not read")
        probes = []
    if not keep and not probes:
        return None, {}
    summaries: dict[str, object] = {}
    data = stream.member_data(m) if keep or not stream.plain else None  # a stream can be read only once
    for p in probes:
        try:
            out = p.run(path, io.BytesIO(data) if data is not None else stream.member_file(m), m.size)
        except Exception as exc:  # noqa: BLE001 - a probe failing on hostile content must not stop the read
            view.notes.append(f"{path}: {p.name} could not read it: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if out is not None:
            summaries[p.name] = out
    if keep and data is not None:
        view._captured += len(data)
        return data, summaries
    return None, summaries
