"""The ``sha256-<hex>.sig`` OCI manifest: one layer per signature, as cosign writes it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mamori.image.digest import parse as parse_digest
from mamori.image.errors import ImageError
from mamori.sign.errors import SignError

LAYER_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
SIG_ANNOTATION = "dev.cosignproject.cosign/signature"
CERT_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
MAX_SIGNATURES = 256
MAX_ANNOTATION = 64 * 1024


@dataclass(frozen=True, slots=True)
class Layer:
    digest: str
    size: int
    signature: str  # base64
    certificate: str | None
    chain: str | None
    raw: dict[str, Any]


def artifact_tag(digest: str, suffix: str) -> str:
    """``sha256:abc`` -> ``sha256-abc.<suffix>`` (cosign's tag scheme for .sig and .att)."""
    alg, hexpart = parse_digest(digest)
    return f"{alg}-{hexpart}.{suffix}"


def sig_tag(digest: str) -> str:
    """``sha256:abc`` -> ``sha256-abc.sig``."""
    return artifact_tag(digest, "sig")


RawLayer = tuple[str, int, dict[str, str | None], dict[str, Any]]  # digest, size, chosen annotations, the layer


def artifact_layers(data: bytes, what: str, media_type: str, keys: tuple[str, ...], limit: int,
                    error: type[Exception]) -> list[RawLayer]:
    """The layers of one media type in a cosign artifact manifest (.sig, .att); other types are ignored,
    malformed ones refused with ``error`` naming ``what`` ("signature", "attestation") and the index."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise error(f"{what} manifest is not JSON") from None
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list):
        raise error(f"{what} manifest has no layers list")
    if len(layers) > limit:
        raise error(f"{what} manifest has more than {limit} layers")
    out: list[RawLayer] = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or layer.get("mediaType") != media_type:
            continue
        ann = layer.get("annotations")
        ann = {} if ann is None else ann
        digest, size = layer.get("digest"), layer.get("size")
        if not isinstance(ann, dict) or not isinstance(digest, str) or not isinstance(size, int) or size < 0:
            raise error(f"{what} layer {i} is malformed")
        try:
            parse_digest(digest)
        except ImageError as exc:
            raise error(f"{what} layer {i}: {exc}") from None
        values: dict[str, str | None] = {}
        for key in keys:
            v = ann.get(key)
            if v is not None and (not isinstance(v, str) or len(v) > MAX_ANNOTATION):
                raise error(f"{what} layer {i}: annotation {key} is malformed")
            values[key] = v
        out.append((digest, size, values, layer))
    return out


def parse_manifest(data: bytes) -> list[Layer]:
    """The signature layers of a ``.sig`` manifest; other layer types are ignored, bad ones refused."""
    keys = (SIG_ANNOTATION, CERT_ANNOTATION, CHAIN_ANNOTATION)
    return [Layer(digest, size, v[SIG_ANNOTATION] or "", v[CERT_ANNOTATION], v[CHAIN_ANNOTATION], raw)
            for digest, size, v, raw in artifact_layers(data, "signature", LAYER_TYPE, keys, MAX_SIGNATURES,
                                                        SignError)]


def config_blob(payload_digests: list[str]) -> bytes:
    """The stub image config cosign pushes (verifiers ignore it; rootfs lists the payloads)."""
    doc = {"architecture": "", "created": "0001-01-01T00:00:00Z", "history": [{"created": "0001-01-01T00:00:00Z"}],
           "os": "", "rootfs": {"type": "layers", "diff_ids": payload_digests}, "config": {}}
    return json.dumps(doc, separators=(",", ":")).encode()


def build_manifest(config_digest: str, config_size: int, layers: list[dict[str, Any]]) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": OCI_CONFIG, "size": config_size, "digest": config_digest}, "layers": layers}
    return json.dumps(doc, separators=(",", ":")).encode()
