"""Read an image once and build its :class:`~mamori.model.imagefs.ImageContents` and config model.

``mamori.image.load`` keeps only the final filesystem view: a file that a later layer deletes
is gone from it. Secrets must be found in *every* layer, so text files are scanned as they
stream past (a ``Probe`` run by the same single pass) and each hit is recorded with the layer
it was read from; the open-layer hook of the image says which layer is streaming. A hit whose
path is absent from the final view, or present from another layer, was deleted or replaced.

Only redacted fingerprints are kept - never a file's bytes or a secret's value.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from mamori.image import Capture, FsView, Image, Loaded, Probe, load
from mamori.image.fsview import DIR as VIEW_DIR
from mamori.image.fsview import FILE as VIEW_FILE
from mamori.image.fsview import SYMLINK as VIEW_SYMLINK
from mamori.image.limits import Limits
from mamori.image.reference import Platform
from mamori.image.registry import RegistryOptions
from mamori.model import Identity, Loc, SourceKind
from mamori.model.imagefs import (
    SHELLS,
    ImageContents,
    ImageFile,
    LayerInfo,
    SecretHit,
    cache_root,
    credential_file,
    interesting_tool,
)
from mamori.model.resources import Meta
from mamori.secrets import DETECTORS, Confidence, detect, fingerprint

MAX_SECRET_FILE = 256 * 1024  # the detectors read at most this much of a value anyway
MAX_NAMED_FILE = 64 * 1024  # key=value files judged by their keys too (.env, credentials)
MAX_HITS = 2000
MAX_FILES = 50_000  # interesting paths kept for the rules
MAX_PER_CACHE = 5000
SKIP_PREFIXES = (
    "/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/share/locale/", "/usr/share/i18n/",
    "/usr/share/zoneinfo/", "/usr/share/terminfo/", "/usr/share/common-licenses/", "/usr/include/",
    "/var/lib/dpkg/", "/var/lib/apt/lists/", "/var/cache/", "/proc/", "/sys/", "/usr/share/perl",
    "/usr/lib/locale/",
)
SKIP_EXTENSIONS = (
    ".so", ".a", ".o", ".pyc", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".gz", ".xz", ".bz2", ".zst", ".zip",
    ".jar", ".whl", ".deb", ".rpm", ".apk", ".mo", ".ttf", ".otf", ".woff", ".woff2", ".wasm", ".class", ".db",
    ".sqlite",
)
KEYED_EXTENSIONS = (".env", ".properties", ".ini", ".cfg", ".conf", ".toml", ".yaml", ".yml", ".json", ".npmrc",
                    ".pypirc", ".netrc", ".pgpass", "credentials", ".git-credentials")
RUNTIME_WORDS = ("distroless",)
_UNNAMED = tuple(d for d in DETECTORS if d.name_check is None)
# Literals that each detector's match must contain (lower case; checked in the lower-cased text) so
# most files skip most regexes, as gitleaks' keywords do. A detector not listed always runs.
PREFILTER: dict[str, tuple[str, ...]] = {
    "aws-access-key-id": ("akia", "asia", "abia", "acca"), "gcp-api-key": ("aiza",),
    "azure-storage-key": ("accountkey", "sharedaccesskey"), "azure-ad-client-secret": ("q~",),
    "github-token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), "github-fine-grained-pat": ("github_pat_",),
    "gitlab-token": ("gl", "gr1348941"), "slack-token": ("xox",), "stripe-secret-key": ("_live_",),
    "sendgrid-api-key": ("sg.",), "npm-token": ("npm_",), "jwt": ("eyj",), "url-password": ("://",),
}


@dataclass(frozen=True, slots=True)
class Found:
    detector: str
    title: str
    fingerprint: str
    confidence: str
    line: int


@dataclass
class _State:
    layer: int = 0
    layer_bytes: dict[int, int] = field(default_factory=dict)
    layer_files: dict[int, int] = field(default_factory=dict)
    hits: list[tuple[int, str, tuple[Found, ...]]] = field(default_factory=list)
    scanned: int = 0


def wants_text(path: str, size: int) -> bool:
    """Files worth a secret scan: small, not documentation, not an obviously binary format."""
    if size <= 0 or size > MAX_SECRET_FILE or path.startswith(SKIP_PREFIXES):
        return False
    base = posixpath.basename(path).lower()
    return not (base.endswith(SKIP_EXTENSIONS) or ".so." in base)


def scan_text(path: str, text: str) -> tuple[Found, ...]:
    """Known credential formats anywhere; keyed files (.env, credentials...) are also judged by their keys."""
    found: dict[tuple[str, str, int], Found] = {}
    low = text.lower()
    for d in _UNNAMED:
        keys = PREFILTER.get(d.id)
        if keys is not None and not any(k in low for k in keys):
            continue
        for secret, start, _ in d.spans(None, text):
            line = text.count("\n", 0, start) + 1
            fp = fingerprint(secret)
            found.setdefault((d.id, fp, line), Found(d.id, d.title, fp, d.confidence_of(secret).value, line))
    base = posixpath.basename(path)
    if len(text) <= MAX_NAMED_FILE and (base.lower().endswith(KEYED_EXTENSIONS) or credential_file(path)):
        for m in detect(base, text):
            if m.confidence in (Confidence.HIGH, Confidence.MEDIUM):
                key = (m.detector, m.fingerprint, m.line)
                if not any(k[1] == m.fingerprint for k in found):
                    found.setdefault(key, Found(m.detector, m.title, m.fingerprint, m.confidence.value, m.line))
    return tuple(found.values())


def _probes(state: _State) -> tuple[Probe, ...]:
    def tally(path: str, size: int, mode: int) -> bool:
        state.layer_bytes[state.layer] = state.layer_bytes.get(state.layer, 0) + size
        state.layer_files[state.layer] = state.layer_files.get(state.layer, 0) + 1
        return False

    def run(path: str, stream: IO[bytes], size: int) -> object | None:
        data = stream.read(MAX_SECRET_FILE + 1)
        if b"\x00" in data[:8192]:
            return None  # binary
        state.scanned += 1
        hits = scan_text(path, data.decode("utf-8", "replace"))
        if hits and len(state.hits) < MAX_HITS:
            state.hits.append((state.layer, path, hits))
        return None  # nothing is kept in the view; hits are recorded with their layer

    return (Probe("mamori.tally", tally, lambda p, s, n: None),
            Probe("mamori.secrets", lambda p, s, m: wants_text(p, s), run))


def load_with_contents(ref: str, platform: Platform | None = None, limits: Limits | None = None,
                       registry: RegistryOptions | None = None, docker_host: str | None = None,
                       while_waiting: Callable[[], None] | None = None) -> tuple[Loaded, ImageContents]:
    """Like :func:`mamori.image.load` (one pass: view and inventory), plus the image contents."""
    state = _State()

    def at(index: int) -> None:
        state.layer = index

    loaded = load(ref, platform, limits, registry, docker_host, extra=Capture(probes=_probes(state), on_layer=at),
                  while_waiting=while_waiting)
    return loaded, build_contents(loaded, state)


def _config(image: Image) -> dict[str, Any]:
    cfg = image.config.raw.get("config")
    return cfg if isinstance(cfg, dict) else {}


def command_is_shell(cfg: dict[str, Any]) -> bool:
    """Entrypoint+Cmd start a bare shell (not ``sh -c PROGRAM``): the image is meant to give a shell."""
    words: list[str] = []
    for key in ("Entrypoint", "Cmd"):
        v = cfg.get(key)
        if isinstance(v, list):
            words.extend(w for w in v if isinstance(w, str))
    if words and posixpath.basename(words[0]) == "busybox":
        words = words[1:]  # a multi-call binary: its first argument names the applet
        if not words:
            return True
    return bool(words) and posixpath.basename(words[0]) in SHELLS and "-c" not in words[1:]


def _layers(image: Image, state: _State, where: str) -> tuple[LayerInfo, ...]:
    history = image.config.raw.get("history")
    steps = [h.get("created_by", "") for h in history if isinstance(h, dict) and h.get("empty_layer") is not True] \
        if isinstance(history, list) else []
    out = []
    for layer in image.layers:
        made = steps[layer.index] if layer.index < len(steps) and isinstance(steps[layer.index], str) else ""
        out.append(LayerInfo(layer.index, state.layer_bytes.get(layer.index, 0), state.layer_files.get(layer.index, 0),
                             made[:512], Loc(where, 0, f"/layers/{layer.index}")))
    return tuple(out)


def _files(view: FsView, where: str) -> list[ImageFile]:
    out: list[ImageFile] = []
    per_cache: dict[str, int] = {}
    for e in view.entries.values():
        if len(out) >= MAX_FILES:
            break
        mode = e.mode & 0o7777
        keep = bool(
            (e.kind in (VIEW_FILE, VIEW_SYMLINK) and interesting_tool(e.path))
            or (e.kind == VIEW_FILE and (mode & 0o6000 or credential_file(e.path)))
            or (e.kind == VIEW_DIR and mode & 0o002 and not mode & 0o1000))
        if not keep and e.kind == VIEW_FILE:
            root = cache_root(e.path)
            if root is not None and per_cache.get(root, 0) < MAX_PER_CACHE:
                per_cache[root] = per_cache.get(root, 0) + 1
                keep = True
        if keep:
            kind = {VIEW_FILE: "file", VIEW_DIR: "dir", VIEW_SYMLINK: "symlink"}.get(e.kind, "file")
            out.append(ImageFile(e.path, kind, e.layer, e.size, mode, Loc(where, 0, e.path), e.uid, e.gid))
    return out


def _secrets(view: FsView, state: _State, where: str) -> list[SecretHit]:
    final: set[tuple[str, str]] = set()
    out: list[SecretHit] = []
    ordered = sorted(state.hits, key=lambda h: -h[0])  # top layer first, so final hits are known first
    for layer, path, hits in ordered:
        e = view.entries.get(path)
        removed = e is None or e.layer != layer
        for h in hits:
            if removed and (path, h.fingerprint) in final:
                continue  # the same secret at the same path is still in the final file: reported once
            if not removed:
                final.add((path, h.fingerprint))
            out.append(SecretHit(path, layer, h.detector, h.title, h.fingerprint, h.confidence,
                                 Loc(where, 0, path), h.line, removed))
    return sorted(out, key=lambda s: (s.layer, s.path, s.line))


def build_contents(loaded: Loaded, state: _State) -> ImageContents:
    image, view, inv = loaded.image, loaded.view, loaded.inventory
    where = image.name
    entries = view.entries
    if "/var/lib/dpkg/status" in entries:
        pkgs = "dpkg"
    elif "/lib/apk/db/installed" in entries:
        pkgs = "apk"
    elif any(p in entries for p in ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite",
                                    "/var/lib/rpm/Packages")):
        pkgs = "rpm"
    else:
        pkgs = ""
    cfg = _config(image)
    labels = cfg.get("Labels") if isinstance(cfg.get("Labels"), dict) else {}
    assert isinstance(labels, dict)
    base = str(labels.get("org.opencontainers.image.base.name", "")).lower()
    ident = Identity(SourceKind.DOCKER, where, "ImageContents", image.name, None, 0)
    return ImageContents(
        meta=Meta(ident, Loc(where, 0, "")), name=image.name, files=tuple(_files(view, where)),
        secrets=tuple(_secrets(view, state, where)), layers=_layers(image, state, where),
        os_id=inv.os.id if inv.os else None, os_packages=pkgs,
        distroless="/var/lib/dpkg/status.d" in entries and "/var/lib/dpkg/status" not in entries,
        runtime_label=any(w in base for w in RUNTIME_WORDS), command_shell=command_is_shell(cfg),
        total_files=len(entries))
