"""A redacted fingerprint of a secret: enough to tell two findings apart, never the value.

``sha256:1a2b… (40 chars)`` - four hex digits of a domain-separated SHA-256 and the length.
The digest is salted with a fixed label so it cannot be looked up in public tables of
plain SHA-256 hashes, and only 16 bits are shown so it cannot confirm a guessed strong
value. No part of the value itself - not even a known prefix such as ``ghp_`` - is shown.
"""

from __future__ import annotations

import hashlib

_LABEL = b"mamori-secret-fingerprint\x00"


def fingerprint(secret: str) -> str:
    digest = hashlib.sha256(_LABEL + secret.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest[:4]}\u2026 ({len(secret)} chars)"
