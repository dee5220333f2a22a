"""The ``sha256-<hex>.att`` OCI manifest cosign writes: one DSSE envelope per layer.

Layer media type ``application/vnd.dsse.envelope.v1+json``, annotations
``dev.cosignproject.cosign/signature: ""`` and ``predicateType``; certificate and chain use the
same annotations as signatures. Appending re-pushes the manifest (racy, as in cosign).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mamori.attest.errors import AttestError
from mamori.image.digest import parse as parse_digest
from mamori.image.errors import ImageError
from mamori.sign import layout as siglayout
from mamori.sign.registry_push import PushRegistry

LAYER_TYPE = "application/vnd.dsse.envelope.v1+json"
PREDICATE_ANNOTATION = "predicateType"
MAX_ATTESTATIONS = 256


@dataclass(frozen=True, slots=True)
class AttLayer:
    digest: str
    size: int
    predicate_type: str  # from the annotation: a hint only, the statement inside is what counts
    certificate: str | None
    chain: str | None
    raw: dict[str, Any]


def att_tag(digest: str) -> str:
    alg, hexpart = parse_digest(digest)
    return f"{alg}-{hexpart}.att"


def parse_manifest(data: bytes) -> list[AttLayer]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise AttestError("attestation manifest is not JSON") from None
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list):
        raise AttestError("attestation manifest has no layers list")
    if len(layers) > MAX_ATTESTATIONS:
        raise AttestError(f"attestation manifest has more than {MAX_ATTESTATIONS} layers")
    out = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or layer.get("mediaType") != LAYER_TYPE:
            continue
        ann = layer.get("annotations") or {}
        digest, size = layer.get("digest"), layer.get("size")
        if not isinstance(ann, dict) or not isinstance(digest, str) or not isinstance(size, int) or size < 0:
            raise AttestError(f"attestation layer {i} is malformed")
        try:
            parse_digest(digest)
        except ImageError as exc:
            raise AttestError(f"attestation layer {i}: {exc}") from None
        vals: dict[str, str | None] = {}
        for key in (PREDICATE_ANNOTATION, siglayout.CERT_ANNOTATION, siglayout.CHAIN_ANNOTATION):
            v = ann.get(key)
            if v is not None and (not isinstance(v, str) or len(v) > siglayout.MAX_ANNOTATION):
                raise AttestError(f"attestation layer {i}: annotation {key} is malformed")
            vals[key] = v
        out.append(AttLayer(digest, size, vals[PREDICATE_ANNOTATION] or "", vals[siglayout.CERT_ANNOTATION],
                            vals[siglayout.CHAIN_ANNOTATION], layer))
    return out


def append_layers(reg: PushRegistry, tag: str, new: list[dict[str, Any]]) -> int:
    """Add layers (blobs already pushed) to the artifact manifest at ``tag``; same-digest layers are kept once.

    Works for ``.sig`` and ``.att`` alike. Returns the number of layers now stored.
    """
    existing = reg.manifest_if_any(tag)
    layers: list[dict[str, Any]] = []
    if existing is not None:
        try:
            doc = json.loads(existing[0])
        except (ValueError, UnicodeDecodeError):
            raise AttestError(f"{tag} is not JSON") from None
        old = doc.get("layers") if isinstance(doc, dict) else None
        if not isinstance(old, list):
            raise AttestError(f"{tag} has no layers list")
        layers = [x for x in old if isinstance(x, dict) and isinstance(x.get("digest"), str)]
    seen = {str(x["digest"]) for x in layers}
    added = []
    for x in new:
        if str(x["digest"]) not in seen:
            seen.add(str(x["digest"]))
            added.append(x)
    if not added and existing is not None:
        return len(layers)
    layers += added
    if len(layers) > MAX_ATTESTATIONS:
        raise AttestError(f"{tag} already holds {MAX_ATTESTATIONS} layers")
    config = siglayout.config_blob([str(x["digest"]) for x in layers])
    cdigest = reg.put_blob(config)
    reg.put_manifest(tag, siglayout.build_manifest(cdigest, len(config), layers), siglayout.OCI_MANIFEST)
    return len(layers)
