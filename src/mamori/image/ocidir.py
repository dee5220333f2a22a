"""OCI image layout directories (``oci-dir:PATH[:TAG]``): index.json, blobs/<alg>/<hex>."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, cast

from mamori.image.digest import parse, verify
from mamori.image.errors import ImageError
from mamori.image.image import Image, resolve
from mamori.image.limits import Limits
from mamori.image.manifest import Descriptor, index_entries, load_json
from mamori.image.reference import Platform
from mamori.image.region import FileRegion


class OciDir:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        alg, hexd = parse(digest)
        return self.root / "blobs" / alg / hexd

    def blob(self, digest: str, size: int | None, limit: int, what: str) -> bytes:
        p = self._path(digest)
        try:
            with p.open("rb") as fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            raise ImageError(f"{what}: cannot read {p}: {exc.strerror or exc}") from None
        if len(data) > limit:
            raise ImageError(f"{what} is larger than {limit} bytes")
        if size is not None and len(data) != size:
            raise ImageError(f"{what}: size {len(data)} does not match the descriptor's {size}")
        verify(data, digest, what)
        return data

    def stream(self, digest: str, size: int | None, what: str) -> IO[bytes]:
        try:
            return cast(IO[bytes], FileRegion.of_file(self._path(digest).open("rb")))
        except OSError as exc:
            raise ImageError(f"{what}: cannot open blob: {exc.strerror or exc}") from None


def split_target(target: str) -> tuple[Path, str | None]:
    """``PATH`` or ``PATH:TAG`` (the tag form only when PATH:TAG is not itself a directory)."""
    if os.path.isdir(target) or ":" not in target:
        return Path(target), None
    path, _, tag = target.rpartition(":")
    return Path(path), tag


def open_oci_dir(target: str, platform: Platform | None, limits: Limits) -> Image:
    root, tag = split_target(target)
    store = OciDir(root)
    layout = root / "oci-layout"
    try:
        version = load_json(layout.read_bytes()[:4096], f"{layout}").get("imageLayoutVersion")
        index_bytes = (root / "index.json").open("rb").read(limits.max_manifest + 1)
    except OSError as exc:
        raise ImageError(f"{root} is not an OCI image layout: {exc.strerror or exc}") from None
    if version != "1.0.0":
        raise ImageError(f"{layout}: unsupported imageLayoutVersion {version!r}")
    if len(index_bytes) > limits.max_manifest:
        raise ImageError(f"{root}/index.json is larger than {limits.max_manifest} bytes")
    entries = index_entries(load_json(index_bytes, f"{root}/index.json"), f"{root}/index.json")
    chosen = _choose(entries, tag, root)

    def fetch(digest: str, size: int | None) -> tuple[bytes, str | None]:
        return store.blob(digest, size, limits.max_manifest, f"manifest {digest}"), None

    manifest = store.blob(chosen.digest, chosen.size, limits.max_manifest, f"manifest {chosen.digest}")
    name = f"oci-dir:{root}" + (f":{tag}" if tag else "")
    return resolve(store, manifest, chosen.digest, chosen.media_type or None, name, "oci-dir", platform, limits,
                   fetch)


def _choose(entries: list[Descriptor], tag: str | None, root: Path) -> Descriptor:
    if tag is not None:
        named = [d for d in entries if d.ref_name == tag or (d.ref_name or "").endswith(f":{tag}")]
        if not named:
            raise ImageError(f"{root}: no image tagged {tag!r} in index.json")
        return named[0]
    if len(entries) != 1:
        names = ", ".join(sorted({d.ref_name or d.digest for d in entries})) or "none"
        raise ImageError(f"{root} holds {len(entries)} images; name one as oci-dir:PATH:TAG ({names})")
    return entries[0]

