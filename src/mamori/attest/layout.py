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
    return siglayout.artifact_tag(digest, "att")


def parse_manifest(data: bytes) -> list[AttLayer]:
    keys = (PREDICATE_ANNOTATION, siglayout.CERT_ANNOTATION, siglayout.CHAIN_ANNOTATION)
    return [AttLayer(digest, size, v[PREDICATE_ANNOTATION] or "", v[siglayout.CERT_ANNOTATION],
                     v[siglayout.CHAIN_ANNOTATION], raw)
            for digest, size, v, raw in siglayout.artifact_layers(data, "attestation", LAYER_TYPE, keys,
                                                                  MAX_ATTESTATIONS, AttestError)]


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
