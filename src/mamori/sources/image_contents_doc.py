"""Image contents snapshot document -> one :class:`~mamori.model.imagefs.ImageContents`.

``mamori image scan`` builds the same object from a real image; this document lets
``mamori scan`` judge a saved snapshot offline and is what the rule fixtures are written in::

    kind: ImageContents
    name: registry.example/app:1
    os: debian                # /etc/os-release ID, absent for none
    osPackages: dpkg          # dpkg, apk, rpm or "" (no package database)
    distroless: false
    runtimeLabel: false
    commandShell: false       # the image's Entrypoint/Cmd is a shell
    files: [{path: /bin/su, kind: file, mode: "4755", size: 1000, layer: 0, uid: 0, gid: 0}]
    secrets: [{path: /app/.env, layer: 1, detector: aws-access-key-id, title: AWS access key id,
               fingerprint: "sha256:1a2b… (20 chars)", confidence: high, line: 3, removed: false}]
    layers: [{size: 1048576, files: 12, createdBy: "COPY app /app"}]

Secret entries carry fingerprints only; a document never needs a secret value.
"""

from __future__ import annotations

from typing import Any

from mamori.model import Identity, InputError, Loc, ScanSet, SourceKind
from mamori.model.imagefs import DIR, FILE, SYMLINK, ImageContents, ImageFile, LayerInfo, SecretHit
from mamori.model.resources import Meta
from mamori.sources.docker_host_doc import parse_mode
from mamori.sources.yamldoc import Doc

KIND = "ImageContents"
MAX_ITEMS = 200_000
MAX_TEXT = 4096


def is_snapshot(data: object) -> bool:
    """``kind: ImageContents`` without ``apiVersion`` (so never a Kubernetes object)."""
    return isinstance(data, dict) and data.get("kind") == KIND and "apiVersion" not in data


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _str(v: object, default: str = "") -> str:
    return v[:MAX_TEXT] if isinstance(v, str) else default


def load(doc: Doc) -> ScanSet:
    """A snapshot document as one ImageContents; malformed entries become InputErrors."""
    out = ScanSet(files=[doc.file])
    data: Any = doc.data
    if not is_snapshot(data):
        out.errors.append(InputError(doc.file, doc.line, "not an ImageContents snapshot"))
        return out

    def err(ptr: str, message: str) -> None:
        out.errors.append(InputError(doc.file, doc.line_of(ptr), f"{ptr}: {message}"))

    def items(key: str) -> list[tuple[int, dict[str, Any]]]:
        got = data.get(key) or []
        if not isinstance(got, list):
            err(f"/{key}", "must be a list")
            return []
        res = []
        for i, item in enumerate(got[:MAX_ITEMS]):
            if isinstance(item, dict):
                res.append((i, item))
            else:
                err(f"/{key}/{i}", "must be an object")
        return res

    files: list[ImageFile] = []
    for i, f in items("files"):
        ptr = f"/files/{i}"
        path, kind = f.get("path"), f.get("kind", FILE)
        mode = parse_mode(f.get("mode", "0644"))
        size, layer = _int(f.get("size", 0)), _int(f.get("layer", 0))
        if not isinstance(path, str) or not path.startswith("/") or kind not in (FILE, DIR, SYMLINK) or \
                mode is None or size is None or layer is None:
            err(ptr, "a file needs an absolute path, kind (file, dir, symlink), an octal mode, size and layer")
            continue
        files.append(ImageFile(path[:MAX_TEXT], kind, layer, size, mode, doc.loc(ptr),
                               _int(f.get("uid", 0)) or 0, _int(f.get("gid", 0)) or 0))
    secrets: list[SecretHit] = []
    for i, s in items("secrets"):
        ptr = f"/secrets/{i}"
        path, layer, det, fp = s.get("path"), _int(s.get("layer", 0)), s.get("detector"), s.get("fingerprint")
        if not isinstance(path, str) or layer is None or not isinstance(det, str) or not isinstance(fp, str):
            err(ptr, "a secret needs path, layer, detector and fingerprint")
            continue
        secrets.append(SecretHit(path[:MAX_TEXT], layer, det[:200], _str(s.get("title"), det)[:200], fp[:200],
                                 _str(s.get("confidence"), "high"), doc.loc(ptr), _int(s.get("line", 0)) or 0,
                                 s.get("removed") is True))
    layers: list[LayerInfo] = []
    for i, lyr in items("layers"):
        ptr = f"/layers/{i}"
        size = _int(lyr.get("size", 0))
        if size is None:
            err(ptr, "size must be a number of bytes")
            continue
        layers.append(LayerInfo(i, size, _int(lyr.get("files", 0)) or 0, _str(lyr.get("createdBy")), doc.loc(ptr)))
    name = _str(data.get("name"), doc.file) or doc.file
    ident = Identity(SourceKind.DOCKER, doc.file, KIND, name, None, doc.line)
    root = Loc(doc.file, doc.line, "")
    os_id = data.get("os")
    out.resources.append(ImageContents(
        meta=Meta(ident, root), name=name, files=tuple(files), secrets=tuple(secrets), layers=tuple(layers),
        os_id=os_id[:200] if isinstance(os_id, str) and os_id else None,
        os_packages=_str(data.get("osPackages")), distroless=data.get("distroless") is True,
        runtime_label=data.get("runtimeLabel") is True, command_shell=data.get("commandShell") is True,
        total_files=len(files)))
    return out
