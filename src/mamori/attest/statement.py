"""in-toto Statement v1 (and cosign's v0.1): which manifest digest the predicate is about.

The subject is the repository name and the manifest's sha256, as cosign writes it. Reading is
strict about shape and bounded in size; cosign's ``_type`` v0.1 is accepted, v1 is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mamori.attest.errors import AttestError

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_TYPES = frozenset({STATEMENT_V1, "https://in-toto.io/Statement/v0.1"})
MAX_SUBJECTS = 64

SBOM = "https://cyclonedx.org/bom"
SPDX = "https://spdx.dev/Document"
VULN = "https://cosign.sigstore.dev/attestation/vuln/v1"
TEST = "https://in-toto.io/attestation/test-result/v0.1"
APPROVAL = "https://mamori.dev/attestation/approval/v1"
PROMOTION = "https://mamori.dev/attestation/promotion/v1"
SLSA1 = "https://slsa.dev/provenance/v1"
CUSTOM = "https://cosign.sigstore.dev/attestation/v1"

# Short names accepted by --type and in mamori.yaml; anything with a scheme is a predicate type itself.
ALIASES = {"sbom": SBOM, "cyclonedx": SBOM, "spdx": SPDX, "vuln": VULN, "test": TEST, "approval": APPROVAL,
           "promotion": PROMOTION, "slsaprovenance1": SLSA1, "custom": CUSTOM}


def predicate_type(name: str) -> str:
    """``sbom`` -> ``https://cyclonedx.org/bom``; a URI is kept; anything else is refused."""
    if name in ALIASES:
        return ALIASES[name]
    if "://" in name and len(name) <= 256 and name.isprintable() and " " not in name:
        return name
    raise AttestError(f"unknown attestation type {name[:60]!r} (use {', '.join(sorted(ALIASES))} or a URI)")


def short_name(ptype: str) -> str:
    return next((k for k, v in ALIASES.items() if v == ptype and k != "cyclonedx"), ptype)


@dataclass(frozen=True, slots=True)
class Statement:
    subjects: tuple[tuple[str, str], ...]  # (name, sha256 hex)
    predicate_type: str
    predicate: dict[str, Any]

    def names_digest(self, digest: str) -> bool:
        hexpart = digest.removeprefix("sha256:")
        return any(h == hexpart for _, h in self.subjects)


def build(name: str, digest: str, ptype: str, predicate: dict[str, Any]) -> bytes:
    if not digest.startswith("sha256:"):
        raise AttestError(f"in-toto subjects need a sha256 manifest digest, not {digest[:80]}")
    doc = {"_type": STATEMENT_V1, "subject": [{"name": name, "digest": {"sha256": digest.removeprefix("sha256:")}}],
           "predicateType": ptype, "predicate": predicate}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def parse(body: bytes) -> Statement:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise AttestError("the attestation payload is not JSON") from None
    if not isinstance(doc, dict) or doc.get("_type") not in STATEMENT_TYPES:
        raise AttestError("the attestation payload is not an in-toto Statement")
    subjects, ptype, predicate = doc.get("subject"), doc.get("predicateType"), doc.get("predicate", {})
    if not isinstance(subjects, list) or not subjects or len(subjects) > MAX_SUBJECTS:
        raise AttestError("the statement has no subject list")
    out = []
    for s in subjects:
        digests = s.get("digest") if isinstance(s, dict) else None
        if not isinstance(digests, dict) or not isinstance(digests.get("sha256"), str):
            raise AttestError("a statement subject has no sha256 digest")
        name = s.get("name", "")
        out.append((name if isinstance(name, str) else "", str(digests["sha256"]).lower()))
    if not isinstance(ptype, str) or not ptype:
        raise AttestError("the statement has no predicateType")
    if not isinstance(predicate, dict):
        raise AttestError("the statement's predicate is not a JSON object")
    return Statement(tuple(out), ptype, predicate)
