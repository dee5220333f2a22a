"""Writing a bundle: every artifact is hashed as it is written, and only ever inside the bundle root.

The root is created fresh (mode 0700: memory images and environments are secrets) and never
reused, so no earlier file or link can be in the way; files are opened with ``O_EXCL`` and
``O_NOFOLLOW`` all the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mamori.forensics.errors import ForensicsError
from mamori.forensics.paths import RESERVED, check_rel

JSON = "application/json"
JSONL = "application/x-ndjson"
TEXT = "text/plain; charset=utf-8"
TAR = "application/x-tar"
BINARY = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Artifact:
    """One file of the bundle as the manifest lists it."""

    path: str
    sha256: str
    size: int
    media_type: str
    kind: str  # what it is: inspect, logs.stdout, file, export, ...
    acquired_at: str  # UTC RFC 3339, when its collection finished
    source: dict[str, Any] = field(default_factory=dict)  # API endpoint and parameters, container path, ...

    def entry(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "media_type": self.media_type,
                "kind": self.kind, "acquired_at": self.acquired_at, "source": self.source}


def utc_now() -> str:
    """UTC RFC 3339 with microseconds, as the audit log writes it (without importing its database layer)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def dump_json(obj: object) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode()


class BundleWriter:
    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(mode=0o700)
        except FileExistsError:
            raise ForensicsError(f"{root} already exists: a bundle is never written over") from None
        except OSError as exc:
            raise ForensicsError(f"cannot create {root}: {exc.strerror or exc}") from None
        self.artifacts: list[Artifact] = []
        self._paths: set[str] = set()

    def _open(self, rel: str) -> int:
        why = check_rel(rel)
        if why or rel in RESERVED or rel in self._paths:
            raise ForensicsError(f"refusing artifact path {rel!r}: {why or 'reserved or already used'}")
        target = self.root / rel
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if target.parent.is_symlink() or not target.parent.resolve().is_relative_to(self.root.resolve()):
            raise ForensicsError(f"refusing artifact path {rel!r}: leaves the bundle")
        self._paths.add(rel)
        return os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)

    def _add(self, rel: str, digest: str, size: int, media_type: str, kind: str,
             source: dict[str, Any]) -> Artifact:
        a = Artifact(rel, digest, size, media_type, kind, utc_now(), source)
        self.artifacts.append(a)
        return a

    def put_bytes(self, rel: str, data: bytes, media_type: str, kind: str,
                  source: dict[str, Any] | None = None) -> Artifact:
        with os.fdopen(self._open(rel), "wb") as fh:
            fh.write(data)
        return self._add(rel, hashlib.sha256(data).hexdigest(), len(data), media_type, kind, source or {})

    def put_json(self, rel: str, obj: object, kind: str, source: dict[str, Any] | None = None) -> Artifact:
        return self.put_bytes(rel, dump_json(obj), JSON, kind, source)

    def put_stream(self, rel: str, chunks: Iterable[bytes], limit: int, media_type: str, kind: str,
                   source: dict[str, Any] | None = None, *, keep_truncated: bool) -> Artifact | None:
        """Write at most ``limit`` bytes; beyond it, keep the prefix (marked truncated) or drop the file (None)."""
        src = dict(source or {})
        h = hashlib.sha256()
        size = 0
        truncated = False
        path = self.root / rel
        with os.fdopen(self._open(rel), "wb") as fh:
            for chunk in chunks:
                if size + len(chunk) > limit:
                    chunk = chunk[:limit - size]
                    truncated = True
                fh.write(chunk)
                h.update(chunk)
                size += len(chunk)
                if truncated:
                    break
        if truncated and not keep_truncated:
            path.unlink()
            self._paths.discard(rel)
            return None
        if truncated:
            src["truncated_at"] = limit
        return self._add(rel, h.hexdigest(), size, media_type, kind, src)

    def adopt_tree(self, rel_dir: str, media_type: str, kind: str, source: dict[str, Any],
                   max_files: int = 100_000) -> list[Artifact]:
        """Hash the regular files another process wrote under ``rel_dir`` (a CRIU checkpoint); refuse anything else."""
        out: list[Artifact] = []
        base = self.root / rel_dir
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            for name in sorted(filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]):
                full = Path(dirpath) / name
                rel = full.relative_to(self.root).as_posix()
                if not full.is_file() or full.is_symlink() or check_rel(rel):
                    full.unlink()
                    raise ForensicsError(f"{rel}: not a regular file, removed from the bundle")
                if len(out) >= max_files:
                    raise ForensicsError(f"{rel_dir}: more than {max_files} files")
                h = hashlib.sha256()
                size = 0
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
                        size += len(block)
                os.chmod(full, 0o600)
                out.append(Artifact(rel, h.hexdigest(), size, media_type, kind, utc_now(), source))
        self._paths.update(a.path for a in out)
        self.artifacts += out  # all or nothing: a refused tree adds no artifact
        return out
