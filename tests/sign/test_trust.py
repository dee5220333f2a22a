"""The image-trust provider: verdicts from the signature verifier, cached by digest, failing closed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mamori.image.registry import RegistryOptions
from mamori.policy.trust import ImageTrust
from mamori.sign import keys
from mamori.sign.config import policy_from_mapping
from mamori.sign.errors import SignError
from mamori.sign.signer import sign_image
from mamori.sign.trust import SignatureTrust, from_config
from mamori.sign.verifier import TrustPolicy, VerifyReport, verify_image
from mamori.sources.imageref import parse_image_ref
from tests.sign.conftest import OPTS

KEY = keys.generate()
POLICY = TrustPolicy(keys={"build": KEY.public_key()})


class Counting:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, ref: str, policy: TrustPolicy, options: RegistryOptions) -> VerifyReport:
        self.calls.append(ref)
        return verify_image(ref, policy, options)


def test_real_registry_verdicts_and_warm_cache(image: str) -> None:
    counting = Counting()
    provider: ImageTrust = SignatureTrust(POLICY, OPTS, verify=counting)
    unsigned = provider.check(parse_image_ref(image))
    assert not unsigned.trusted and "no signature" in unsigned.reason
    res = sign_image(image, KEY, OPTS)
    trust = SignatureTrust(POLICY, OPTS, verify=counting)
    counting.calls.clear()
    first = trust.check(parse_image_ref(image))
    assert first.trusted and "build" in first.reason
    pinned = parse_image_ref(f"{image.rsplit(':', 1)[0]}@{res.digest}")
    assert trust.check(pinned).trusted
    assert trust.check(parse_image_ref(image)).trusted
    assert len(counting.calls) == 1  # tag -> digest and digest verdict both cached
    start = time.perf_counter()
    for _ in range(2000):
        assert trust.check(pinned).trusted
    per_check = (time.perf_counter() - start) / 2000
    assert per_check < 1e-3, f"cached check took {per_check * 1e6:.0f} us"
    assert trust.hits >= 2002


def test_ttl_expiry_and_negative_ttl() -> None:
    now = [1000.0]
    calls: list[str] = []
    digest = "sha256:" + "cd" * 32

    def fake(ref: str, policy: TrustPolicy, options: RegistryOptions) -> VerifyReport:
        calls.append(ref)
        ok = "good" in ref
        return VerifyReport(ref, digest, ok, "fake")

    trust = SignatureTrust(POLICY, OPTS, ttl=60, negative_ttl=5, verify=fake, clock=lambda: now[0])
    good = parse_image_ref(f"r.test/good@{digest}")
    bad = parse_image_ref(f"r.test/bad@{digest}")
    assert trust.check(good).trusted and not trust.check(bad).trusted
    assert trust.check(good).trusted and not trust.check(bad).trusted
    assert len(calls) == 2
    now[0] += 10  # negative verdict expired, positive not
    trust.check(good)
    trust.check(bad)
    assert len(calls) == 3 and calls[-1].startswith("r.test/bad")
    now[0] += 100
    trust.check(good)
    assert len(calls) == 4
    trust.invalidate()
    trust.check(good)
    assert len(calls) == 5


def test_fails_closed_when_the_verifier_breaks() -> None:
    def boom(ref: str, policy: TrustPolicy, options: RegistryOptions) -> VerifyReport:
        raise RuntimeError("surprise")

    res = SignatureTrust(POLICY, OPTS, verify=boom).check(parse_image_ref("r.test/x:1"))
    assert not res.trusted and "RuntimeError" in res.reason
    hostile = SignatureTrust(POLICY, OPTS).check(parse_image_ref("127.0.0.1:1/x@sha256:zz"))
    assert not hostile.trusted


def test_cache_is_bounded() -> None:
    def fake(ref: str, policy: TrustPolicy, options: RegistryOptions) -> VerifyReport:
        return VerifyReport(ref, ref.split("@")[1], True, "fake")

    trust = SignatureTrust(POLICY, OPTS, verify=fake, max_entries=10)
    for i in range(50):
        trust.check(parse_image_ref(f"r.test/x@sha256:{i:064x}"))
    assert len(trust._by_digest) == 10


def test_config_mapping(tmp_path: Path) -> None:
    pub = tmp_path / "build.pub"
    pub.write_bytes(keys.public_pem(KEY))
    policy, ttl = policy_from_mapping({"keys": [str(pub)], "identities": ["build"], "min-signatures": 1,
                                       "cache-ttl": 120})
    assert list(policy.keys) == ["build"] and ttl == 120.0
    assert isinstance(from_config({"keys": [str(pub)]}), SignatureTrust)
    for bad in ({"keys": [str(pub)], "nope": 1}, {"keys": str(tmp_path / "missing.pub")},
                {"keys": [str(pub)], "min-signatures": "two"}, {"keys": [str(pub)], "cache-ttl": -1}, {},
                {"keys": [str(pub)], "min-signatures": 0}):
        with pytest.raises(SignError):
            policy_from_mapping(bad)


def test_all_of_needs_every_provider() -> None:
    from mamori.policy.trust import ApprovedDigests
    from mamori.sign.trust import AllOf

    digest = "sha256:" + "ab" * 32

    def signed(ref: str, policy: TrustPolicy, options: RegistryOptions) -> VerifyReport:
        return VerifyReport(ref, digest, True, "1 distinct signer(s) verified: build")

    both = AllOf((SignatureTrust(POLICY, OPTS, verify=signed), ApprovedDigests(frozenset({digest}))))
    ok = both.check(parse_image_ref(f"r.test/app@{digest}"))
    assert ok.trusted and "build" in ok.reason and "approved" in ok.reason
    other = "sha256:" + "cd" * 32
    res = both.check(parse_image_ref(f"r.test/app@{other}"))
    assert not res.trusted and "not among the approved" in res.reason
    assert not AllOf(()).check(parse_image_ref("r.test/app:1")).trusted
