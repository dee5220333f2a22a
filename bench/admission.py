"""Load benchmark of the admission webhook: a fixed request rate over HTTPS on loopback.

Why this shape: the API server calls webhooks at whatever rate the cluster creates objects,
not when the webhook is ready, so the load is *open loop*: requests are scheduled at a fixed
rate and latency is measured from the scheduled time (no coordinated omission - a stalled
server shows as latency, not as a lower rate). N clients each keep one HTTPS keep-alive
connection, like the API server's pooled clients. The payloads are real AdmissionReviews
of Pods and Deployments, hardened and insecure, so both allow and deny paths are timed.
The server is a real `mamori serve` process with TLS and the decision store on.

Peer: Kyverno's published figure (its docs' scaling page) is 42.67 ms average, 141.24 ms
max, at 100 virtual users on a 32-core host; it cannot run here (no cluster), so it is quoted.

    .venv/bin/python bench/admission.py [--rate 200] [--clients 50] [--duration 60] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from loadgen import Conn  # noqa: E402  (a sibling script)
from tests.server.reviews import HARDENED_POD, insecure_pod, review, workload  # noqa: E402
from tests.server.tlsutil import localhost_tls  # noqa: E402

KYVERNO_AVG_MS = 42.67  # 100 VUs, 1 replica, 17 PSS policies
EXTRA: list[str] = [a for a in os.environ.get("MAMORI_SERVE_ARGS", "").split() if a]


def _payloads(n: int = 64) -> list[bytes]:
    rnd = random.Random(7)
    out = []
    for i in range(n):
        kind = ("Pod", "Deployment")[i % 2]
        spec = HARDENED_POD if rnd.random() < 0.6 else insecure_pod()
        out.append(json.dumps(review(workload(kind, spec, name=f"w{i}"))).encode())
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp: Path, tls: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "MAMORI_HOME": str(tmp / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "mamori.cli.main", "serve", "--no-config", "--listen",
                             f"127.0.0.1:{port}", "--tls-cert", tls["cert"], "--tls-key", tls["key"],
                             "--log-level", "warning", "--no-access-log", *EXTRA], env=env, cwd=tmp,
                            stdout=subprocess.DEVNULL, stderr=(tmp / "serve.log").open("wb"))
    url = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=tls["ca"])
    for _ in range(300):
        try:
            if httpx.get(url + "/readyz", verify=ctx, timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"mamori serve did not start: {(tmp / 'serve.log').read_text()}")


async def _load(url: str, ca: str, rate: float, clients: int, duration: float,
                payloads: list[bytes]) -> tuple[list[float], int, int]:
    ctx = ssl.create_default_context(cafile=ca)
    host, port = url.removeprefix("https://").rsplit(":", 1)
    latencies: list[float] = []
    errors = 0
    denied = 0
    interval = clients / rate  # each client's share of the schedule
    conns = [Conn(host, int(port), ctx) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in conns))  # connect before the clock starts
    t0 = time.perf_counter() + 0.2

    async def client(idx: int) -> None:
        nonlocal errors, denied
        conn = conns[idx]
        k = 0
        while True:
            due = t0 + idx * (interval / clients) + k * interval
            if due - t0 >= duration:
                conn.close()
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = payloads[(idx + k * clients) % len(payloads)]
            try:
                status, payload = await conn.post("/validate", body)
                ok = status == 200
                if ok and b'"allowed":false' in payload:
                    denied += 1
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                ok = False
                conn.close()
            latencies.append(time.perf_counter() - due)
            if not ok:
                errors += 1
            k += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, errors, denied


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second (all clients together)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per run")
    ap.add_argument("--runs", type=int, default=1, help="runs; medians of the per-run figures are printed")
    args = ap.parse_args()
    payloads = _payloads()
    with tempfile.TemporaryDirectory(prefix="mamori-bench-") as d:
        tmp = Path(d)
        tls = localhost_tls(tmp)
        proc, url = _start(tmp, tls)
        try:
            rows = []
            for run in range(args.runs):
                server_cpu = _cpu_seconds(proc.pid)
                client_cpu = time.process_time()
                lat, err, denied = asyncio.run(_load(url, tls["ca"], args.rate, args.clients, args.duration,
                                                     payloads))
                server_cpu = _cpu_seconds(proc.pid) - server_cpu
                client_cpu = time.process_time() - client_cpu
                row = {"requests": len(lat), "errors": err, "denied": denied, "p50": _pct(lat, 0.50),
                       "p95": _pct(lat, 0.95), "p99": _pct(lat, 0.99), "max": max(lat) * 1000,
                       "mean": statistics.fmean(lat) * 1000, "rate": len(lat) / args.duration,
                       "server_cpu_ms": server_cpu * 1000 / len(lat), "client_cpu_ms": client_cpu * 1000 / len(lat)}
                rows.append(row)
                print(f"run {run + 1}: {row['requests']} requests ({row['rate']:.0f}/s), {err} errors, "
                      f"{denied} denied; p50 {row['p50']:.2f} ms, p95 {row['p95']:.2f} ms, "
                      f"p99 {row['p99']:.2f} ms, max {row['max']:.2f} ms; CPU per request: server "
                      f"{row['server_cpu_ms']:.2f} ms, load generator {row['client_cpu_ms']:.2f} ms")
        finally:
            proc.terminate()
            proc.wait(15)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"\nmamori admission webhook, {args.rate:.0f} req/s, {args.clients} clients, {args.duration:.0f} s x "
          f"{args.runs} (medians): p50 {med['p50']:.2f} ms  p95 {med['p95']:.2f} ms  p99 {med['p99']:.2f} ms  "
          f"mean {med['mean']:.2f} ms  errors {med['errors']:.0f}")
    print(f"Kyverno (published, 100 VUs, 32 cores): mean {KYVERNO_AVG_MS} ms -> mamori mean is "
          f"{KYVERNO_AVG_MS / med['mean']:.1f}x lower; goal p99 < 10 ms: "
          f"{'met' if med['p99'] < 10 and med['errors'] == 0 else 'NOT met'}")


if __name__ == "__main__":
    main()
