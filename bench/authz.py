"""Load benchmark of the Docker AuthZ plugin: a fixed rate of AuthZReq messages over its unix socket.

Why this shape: dockerd asks the plugin before *every* API call, at whatever rate clients
make them, so the load is open loop: requests are scheduled at a fixed rate and latency is
measured from the scheduled time (a stalled plugin shows as latency, not as a lower rate).
N clients each keep one keep-alive connection to the socket, as the daemon's plugin client
does. The messages are the daemon's real ones (tests/fixtures/docker/authz, captured from
docker CLI 28 and dockerd 20.10) with names and images varied: hardened and insecure
container creates, execs, image pulls and plain reads, so allow, deny and refusal paths are
all timed. The plugin runs in its own process (uvicorn, as `mamori serve` runs it) with the
decision store on, and every answer is checked against the expected Allow.

    .venv/bin/python bench/authz.py [--rate 200] [--clients 50] [--duration 60]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from loadgen import Conn  # noqa: E402  (a sibling script)

PLUGIN_HEADERS = "Content-Type: application/json\r\nAccept: application/vnd.docker.plugins.v1+json\r\n"
FIXTURES = REPO / "tests" / "fixtures" / "docker" / "authz"
POLICY = "allow:\n  registries: [localhost, docker.io]\n"
MIX = (("create-hardened", 0.35), ("create-insecure", 0.25), ("exec", 0.15), ("pull", 0.10), ("read", 0.15))


def _fixture(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def _with_body(msg: dict[str, object], uri: str, body: dict[str, object]) -> dict[str, object]:
    raw = json.dumps(body).encode()
    headers = dict(msg["RequestHeaders"])  # type: ignore[call-overload]
    headers["Content-Length"] = str(len(raw))
    return {**msg, "RequestUri": uri, "RequestBody": base64.b64encode(raw).decode(), "RequestHeaders": headers}


def payloads(n: int = 200, seed: int = 7) -> list[tuple[str, bytes, bool]]:
    """(kind, message, expected Allow) in the benchmark's mix."""
    rnd = random.Random(seed)
    hardened, insecure = _fixture("run-hardened"), _fixture("run-insecure")
    hb = json.loads(base64.b64decode(str(hardened["RequestBody"])))
    ib = json.loads(base64.b64decode(str(insecure["RequestBody"])))
    out: list[tuple[str, bytes, bool]] = []
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    for i in range(n):
        kind = rnd.choices(kinds, weights)[0]
        image = f"localhost/team/app{i % 17}:1.{i % 5}"
        if kind == "create-hardened":
            msg, ok = _with_body(hardened, f"/v1.41/containers/create?name=h{i}", {**hb, "Image": image}), True
        elif kind == "create-insecure":
            msg, ok = _with_body(insecure, f"/v1.41/containers/create?name=i{i}", {**ib, "Image": image}), False
        elif kind == "exec":
            priv = i % 2 == 0
            msg = _with_body(_fixture("exec-privileged"), f"/v1.41/containers/c{i}/exec",
                             {"User": "", "Privileged": priv, "Cmd": ["sh", "-c", "id"], "Env": None})
            ok = not priv
        elif kind == "pull":
            evil = i % 3 == 0
            ref = f"registry.invalid%2Fteam%2Fapp{i}" if evil else f"localhost%2Fteam%2Fapp{i}"
            msg, ok = {**_fixture("pull"), "RequestUri": f"/v1.41/images/create?fromImage={ref}&tag=1.0"}, not evil
        else:
            msg = {"RequestMethod": "GET", "RequestUri": "/v1.41/containers/json?all=1",
                   "RequestHeaders": {"User-Agent": "Docker-Client/28.2.2 (linux)"}}
            ok = True
        out.append((kind, json.dumps(msg).encode(), ok))
    return out


async def run(sock: str, rate: float, clients: int, duration: float,
              msgs: list[tuple[str, bytes, bool]]) -> dict[str, object]:
    total = int(rate * duration)
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    next_index = 0
    # Connections are made before the clock starts; a light client keeps the CPU for the plugin.
    pool = [Conn(uds=sock) for _ in range(clients)]
    start = 0.0

    async def worker(client: Conn) -> None:
        nonlocal next_index
        while next_index < total:
            i = next_index
            next_index += 1
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            kind, body, expected = msgs[i % len(msgs)]
            try:
                status, payload = await client.post("/AuthZPlugin.AuthZReq", body, PLUGIN_HEADERS)
                answer = json.loads(payload)
                if status != 200:
                    errors[f"http {status}"] = errors.get(f"http {status}", 0) + 1
                elif answer.get("Allow") is not expected or answer.get("Err"):
                    errors[f"wrong answer ({kind})"] = errors.get(f"wrong answer ({kind})", 0) + 1
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                client.close()
                continue
            ms = (time.perf_counter() - due) * 1000
            latencies.append(ms)
            by_kind.setdefault(kind, []).append(ms)

    await asyncio.gather(*(c.post("/Plugin.Activate", b"", PLUGIN_HEADERS) for c in pool))  # open every connection
    t0 = start = time.perf_counter() + 0.05
    try:
        await asyncio.gather(*(worker(c) for c in pool))
    finally:
        for c in pool:
            c.close()
    wall = time.perf_counter() - t0

    def pct(values: list[float], p: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "requests": total, "answered": len(latencies), "errors": errors, "seconds": round(wall, 2),
        "achieved_rate": round(len(latencies) / wall, 1) if wall else 0.0,
        "p50_ms": round(pct(latencies, 50), 2), "p95_ms": round(pct(latencies, 95), 2),
        "p99_ms": round(pct(latencies, 99), 2), "max_ms": round(max(latencies, default=float("nan")), 2),
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else float("nan"),
        "p50_ms_by_kind": {k: round(pct(v, 50), 2) for k, v in sorted(by_kind.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    ap.add_argument("--clients", type=int, default=50, help="concurrent connections (default 50)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = ap.parse_args()
    if not 0 < args.rate <= 5000 or not 0 < args.duration <= 600 or not 0 < args.clients <= 500:
        ap.error("--rate must be 1-5000, --duration 1-600 s, --clients 1-500")
    with tempfile.TemporaryDirectory(prefix="mamori-authz-bench-") as tmp:
        sock, policy = os.path.join(tmp, "plugin.sock"), os.path.join(tmp, "policy.yaml")
        Path(policy).write_text(POLICY)
        # The real product path: `mamori serve` with only the AuthZ socket and the decision store on.
        proc = subprocess.Popen([sys.executable, "-m", "mamori.cli.main", "serve", "--no-webhook", "--authz-socket",
                                 sock, "--config", policy, "--db", f"sqlite:///{tmp}/decisions.db", "--log-level",
                                 "warning", "--no-access-log"], env={**os.environ, "PYTHONPATH": str(REPO)},
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(sock):
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit("bench: the plugin server did not start")
                time.sleep(0.05)
            msgs = payloads()
            asyncio.run(run(sock, 50, 5, 1, msgs))  # warm-up: imports, rule registry, connections
            result = asyncio.run(run(sock, args.rate, args.clients, args.duration, msgs))
        finally:
            proc.terminate()
            proc.wait(10)
    result.update(rate=args.rate, clients=args.clients, duration=args.duration, mix=dict(MIX))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"AuthZ plugin, {args.rate:g} req/s target, {args.clients} clients, {args.duration:g} s "
          f"({result['requests']} requests, mix {', '.join(f'{k} {w:.0%}' for k, w in MIX)})")
    print(f"  answered {result['answered']} at {result['achieved_rate']} req/s; errors: {result['errors'] or 'none'}")
    print(f"  latency ms: p50 {result['p50_ms']}  p95 {result['p95_ms']}  p99 {result['p99_ms']}  "
          f"max {result['max_ms']}  mean {result['mean_ms']}")
    print(f"  p50 by kind: {result['p50_ms_by_kind']}")
    if result["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
