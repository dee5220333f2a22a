"""A resolved image (manifest, config, layers) and how its layers become one filesystem view."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Protocol

from mamori.image import mediatypes as mt
from mamori.image.digest import verify
from mamori.image.errors import ImageError
from mamori.image.fsview import Capture, FsView, apply_layer
from mamori.image.layers import LayerStream, quick_handover
from mamori.image.limits import Limits
from mamori.image.manifest import (
    Config,
    Layer,
    choose_platform,
    image_manifest,
    index_entries,
    load_json,
    media_type_of,
)
from mamori.image.reference import Platform


class BlobStore(Protocol):
    """Where blobs come from: a registry, an OCI layout, a docker save archive."""

    def blob(self, digest: str, size: int | None, limit: int, what: str) -> bytes:
        """The whole blob, size-bounded and digest-verified."""
        ...

    def stream(self, digest: str, size: int | None, what: str) -> IO[bytes]:
        """The raw blob stream; the caller verifies it."""
        ...


@dataclass
class Image:
    name: str
    source: str  # registry, docker-archive, oci-dir, docker
    digest: str | None  # manifest digest (None for a legacy docker save archive without one)
    media_type: str
    config: Config
    layers: tuple[Layer, ...]
    open_layer: Callable[[Layer], IO[bytes]]
    compressed_sizes: tuple[int | None, ...] = ()
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def platform(self) -> Platform:
        return self.config.platform

    def close(self) -> None:
        for c in self.closers:
            c()
        self.closers.clear()

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def view(self, capture: Capture, limits: Limits) -> FsView:
        """Stream every layer once, bottom to top, into the merged view (all digests checked)."""
        view = FsView()
        total = 0
        for layer in self.layers:
            what = f"layer {layer.index + 1}/{len(self.layers)} ({layer.digest or layer.path})"
            if capture.on_layer is not None:
                capture.on_layer(layer.index)
            raw = self.open_layer(layer)
            try:
                stream = LayerStream(raw, layer.digest, layer.size, layer.diff_id, limits, what)
                with quick_handover(stream.plain):
                    apply_layer(view, layer.index, stream, capture, limits)
                total += stream.uncompressed
            finally:
                close = getattr(raw, "close", None)
                if close:
                    close()
            if total > limits.max_image_bytes:
                raise ImageError(f"image larger than {limits.max_image_bytes} bytes uncompressed; refused")
        return view


def resolve(store: BlobStore, manifest: bytes, digest: str | None, header_type: str | None, name: str,
            source: str, platform: Platform | None, limits: Limits,
            fetch_manifest: Callable[[str, int | None], tuple[bytes, str | None]]) -> Image:
    """From verified manifest bytes (an index or an image manifest) to an Image."""
    doc = load_json(manifest, f"manifest of {name}")
    mtype = media_type_of(doc, header_type)
    if mtype in mt.INDEXES:
        chosen = choose_platform(index_entries(doc, f"index of {name}"), platform, name)
        if chosen.size > limits.max_manifest:
            raise ImageError(f"manifest of {name} is larger than {limits.max_manifest} bytes")
        manifest, header_type = fetch_manifest(chosen.digest, chosen.size)
        verify(manifest, chosen.digest, f"manifest {chosen.digest}")
        digest = chosen.digest
        doc = load_json(manifest, f"manifest {chosen.digest}")
        mtype = media_type_of(doc, header_type)
    if mtype not in mt.MANIFESTS:
        raise ImageError(f"{name}: unsupported manifest media type {mtype!r}")
    cfg_desc, layer_descs = image_manifest(doc, name)
    if len(layer_descs) > limits.max_layers:
        raise ImageError(f"{name}: more than {limits.max_layers} layers")
    if cfg_desc.size > limits.max_config:
        raise ImageError(f"{name}: config larger than {limits.max_config} bytes")
    raw_cfg = store.blob(cfg_desc.digest, cfg_desc.size, limits.max_config, f"config {cfg_desc.digest}")
    config = Config(cfg_desc.digest, load_json(raw_cfg, f"config of {name}"))
    diff_ids = config.diff_ids
    if len(diff_ids) != len(layer_descs):
        raise ImageError(f"{name}: {len(layer_descs)} layers but {len(diff_ids)} diff_ids in the config")
    if platform and (config.platform.os, config.platform.architecture) != (platform.os, platform.architecture):
        raise ImageError(f"{name} is {config.platform}, not the requested {platform}")
    layers = tuple(Layer(i, d.digest, diff_ids[i], d.media_type, d.size) for i, d in enumerate(layer_descs))
    for layer in layers:
        if layer.size is not None and layer.size > limits.max_layer_compressed:
            raise ImageError(f"{name}: layer {layer.digest} is larger than {limits.max_layer_compressed} bytes")

    def open_layer(layer: Layer) -> IO[bytes]:
        assert layer.digest is not None
        return store.stream(layer.digest, layer.size, f"layer {layer.digest}")

    return Image(name, source, digest, mtype, config, layers, open_layer, tuple(d.size for d in layer_descs))
