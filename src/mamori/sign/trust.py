"""The decision point's image-trust provider backed by cosign signature verification.

Admission cannot afford a registry round trip per request, so verdicts are cached in memory by
manifest digest (and tag -> digest resolutions for a shorter time). A positive verdict lives
``ttl`` seconds, a negative one ``negative_ttl`` (so a freshly signed image is admitted soon).
Everything fails closed: a registry error is an untrusted image with the reason.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from mamori.image.registry import RegistryOptions
from mamori.model import ImageRef
from mamori.policy.trust import ImageTrust, TrustResult
from mamori.sign.verifier import TrustPolicy, VerifyReport, verify_image

MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    result: TrustResult
    expires: float


class SignatureTrust:
    """``ImageTrust`` provider: trusted = the policy's signature requirements verify for the digest."""

    def __init__(self, policy: TrustPolicy, options: RegistryOptions | None = None, *, ttl: float = 300.0,
                 negative_ttl: float = 30.0, tag_ttl: float = 30.0, max_entries: int = MAX_ENTRIES,
                 verify: Callable[[str, TrustPolicy, RegistryOptions], VerifyReport] = verify_image,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy, self.options = policy, options or RegistryOptions()
        self.ttl, self.negative_ttl, self.tag_ttl, self.max_entries = ttl, negative_ttl, tag_ttl, max_entries
        self._verify, self._clock = verify, clock
        self._by_digest: OrderedDict[str, _Entry] = OrderedDict()
        self._by_tag: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def _repo(ref: ImageRef) -> str:
        return f"{ref.registry}/{ref.repository}"

    def check(self, ref: ImageRef) -> TrustResult:
        now = self._clock()
        repo = self._repo(ref)
        digest = ref.digest.lower() if ref.digest else None
        with self._lock:
            if digest is None:
                tagged = self._by_tag.get(f"{repo}:{ref.tag or 'latest'}")
                if tagged is not None and tagged[1] > now:
                    digest = tagged[0]
            if digest is not None:
                entry = self._by_digest.get(f"{repo}@{digest}")
                if entry is not None and entry.expires > now:
                    self._by_digest.move_to_end(f"{repo}@{digest}")
                    self.hits += 1
                    return entry.result
            self.misses += 1
        target = f"{repo}@{digest}" if digest else f"{repo}:{ref.tag or 'latest'}"
        try:
            report = self._verify(target, self.policy, self.options)
        except Exception as exc:  # noqa: BLE001 - fail closed on anything the verifier did not foresee
            return TrustResult(False, f"signature verification failed: {type(exc).__name__}")
        result = TrustResult(report.ok, ("signed: " if report.ok else "not trusted: ") + report.reason)
        with self._lock:
            if report.digest:
                expires = now + (self.ttl if report.ok else self.negative_ttl)
                self._by_digest[f"{repo}@{report.digest}"] = _Entry(result, expires)
                self._by_digest.move_to_end(f"{repo}@{report.digest}")
                if ref.digest is None:
                    self._by_tag[f"{repo}:{ref.tag or 'latest'}"] = (report.digest, now + self.tag_ttl)
                    self._by_tag.move_to_end(f"{repo}:{ref.tag or 'latest'}")
            for cache in (self._by_digest, self._by_tag):
                while len(cache) > self.max_entries:
                    cache.popitem(last=False)
        return result

    def invalidate(self) -> None:
        """Drop every cached verdict (e.g. after a key or CRL change)."""
        with self._lock:
            self._by_digest.clear()
            self._by_tag.clear()


def from_config(doc: dict[str, object], options: RegistryOptions | None = None) -> SignatureTrust:
    """Build the provider from the policy's ``trust.signatures`` mapping (see docs/sign.md)."""
    from mamori.sign.config import policy_from_mapping

    policy, ttl = policy_from_mapping(doc)
    return SignatureTrust(policy, options, ttl=ttl)


@dataclass(frozen=True, slots=True)
class AllOf:
    """Trusted only when every provider trusts the image ("signed by X and approved"); reasons joined."""

    providers: tuple[ImageTrust, ...]

    def check(self, ref: ImageRef) -> TrustResult:
        if not self.providers:
            return TrustResult(False, "no image-trust provider configured")
        reasons = []
        for p in self.providers:
            res = p.check(ref)
            if not res.trusted:
                return res
            reasons.append(res.reason)
        return TrustResult(True, "; ".join(reasons))
