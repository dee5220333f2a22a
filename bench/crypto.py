"""Streaming envelope encryption throughput and peak memory (``mamori.crypto``), against the AESGCM ceiling.

    .venv/bin/python bench/crypto.py --size-mib 1024        # 1 GiB (about 1 GiB of temporary disk)
    .venv/bin/python bench/crypto.py --size-mib 64 --runs 1 # a quick look

The plaintext is generated on the fly (one random MiB, repeated with a counter mixed in,
never stored); the sealed file goes to a temporary directory because unsealing reads it.
Measured in the same run on the same segments:

* ``seal``/``unseal``: :func:`mamori.crypto.seal_stream` / ``unseal_stream`` with a keyring KEK,
  file I/O included (written to the temp dir, unsealed to a counting sink), and seal into a
  counting sink (no I/O: the streaming layer's own cost);
* ``AESGCM ceiling``: ``cryptography``'s AESGCM alone over the same 64 KiB segments, no I/O,
  no header, no HKDF - the most a Python streaming layer over this primitive can reach;
* ``openssl speed -evp aes-256-gcm`` at 64 KiB blocks for 1 s, when openssl is present: the C
  ceiling. (``openssl enc`` cannot be used for files: it refuses AEAD ciphers such as GCM.)

Peak memory is tracemalloc's peak of Python allocations during each phase (a second pass,
since tracing slows allocation) and the process's max RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mamori.crypto import SEGMENT, seal_stream, unseal_stream
from mamori.crypto.keyring import Keyring
from mamori.secrets import Secret

MIB = 1 << 20


class Generated:
    """``size`` bytes of data, produced 64 KiB at a time from one random MiB (not stored)."""

    def __init__(self, size: int) -> None:
        self.block = os.urandom(MIB)
        self.left = size
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        start = self.pos % MIB
        chunk = self.block[start:start + n]
        if len(chunk) < n:
            chunk += self.block[: n - len(chunk)]
        self.pos += n
        self.left -= n
        return chunk


class Sink:
    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def timed(fn: Callable[[], object], trace: bool) -> tuple[float, int]:
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - t0
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return elapsed, peak


def ceiling(size: int) -> tuple[float, float]:
    aead = AESGCM(AESGCM.generate_key(256))
    src = Generated(size)
    segs: list[bytes] = []
    t0 = time.perf_counter()
    index = 0
    while chunk := src.read(SEGMENT):
        nonce = index.to_bytes(12, "big")
        ct = aead.encrypt(nonce, chunk, b"aad")
        if index < 4:
            segs.append(ct)
        index += 1
    enc = time.perf_counter() - t0
    ct0 = segs[0]
    t0 = time.perf_counter()
    for i in range(index):
        aead.decrypt((0).to_bytes(12, "big"), ct0, b"aad")  # same cost per segment as decrypting segment i
        del i
    dec = time.perf_counter() - t0
    return enc, dec


def openssl_speed() -> str:
    exe = shutil.which("openssl")
    if exe is None:
        return "openssl not installed"
    try:
        out = subprocess.run([exe, "speed", "-seconds", "1", "-bytes", str(SEGMENT), "-evp", "aes-256-gcm"],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"openssl speed failed: {exc}"
    for line in out.splitlines():
        if line.lower().startswith("aes-256-gcm"):
            kbps = float(line.split()[-1].rstrip("k"))
            return f"{kbps * 1000 / MIB:,.0f} MiB/s (openssl speed, 64 KiB blocks, one core)"
    return "openssl speed: no aes-256-gcm line"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--tmp", default=None, help="directory for the sealed file (default: system temp)")
    args = ap.parse_args()
    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        ring = Keyring.create(os.path.join(tmp, "kr.json"), Secret("benchmark passphrase"), n=1 << 14)
        wrapper = ring.wrapper()
        sealed = Path(tmp) / "data.sealed"

        gen = Generated(size)  # created once: its random MiB is not part of the measured peak

        def do_seal() -> None:
            gen.left, gen.pos = size, 0
            with sealed.open("wb") as dst:
                seal_stream(gen, dst, [wrapper])  # type: ignore[arg-type]

        def do_seal_memory() -> None:
            gen.left, gen.pos = size, 0
            seal_stream(gen, Sink(), [wrapper])  # type: ignore[arg-type]

        def do_unseal() -> None:
            sink = Sink()
            with sealed.open("rb") as src:
                unseal_stream(src, sink, [wrapper])  # type: ignore[arg-type]
            assert sink.size == size

        print(f"size {args.size_mib} MiB, segment {SEGMENT // 1024} KiB, python {sys.version.split()[0]}, "
              f"cores {os.cpu_count()}")
        for run in range(args.runs):
            s, _ = timed(do_seal, trace=False)
            u, _ = timed(do_unseal, trace=False)
            m, _ = timed(do_seal_memory, trace=False)
            ce, cd = ceiling(size)
            mib = size / MIB
            print(f"run {run + 1}: seal to file {mib / s:,.0f} MiB/s ({s:.2f} s), "
                  f"seal without I/O {mib / m:,.0f} MiB/s, "
                  f"unseal from file {mib / u:,.0f} MiB/s ({u:.2f} s); AESGCM alone: encrypt {mib / ce:,.0f} MiB/s, "
                  f"decrypt {mib / cd:,.0f} MiB/s (seal without I/O at {100 * ce / m:.0f}% of it)")
        overhead = sealed.stat().st_size - size
        _, seal_peak = timed(do_seal, trace=True)
        _, unseal_peak = timed(do_unseal, trace=True)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"peak Python allocations (tracemalloc): seal {seal_peak / 1024:,.0f} KiB, "
              f"unseal {unseal_peak / 1024:,.0f} KiB; max RSS {rss} MiB; "
              f"sealed overhead {overhead:,} bytes ({overhead / size * 100:.3f}%)")
        print(f"C ceiling: {openssl_speed()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
