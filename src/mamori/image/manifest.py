"""Manifests, indexes and configs: parse, check, choose a platform.

Every store (registry, OCI layout, docker save archive) hands raw bytes here; the digest is
checked by the caller before parsing, so a parsed manifest is always the one that was named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mamori.image import mediatypes as mt
from mamori.image.digest import parse as parse_digest
from mamori.image.errors import ImageError
from mamori.image.reference import Platform


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    ref_name: str | None = None  # org.opencontainers.image.ref.name in an OCI layout index


@dataclass(frozen=True, slots=True)
class Layer:
    index: int
    digest: str | None  # blob digest (None when a docker save archive names a path instead)
    diff_id: str | None  # uncompressed digest from the config
    media_type: str
    size: int | None
    path: str | None = None  # the member in a docker save archive


@dataclass(frozen=True, slots=True)
class Config:
    digest: str
    raw: dict[str, Any]

    @property
    def platform(self) -> Platform:
        variant = self.raw.get("variant")
        return Platform(str(self.raw.get("os", "")), str(self.raw.get("architecture", "")),
                        str(variant) if variant else None)

    @property
    def diff_ids(self) -> list[str]:
        rootfs = self.raw.get("rootfs")
        ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ImageError("image config: rootfs.diff_ids is not a list of digests")
        for i in ids:
            parse_digest(i)
        return ids


def load_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ImageError(f"{what} is not a JSON object")
    return doc


def media_type_of(doc: dict[str, Any], header: str | None) -> str:
    """The manifest's own mediaType wins; OCI manifests may omit it, then sniff the shape."""
    own = doc.get("mediaType")
    mtype = own if isinstance(own, str) and own else (header or "").split(";")[0].strip()
    if not mtype:
        mtype = mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST
    if doc.get("schemaVersion") == 1 or mtype == mt.DOCKER_V1_SIGNED:
        raise ImageError("Docker schema 1 manifests are deprecated and not supported")
    return str(mtype)


def descriptor(d: Any, what: str) -> Descriptor:
    if not isinstance(d, dict):
        raise ImageError(f"{what}: descriptor is not an object")
    digest, size = d.get("digest"), d.get("size")
    if not isinstance(digest, str) or not isinstance(size, int) or size < 0:
        raise ImageError(f"{what}: descriptor without a digest or size")
    parse_digest(digest)
    plat = d.get("platform")
    platform = None
    if isinstance(plat, dict):
        variant = plat.get("variant")
        platform = Platform(str(plat.get("os", "")), str(plat.get("architecture", "")),
                            str(variant) if variant else None)
    annotations = d.get("annotations")
    ref = annotations.get("org.opencontainers.image.ref.name") if isinstance(annotations, dict) else None
    mtype = d.get("mediaType")
    return Descriptor(mtype if isinstance(mtype, str) else "", digest, size, platform,
                      ref if isinstance(ref, str) else None)


def index_entries(doc: dict[str, Any], what: str) -> list[Descriptor]:
    items = doc.get("manifests")
    if not isinstance(items, list):
        raise ImageError(f"{what}: index without a manifests list")
    return [descriptor(d, what) for d in items]


def choose_platform(entries: list[Descriptor], want: Platform | None, what: str) -> Descriptor:
    """Pick the manifest for ``want`` (default linux/amd64) from a manifest list / image index."""
    images = [d for d in entries if d.media_type in mt.MANIFESTS or not d.media_type]
    want = want or Platform("linux", "amd64")
    matches = [d for d in images if d.platform and d.platform.os == want.os
               and d.platform.architecture == want.architecture
               and (want.variant is None or d.platform.variant == want.variant)]
    if not matches:
        have = ", ".join(sorted({str(d.platform) for d in images if d.platform})) or "none"
        raise ImageError(f"{what}: no image for platform {want} (available: {have})")
    return matches[0]


def image_manifest(doc: dict[str, Any], what: str) -> tuple[Descriptor, list[Descriptor]]:
    """The config descriptor and the layer descriptors of an image manifest."""
    cfg = descriptor(doc.get("config"), f"{what} config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ImageError(f"{what}: manifest without layers")
    return cfg, [descriptor(d, f"{what} layer") for d in layers]
