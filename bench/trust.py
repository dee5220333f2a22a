"""Sign and verify N images' cosign signatures on a local docker-registry; per-verification latency.

    .venv/bin/python bench/trust.py --n 1000        # the issue's size (about a minute on 2 cores)
    .venv/bin/python bench/trust.py --n 100         # a quick look

Phases, each timed per image: push a small synthetic image, ``sign_image`` (resolve, sign,
append to ``sha256-<hex>.sig``), a cold ``verify_image`` (every registry round trip), then the
admission path: :class:`mamori.sign.trust.SignatureTrust` checks by digest with a warm cache
(the goal: under 1 ms), and by tag (tag -> digest cache, then digest cache).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.image.components import start_registry  # noqa: E402
from tests.sign.conftest import push_image  # noqa: E402

from mamori.image.registry import RegistryOptions  # noqa: E402
from mamori.sign import keys  # noqa: E402
from mamori.sign.signer import sign_image  # noqa: E402
from mamori.sign.trust import SignatureTrust  # noqa: E402
from mamori.sign.verifier import TrustPolicy, verify_image  # noqa: E402
from mamori.sources.imageref import parse_image_ref  # noqa: E402


def summary(name: str, samples: list[float]) -> str:
    s = sorted(samples)
    p = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    unit, k = ("us", 1e6) if s[-1] < 1e-2 else ("ms", 1e3)
    return (f"{name:<28} n={len(s):<6} mean {statistics.fmean(s) * k:8.2f} {unit}  p50 {p(0.5) * k:8.2f}  "
            f"p99 {p(0.99) * k:8.2f}  max {s[-1] * k:8.2f} {unit}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="images (default 1000)")
    ap.add_argument("--rounds", type=int, default=10, help="warm-cache checks per image (default 10)")
    args = ap.parse_args()
    opts = RegistryOptions(insecure=True)
    key = keys.generate()
    policy = TrustPolicy(keys={"build": key.public_key()})
    reg = start_registry()
    try:
        refs, push_t, sign_t, verify_t = [], [], [], []
        for i in range(args.n):
            ref = f"{reg.host}/bench/app{i % 20}:v{i}"
            t0 = time.perf_counter()
            digest = push_image(ref, f"bench layer {i}".encode())
            t1 = time.perf_counter()
            sign_image(ref, key, opts)
            t2 = time.perf_counter()
            report = verify_image(ref, policy, opts)
            t3 = time.perf_counter()
            if not report.ok:
                raise SystemExit(f"verification failed for {ref}: {report.reason}")
            refs.append((ref, f"{ref.rsplit(':', 1)[0]}@{digest}"))
            push_t.append(t1 - t0)
            sign_t.append(t2 - t1)
            verify_t.append(t3 - t2)
        trust = SignatureTrust(policy, opts, ttl=3600, tag_ttl=3600)
        fill_t = []
        for tag_ref, _ in refs:
            t0 = time.perf_counter()
            assert trust.check(parse_image_ref(tag_ref)).trusted
            fill_t.append(time.perf_counter() - t0)
        parsed = [(parse_image_ref(t), parse_image_ref(d)) for t, d in refs]
        by_digest, by_tag = [], []
        for _ in range(args.rounds):
            for tag_ref, digest_ref in parsed:
                t0 = time.perf_counter()
                ok1 = trust.check(digest_ref).trusted
                t1 = time.perf_counter()
                ok2 = trust.check(tag_ref).trusted
                t2 = time.perf_counter()
                assert ok1 and ok2
                by_digest.append(t1 - t0)
                by_tag.append(t2 - t1)
        print(f"mamori bench/trust: {args.n} images on docker-registry {reg.host} (ECDSA P-256 key signatures)")
        for name, samples in (("push image", push_t), ("sign (append .sig)", sign_t),
                              ("verify, cold (registry)", verify_t), ("trust check, cache fill", fill_t),
                              ("trust check, warm, digest", by_digest), ("trust check, warm, tag", by_tag)):
            print(summary(name, samples))
        print(f"cache: {trust.hits} hits, {trust.misses} misses; goal < 1 ms per warm verification: "
              f"{'met' if max(statistics.fmean(by_digest), statistics.fmean(by_tag)) < 1e-3 else 'NOT met'}")
    finally:
        reg.stop()


if __name__ == "__main__":
    main()
