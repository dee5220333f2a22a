"""``docker save`` archives (``docker-archive:PATH``), legacy and Docker ≥25 (OCI inside) alike.

``manifest.json`` is authoritative; layer paths are resolved literally inside the tar (following
the archive's own symlinks, never leaving it). Layers are checked against the config's diff_ids,
and the config against the image ID it is named by.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import tarfile
from typing import IO, Any, cast

from mamori.image import mediatypes as mt
from mamori.image.errors import ImageError
from mamori.image.image import Image
from mamori.image.limits import Limits
from mamori.image.manifest import Config, Layer, load_json
from mamori.image.reference import Platform
from mamori.image.region import FileRegion

_HEX = re.compile(r"([a-f0-9]{64})")
_MAX_HOPS = 16


class Archive:
    def __init__(self, fileobj: IO[bytes] | None = None, path: str | None = None) -> None:
        try:
            self.tar = tarfile.open(name=path, fileobj=fileobj, mode="r:*")  # noqa: SIM115 - closed by close()
            self.members = {posixpath.normpath(m.name.lstrip("./")) if m.name not in (".", "./") else ".": m
                            for m in self.tar.getmembers()}
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise ImageError(f"not a readable docker save archive: {exc}") from None

    def member(self, name: str) -> tarfile.TarInfo:
        cur = posixpath.normpath(name.lstrip("/"))
        for _ in range(_MAX_HOPS):
            m = self.members.get(cur)
            if m is None:
                raise ImageError(f"archive has no member {name!r}")
            if not m.issym() and not m.islnk():
                return m
            base = posixpath.dirname(cur) if m.issym() else ""
            cur = posixpath.normpath(posixpath.join(base, m.linkname))
            if cur.startswith("../") or cur == ".." or cur.startswith("/"):
                raise ImageError(f"archive member {name!r} links outside the archive")
        raise ImageError(f"archive member {name!r}: too many links")

    def open(self, name: str) -> IO[bytes]:
        m = self.member(name)
        fo = self.tar.fileobj
        if m.isreg() and not m.sparse and isinstance(fo, (io.BufferedReader, io.BufferedRandom, io.FileIO)):
            return cast(IO[bytes], FileRegion(fo, m.offset_data, m.size))  # an uncompressed archive on disk
        fh = self.tar.extractfile(m)
        if fh is None:
            raise ImageError(f"archive member {name!r} is not a file")
        return fh

    def read(self, name: str, limit: int) -> bytes:
        m = self.member(name)
        if m.size > limit:
            raise ImageError(f"archive member {name!r} is larger than {limit} bytes")
        return self.open(name).read()

    def close(self) -> None:
        self.tar.close()


def open_archive(source: IO[bytes] | str, name: str, platform: Platform | None, limits: Limits,
                 want_tag: str | None = None, scheme: str = "docker-archive") -> Image:
    arc = Archive(path=source) if isinstance(source, str) else Archive(fileobj=source)
    try:
        return _image(arc, name, platform, limits, want_tag, scheme)
    except BaseException:
        arc.close()
        raise


def _image(arc: Archive, name: str, platform: Platform | None, limits: Limits, want_tag: str | None,
           scheme: str) -> Image:
    import json

    try:
        entries = json.loads(arc.read("manifest.json", limits.max_manifest))
    except ValueError as exc:
        raise ImageError(f"{name}: manifest.json is not valid JSON: {exc}") from None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ImageError(f"{name}: manifest.json is not a list of images")
    entry = _choose(entries, want_tag, name)
    cfg_path, layer_paths = entry.get("Config"), entry.get("Layers")
    if not isinstance(cfg_path, str) or not isinstance(layer_paths, list) or \
            not all(isinstance(p, str) for p in layer_paths):
        raise ImageError(f"{name}: manifest.json entry without Config or Layers")
    if len(layer_paths) > limits.max_layers:
        raise ImageError(f"{name}: more than {limits.max_layers} layers")
    raw = arc.read(cfg_path, limits.max_config)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    named = _HEX.search(posixpath.basename(cfg_path))
    if named and named.group(1) != digest.split(":")[1]:
        raise ImageError(f"{name}: config {cfg_path} does not hash to its name (got {digest})")
    config = Config(digest, load_json(raw, f"config of {name}"))
    diff_ids = config.diff_ids
    if len(diff_ids) != len(layer_paths):
        raise ImageError(f"{name}: {len(layer_paths)} layers but {len(diff_ids)} diff_ids in the config")
    if platform and (config.platform.os, config.platform.architecture) != (platform.os, platform.architecture):
        raise ImageError(f"{name} is {config.platform}, not the requested {platform}")
    layers = []
    for i, p in enumerate(layer_paths):
        m = arc.member(p)
        blob = re.fullmatch(r"blobs/(sha256)/([a-f0-9]{64})", posixpath.normpath(p))
        layers.append(Layer(i, f"{blob.group(1)}:{blob.group(2)}" if blob else None, diff_ids[i],
                            "application/vnd.docker.image.rootfs.diff.tar", m.size if blob else None, path=p))

    def open_layer(layer: Layer) -> IO[bytes]:
        assert layer.path is not None
        return arc.open(layer.path)

    img = Image(name, scheme, None, mt.DOCKER_MANIFEST, config, tuple(layers), open_layer,
                tuple(arc.member(p).size for p in layer_paths))
    img.closers.append(arc.close)
    return img


def _choose(entries: list[dict[str, Any]], want_tag: str | None, name: str) -> dict[str, Any]:
    if want_tag:
        for e in entries:
            tags = e.get("RepoTags") or []
            if want_tag in tags or any(t.endswith(f"/{want_tag}") for t in tags):
                return e
    if len(entries) == 1:
        return entries[0]
    tags = sorted(t for e in entries for t in (e.get("RepoTags") or []) if isinstance(t, str))
    raise ImageError(f"{name} holds {len(entries)} images; name one of: {', '.join(tags) or 'untagged'}")
