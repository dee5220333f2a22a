"""Latency, connection rate and throughput through the mTLS ambassador vs a direct loopback connection.

    .venv/bin/python bench/ambassador.py              # about 30 s on 2 cores
    .venv/bin/python bench/ambassador.py --seconds 1  # a quick look

Topologies, all on 127.0.0.1 with the same plaintext app at the end (echo / discard):
  direct   app -> backend
  mamori   app -> `mamori ambassador client` -> mTLS -> `mamori ambassador server` -> backend
  stunnel  app -> stunnel (client) -> mTLS -> stunnel (server) -> backend   (when /usr/bin/stunnel4 exists)

Each proxy pair is two processes with the same throw-away SPIFFE certificates (ECDSA P-256), client
certificates required, flow records written to a file. Measured from the app's side:
  latency   one connection, 64-byte request/echo round trips; p50/p99 and p99 added over direct
  conn/s    new connections (each one 64-byte round trip) from 8 threads for --seconds
  MB/s      --mib MiB sent one way over one connection, the backend discards and answers the count
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mamori.ambassador import svid  # noqa: E402

TD = "bench.example"
BACKEND = r"""
import asyncio, sys
import uvloop
async def echo(r, w):
    try:
        while d := await r.read(65536):
            w.write(d)
            await w.drain()
    except OSError:
        pass
    w.close()
async def sink(r, w):
    n = 0
    try:
        while d := await r.read(262144):
            n += len(d)
        w.write(str(n).encode())
        await w.drain()
    except OSError:
        pass
    w.close()
async def main():
    a = await asyncio.start_server(echo, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    b = await asyncio.start_server(sink, "127.0.0.1", int(sys.argv[2]), backlog=1024)
    print("ready", flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


class Stack:
    """Started processes, stopped with SIGTERM (then SIGKILL) by their own pids."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def run(self, argv: list[str]) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()


def make_certs(d: Path) -> dict[str, str]:
    ca = svid.new_ca(TD)
    srv = svid.issue(ca, spiffe=f"spiffe://{TD}/ns/web/sa/server", dns=("localhost",))
    cli = svid.issue(ca, spiffe=f"spiffe://{TD}/ns/app/sa/client", dns=("client.local",))
    out = {}
    for name, pem in (("srv", srv), ("cli", cli)):
        (d / f"{name}.crt").write_bytes(pem.cert)
        (d / f"{name}.key").write_bytes(pem.key)
        os.chmod(d / f"{name}.key", 0o600)
        out[name + "_crt"], out[name + "_key"] = str(d / f"{name}.crt"), str(d / f"{name}.key")
    (d / "ca.crt").write_bytes(ca.cert)
    out["ca"] = str(d / "ca.crt")
    return out


def start_mamori(stack: Stack, c: dict[str, str], d: Path, backend: int, name: str) -> int:
    mid, front = free_port(), free_port()
    amb = [sys.executable, "-m", "mamori.cli.main", "ambassador"]
    stack.run([*amb, "server", "--listen", f"127.0.0.1:{mid}", "--target", f"127.0.0.1:{backend}",
               "--cert", c["srv_crt"], "--key", c["srv_key"], "--ca", c["ca"], "--allow-uri",
               f"spiffe://{TD}/ns/app/*", "--flow-log", str(d / f"{name}-server.jsonl"), "--log-level", "warning",
               "--max-connections", "4096"])
    stack.run([*amb, "client", "--listen", f"127.0.0.1:{front}", "--target", f"127.0.0.1:{mid}",
               "--cert", c["cli_crt"], "--key", c["cli_key"], "--ca", c["ca"], "--allow-uri",
               f"spiffe://{TD}/ns/web/sa/server", "--flow-log", str(d / f"{name}-client.jsonl"),
               "--log-level", "warning", "--max-connections", "4096"])
    wait_port(mid)
    wait_port(front)
    return front


def start_stunnel(stack: Stack, exe: str, c: dict[str, str], d: Path, backend: int, name: str) -> int:
    mid, front = free_port(), free_port()
    common = "foreground = yes\npid =\nsyslog = no\ndebug = 3\noutput = /dev/null\n"
    (d / f"{name}-s.conf").write_text(
        f"{common}[srv]\naccept = 127.0.0.1:{mid}\nconnect = 127.0.0.1:{backend}\ncert = {c['srv_crt']}\n"
        f"key = {c['srv_key']}\nCAfile = {c['ca']}\nverifyChain = yes\nrequireCert = yes\n"
        "sslVersionMin = TLSv1.2\n")
    (d / f"{name}-c.conf").write_text(
        f"{common}[cli]\nclient = yes\naccept = 127.0.0.1:{front}\nconnect = 127.0.0.1:{mid}\n"
        f"cert = {c['cli_crt']}\nkey = {c['cli_key']}\nCAfile = {c['ca']}\nverifyChain = yes\n"
        "checkHost = localhost\nsslVersionMin = TLSv1.2\n")
    stack.run([exe, str(d / f"{name}-s.conf")])
    stack.run([exe, str(d / f"{name}-c.conf")])
    wait_port(mid)
    wait_port(front)
    return front


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed early")
        buf += chunk
    return bytes(buf)


def latency(port: int, seconds: float) -> list[float]:
    msg = os.urandom(64)
    out: list[float] = []
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(200):  # warm-up
            s.sendall(msg)
            recv_exact(s, 64)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            s.sendall(msg)
            if recv_exact(s, 64) != msg:
                raise SystemExit("echo mismatch")
            out.append(time.perf_counter() - t0)
    return out


def conn_rate(port: int, seconds: float, threads: int = 8) -> float:
    count = [0] * threads
    errors = [0] * threads
    end = time.monotonic() + seconds
    msg = b"x" * 64

    def worker(i: int) -> None:
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    s.sendall(msg)
                    recv_exact(s, 64)
                count[i] += 1
            except OSError:
                errors[i] += 1

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if sum(errors):
        print(f"  ({sum(errors)} failed connections)", file=sys.stderr)
    return sum(count) / (time.monotonic() - t0)


def throughput(port: int, mib: int) -> float:
    block = os.urandom(1 << 20)
    with socket.create_connection(("127.0.0.1", port)) as s:
        t0 = time.perf_counter()
        for _ in range(mib):
            s.sendall(block)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := s.recv(100):
            got += chunk
        dt = time.perf_counter() - t0
    if int(got or b"0") != mib << 20:
        raise SystemExit(f"throughput: the backend counted {got!r} bytes, sent {mib << 20}")
    return mib * 1.048576 / dt


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=1000)[int(p * 10) - 1] if len(xs) > 10 else max(xs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="per latency and conn/s measurement")
    ap.add_argument("--mib", type=int, default=256, help="MiB for the throughput measurement")
    ap.add_argument("--no-stunnel", action="store_true")
    args = ap.parse_args()
    stunnel = None if args.no_stunnel else (shutil.which("stunnel4") or shutil.which("stunnel"))
    stack = Stack()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mamori-bench-amb-") as tmp:
        d = Path(tmp)
        certs = make_certs(d)
        echo, sink = free_port(), free_port()
        stack.run([sys.executable, "-c", BACKEND, str(echo), str(sink)])
        wait_port(echo)
        wait_port(sink)
        try:
            fronts: dict[str, tuple[int, int]] = {"direct": (echo, sink)}
            fronts["mamori"] = (start_mamori(stack, certs, d, echo, "echo"), start_mamori(stack, certs, d, sink,
                                                                                         "sink"))
            if stunnel:
                fronts["stunnel"] = (start_stunnel(stack, stunnel, certs, d, echo, "echo"),
                                     start_stunnel(stack, stunnel, certs, d, sink, "sink"))
            else:
                print("stunnel4 not found (apt-get install stunnel4): comparing with direct only", file=sys.stderr)
            for name, (e, s) in fronts.items():
                print(f"measuring {name} ...", file=sys.stderr)
                lat = latency(e, args.seconds)
                results[name] = {"p50_us": pct(lat, 50) * 1e6, "p99_us": pct(lat, 99) * 1e6,
                                 "conn_s": conn_rate(e, args.seconds), "mb_s": throughput(s, args.mib)}
        finally:
            stack.stop()
    base = results["direct"]
    print(f"\n{'':10} {'p50 RTT':>10} {'p99 RTT':>10} {'p99 added':>10} {'conn/s':>9} {'MB/s':>8} {'vs direct':>9}")
    for name, r in results.items():
        added = r["p99_us"] - base["p99_us"]
        print(f"{name:10} {r['p50_us']:8.0f}us {r['p99_us']:8.0f}us {added:8.0f}us {r['conn_s']:9.0f} "
              f"{r['mb_s']:8.0f} {100 * r['mb_s'] / base['mb_s']:8.0f}%")
    print("\nRTT: 64-byte echo round trip on one connection; conn/s: new connection + one round trip, 8 threads;\n"
          "MB/s: one connection, one way. Proxies run as a client+server pair (two hops, two TLS ends).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
