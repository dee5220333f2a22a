"""The image-trust hook of the decision point: is this image signed and approved?

The decision point asks an :class:`ImageTrust` about every container image (rule
MAM-IMG-005). The signature and promotion work plugs its verifier in here; until then the
policy's ``trust.approved-images`` list of digests is the built-in provider. Verifiers
must answer from a cache on the admission hot path: a cold signature check costs seconds.
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
