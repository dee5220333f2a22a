"""DSSE envelopes (secure-systems-lab/dsse v1): the PAE bytes are what is signed, never the JSON.

PAE = ``"DSSEv1" SP len(type) SP type SP len(body) SP body`` with ASCII decimal lengths. cosign
signs these bytes with the same key algorithms as image signatures and leaves ``keyid`` empty.
Both standard and URL-safe base64 are accepted on input, as the protocol asks.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from mamori.attest.errors import AttestError

IN_TOTO = "application/vnd.in-toto+json"
MAX_ENVELOPE = 16 * 1024 * 1024  # an SBOM of a large image runs to megabytes; anything beyond is refused
MAX_STATEMENT = MAX_ENVELOPE * 3 // 4 - 64 * 1024  # base64 grows it by 4/3, plus the signatures
MAX_SIGNATURES = 16
MAX_SIG = 16 * 1024


def pae(payload_type: str, body: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


@dataclass(frozen=True, slots=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]  # (keyid, raw signature)

    def signed_bytes(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def to_json(self) -> bytes:
        doc = {"payload": base64.b64encode(self.payload).decode("ascii"), "payloadType": self.payload_type,
               "signatures": [{"keyid": k, "sig": base64.b64encode(s).decode("ascii")} for k, s in self.signatures]}
        return json.dumps(doc, separators=(",", ":")).encode()


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or len(text) > MAX_ENVELOPE * 2:
        raise AttestError(f"DSSE envelope: {what} is not a base64 string")
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise AttestError(f"DSSE envelope: {what} is not valid base64") from None


def parse(data: bytes) -> Envelope:
    if len(data) > MAX_ENVELOPE:
        raise AttestError(f"DSSE envelope larger than {MAX_ENVELOPE} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise AttestError("DSSE envelope is not JSON") from None
    if not isinstance(doc, dict):
        raise AttestError("DSSE envelope is not a JSON object")
    ptype, sigs = doc.get("payloadType"), doc.get("signatures")
    if not isinstance(ptype, str) or not ptype or len(ptype) > 256:
        raise AttestError("DSSE envelope has no payloadType")
    if not isinstance(sigs, list) or not sigs:
        raise AttestError("DSSE envelope has no signatures")
    if len(sigs) > MAX_SIGNATURES:
        raise AttestError(f"DSSE envelope has more than {MAX_SIGNATURES} signatures")
    out = []
    for i, s in enumerate(sigs):
        if not isinstance(s, dict) or not isinstance(s.get("sig"), str) or len(s["sig"]) > MAX_SIG:
            raise AttestError(f"DSSE envelope signature {i} is malformed")
        keyid = s.get("keyid", "")
        out.append((keyid if isinstance(keyid, str) else "", _b64(s["sig"], f"signature {i}")))
    return Envelope(ptype, _b64(doc.get("payload"), "payload"), tuple(out))
