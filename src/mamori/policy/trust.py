"""The image-trust hook of the decision point: is this image signed and approved?

The decision point asks an :class:`ImageTrust` about every container image (rule
MAM-IMG-005). Providers: ``trust.approved-images`` (digests, below), ``trust.signatures``
(:mod:`mamori.sign.trust`) and ``trust.attestations`` ("approved for prod", :mod:`mamori.attest.trust`);
with several, an image must satisfy all. Verifiers must answer from a digest-keyed cache on the
admission hot path: a cold signature check costs a registry round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mamori.model import ImageRef


@dataclass(frozen=True, slots=True)
class TrustResult:
    trusted: bool
    reason: str


class ImageTrust(Protocol):
    def check(self, ref: ImageRef) -> TrustResult: ...


@dataclass(frozen=True, slots=True)
class ApprovedDigests:
    """Trusts exactly the images pinned to an approved digest (``sha256:...``)."""

    digests: frozenset[str]

    def check(self, ref: ImageRef) -> TrustResult:
        if ref.digest is None:
            return TrustResult(False, "not pinned by digest, so its approval cannot be checked")
        if ref.digest.lower() in self.digests:
            return TrustResult(True, "digest is approved")
        return TrustResult(False, f"digest {ref.digest} is not among the approved images")
