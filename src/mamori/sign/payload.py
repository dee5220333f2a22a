"""The simple-signing payload cosign signs: which manifest digest, for which repository.

Written byte-for-byte as Go's ``json.Marshal`` of sigstore's ``SimpleContainerImage`` (no spaces,
struct key order) because the signature covers these exact bytes. Extra claims go in
``optional``: containers/image refuses unknown keys under ``critical``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mamori.sign.errors import SignError

COSIGN_TYPE = "cosign container image signature"
ATOMIC_TYPE = "atomic container signature"  # containers/image GPG simple signing (containers-signature.5)
MAX_PAYLOAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Payload:
    docker_reference: str
    digest: str
    optional: dict[str, Any] | None


def _go_string(text: str) -> str:
    """A JSON string as Go escapes it (<, >, & and U+2028/9 as \\u escapes)."""
    out = json.dumps(text, ensure_ascii=False)
    return (out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _go_value(value: Any) -> str:
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, dict):  # Go marshals map keys sorted
        return "{" + ",".join(f"{_go_string(str(k))}:{_go_value(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_go_value(v) for v in value) + "]"
    return json.dumps(value)


def build(docker_reference: str, digest: str, optional: dict[str, Any] | None = None, *,
          type_: str = COSIGN_TYPE) -> bytes:
    text = ('{"critical":{"identity":{"docker-reference":' + _go_string(docker_reference) + '},'
            '"image":{"docker-manifest-digest":' + _go_string(digest) + '},'
            '"type":' + _go_string(type_) + '},"optional":' +
            (_go_value(optional) if optional else "null") + "}")
    return text.encode()


def parse(data: bytes, *, type_: str = COSIGN_TYPE) -> Payload:
    """Parse strictly enough that a payload cannot say two things (as containers/image does)."""
    if len(data) > MAX_PAYLOAD:
        raise SignError("signature payload is too large")
    try:
        doc = json.loads(data)
    except ValueError:
        raise SignError("signature payload is not JSON") from None
    if not isinstance(doc, dict) or set(doc) - {"critical", "optional"} or "critical" not in doc:
        raise SignError("signature payload: top level must be exactly critical and optional")
    crit = doc["critical"]
    if not isinstance(crit, dict) or set(crit) != {"identity", "image", "type"}:
        raise SignError("signature payload: critical must hold exactly identity, image and type")
    if crit["type"] != type_:
        raise SignError(f"signature payload: type is {str(crit['type'])[:60]!r}, not {type_!r}")
    image, ident = crit["image"], crit["identity"]
    if not isinstance(image, dict) or set(image) != {"docker-manifest-digest"} or \
            not isinstance(image["docker-manifest-digest"], str):
        raise SignError("signature payload: image must hold exactly docker-manifest-digest")
    if not isinstance(ident, dict) or set(ident) != {"docker-reference"} or \
            not isinstance(ident["docker-reference"], str):
        raise SignError("signature payload: identity must hold exactly docker-reference")
    optional = doc.get("optional")
    if optional is not None and not isinstance(optional, dict):
        raise SignError("signature payload: optional must be an object or null")
    return Payload(ident["docker-reference"], image["docker-manifest-digest"], optional)
