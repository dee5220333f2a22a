"""Latency, connection rate and throughput through the mTLS ambassador vs a direct loopback connection.

    .venv/bin/python bench/ambassador.py              # about a minute on 2 cores
    .venv/bin/python bench/ambassador.py --seconds 1 --tput-seconds 1 --rounds 3  # a quick look

Topologies, all on 127.0.0.1 with the same plaintext app at the end (echo / discard):
  direct          app -> backend (no TLS anywhere: the baseline)
  mamori server   app (does TLS itself, client certificate) -> `mamori ambassador server` -> backend
  mamori pair     app -> `mamori ambassador client` -> mTLS -> `mamori ambassador server` -> backend
  stunnel server / stunnel pair: the same with stunnel4 (when it is installed)

"server" is one proxy hop (an application that can do TLS talking to a protected service);
"pair" is the ambassador pattern of CSA-3.1.8.6 for applications that cannot do TLS at all:
two proxies, the plaintext crosses loopback three times. The issue's goal (>= 50% of direct
MB/s) is read against both; the table prints both ratios.

Every proxy uses the same throw-away SPIFFE certificates (ECDSA P-256), client certificates
required, flow records written to a file. Measured from the app's side:
  latency   one connection, 64-byte request/echo round trips for --seconds, --rounds rounds with the
            topologies interleaved; the median of the rounds' p50 and p99, and p99 added over direct
  conn/s    new connections (each one 64-byte round trip) from 8 threads for --seconds
  MB/s      one connection, one way, 1 MiB sendall()s for --tput-seconds; the backend discards and
            answers the count. --rounds rounds, topologies interleaved in each round (load drifts
            hit all of them), the median reported; "vs direct" is the median of per-round ratios.
  CPU ns/B  CPU time of every process on the path (app, proxies, backend) per byte moved during
            the throughput runs: what the data path costs, whatever else runs on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import ssl
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
COUNTS = {}
async def echo(r, w):
    try:
        while d := await r.read(65536):
            w.write(d)
            await w.drain()
    except OSError:
        pass
    w.close()
class Sink(asyncio.BufferedProtocol):
    # discard as cheaply as Python can (recv_into one buffer); the first 16 bytes name the run
    def __init__(self):
        self.buf, self.n, self.head = memoryview(bytearray(262144)), 0, b""
    def connection_made(self, t):
        self.t = t
    def get_buffer(self, hint):
        return self.buf
    def buffer_updated(self, n):
        if len(self.head) < 16:
            self.head += bytes(self.buf[:n])
            self.n = max(0, len(self.head) - 16)
        else:
            self.n += n
    def eof_received(self):
        COUNTS[self.head[:16]] = self.n
        self.t.close()
    def connection_lost(self, exc):
        COUNTS.setdefault(self.head[:16], -1 if exc else self.n)
async def count(r, w):  # control: the byte count of a finished run
    key = await r.readexactly(16)
    for _ in range(2000):
        if key in COUNTS:
            break
        await asyncio.sleep(0.005)
    w.write(str(COUNTS.pop(key, -2)).encode())
    await w.drain()
    w.close()
async def main():
    loop = asyncio.get_running_loop()
    await asyncio.start_server(echo, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    await loop.create_server(Sink, "127.0.0.1", int(sys.argv[2]), backlog=1024)
    await asyncio.start_server(count, "127.0.0.1", int(sys.argv[3]))
    print("ready", flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
"""


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: the sockets stay bound until all are chosen (one at a time, the
    kernel may hand the same port out twice, and a proxy then fails to bind while another answers)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


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

    def check(self) -> None:
        """Every started process still runs (a proxy that could not bind exits at once)."""
        for p in self.procs:
            if p.poll() is not None:
                raise SystemExit(f"{str(p.args)[:300]} exited with {p.returncode}")

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


def start_mamori(stack: Stack, c: dict[str, str], d: Path, backend: int, name: str) -> tuple[int, int]:
    """(server port, client port): the server alone is one hop, through the client it is the pair."""
    mid, front = free_ports(2)
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
    stack.check()
    return mid, front


def start_stunnel(stack: Stack, exe: str, c: dict[str, str], d: Path, backend: int, name: str) -> tuple[int, int]:
    mid, front = free_ports(2)
    # sessionResume = no: like mamori (no tickets), every connection is a full mTLS handshake;
    # by default stunnel's client resumes with tickets and skips the certificates altogether.
    common = "foreground = yes\npid =\nsyslog = no\ndebug = 3\noutput = /dev/null\n"
    service = "sessionResume = no\nsslVersionMin = TLSv1.2\n"
    (d / f"{name}-s.conf").write_text(
        f"{common}[srv]\naccept = 127.0.0.1:{mid}\nconnect = 127.0.0.1:{backend}\ncert = {c['srv_crt']}\n"
        f"key = {c['srv_key']}\nCAfile = {c['ca']}\nverifyChain = yes\nrequireCert = yes\n{service}")
    (d / f"{name}-c.conf").write_text(
        f"{common}[cli]\nclient = yes\naccept = 127.0.0.1:{front}\nconnect = 127.0.0.1:{mid}\n"
        f"cert = {c['cli_crt']}\nkey = {c['cli_key']}\nCAfile = {c['ca']}\nverifyChain = yes\n"
        f"checkHost = localhost\n{service}")
    stack.run([exe, str(d / f"{name}-s.conf")])
    stack.run([exe, str(d / f"{name}-c.conf")])
    wait_port(mid)
    wait_port(front)
    stack.check()
    return mid, front


def client_tls(c: dict[str, str]) -> ssl.SSLContext:
    """The app's own TLS for the one-hop topologies: client certificate, server name checked."""
    ctx = ssl.create_default_context(cafile=c["ca"])
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(c["cli_crt"], c["cli_key"])
    return ctx


def connect(port: int, ctx: ssl.SSLContext | None, timeout: float | None = None) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx.wrap_socket(s, server_hostname="localhost") if ctx is not None else s


def cpu_seconds(pid: int) -> float:
    """user+system CPU of a process and its reaped children (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")


def failed_flows(d: Path) -> list[str]:
    """The reasons the ambassadors' flow logs give for connections that did not end well."""
    out = []
    for log in sorted(d.glob("*.jsonl")):
        for line in log.read_text(errors="replace").splitlines():
            flow = json.loads(line).get("mamori", {}).get("ambassador", {})
            if flow.get("result") not in ("allowed", None):
                out.append(f"{log.stem}: {flow.get('result')} {flow.get('reason', '')}"[:300])
    return out[-10:]


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed early")
        buf += chunk
    return bytes(buf)


def latency(port: int, seconds: float, ctx: ssl.SSLContext | None) -> list[float]:
    msg = os.urandom(64)
    out: list[float] = []
    with connect(port, ctx) as s:
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


def conn_rate(port: int, seconds: float, ctx: ssl.SSLContext | None, threads: int = 8) -> float:
    count = [0] * threads
    errors = [0] * threads
    end = time.monotonic() + seconds
    msg = b"x" * 64

    def worker(i: int) -> None:
        while time.monotonic() < end:
            try:
                with connect(port, ctx, timeout=10) as s:
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


def throughput(port: int, control: int, seconds: float, ctx: ssl.SSLContext | None,
               pids: list[int]) -> tuple[float, list[float]]:
    """(MB/s, CPU ns per byte of the app, then of each of ``pids``) for one connection sending for ``seconds``.

    The clock stops when the backend has closed after counting everything (the EOF came back
    through the proxies); the count is then checked over a separate plaintext connection.
    """
    block = os.urandom(1 << 20)
    key = os.urandom(16)

    def cpu_now() -> list[float]:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return [ru.ru_utime + ru.ru_stime] + [cpu_seconds(p) for p in pids]

    with connect(port, ctx) as s:
        s.sendall(key)
        cpu0 = cpu_now()
        t0 = time.perf_counter()
        end = t0 + seconds
        sent = 0
        while time.perf_counter() < end:
            s.sendall(block)
            sent += len(block)
        raw = s.unwrap() if isinstance(s, ssl.SSLSocket) else s  # close_notify, answered after the backend's FIN
        raw.shutdown(socket.SHUT_WR)
        while raw.recv(4096):
            pass
        dt = time.perf_counter() - t0
        cpu = [b - a for a, b in zip(cpu0, cpu_now(), strict=True)]
    with socket.create_connection(("127.0.0.1", control), timeout=15) as c:
        c.sendall(key)
        got = recv_all(c)
    if got != str(sent).encode():
        raise SystemExit(f"throughput: the backend counted {got!r} bytes, sent {sent}")
    return sent / 1e6 / dt, [c * 1e9 / sent for c in cpu]


def recv_all(s: socket.socket, limit: int = 100) -> bytes:
    out = b""
    while len(out) <= limit and (chunk := s.recv(limit)):
        out += chunk
    return out


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=1000)[int(p * 10) - 1] if len(xs) > 10 else max(xs)


def aead_rates(seconds: float = 0.3) -> dict[str, float]:
    """MB/s per CPU-second sealing 16 KiB records (the TLS record size) with OpenSSL via cryptography."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

    rec = os.urandom(16384)
    out = {}
    for name, aead in (("AES-128-GCM", AESGCM(os.urandom(16))), ("AES-256-GCM", AESGCM(os.urandom(32))),
                       ("ChaCha20-Poly1305", ChaCha20Poly1305(os.urandom(32)))):
        n, t0 = 0, time.process_time()  # CPU time: other load on the machine does not count
        while time.process_time() - t0 < seconds:
            aead.encrypt(b"\0" * 12, rec, None)
            n += 1
        out[name] = n * len(rec) / 1e6 / (time.process_time() - t0)
    return out


def negotiated(port: int, ctx: ssl.SSLContext) -> str:
    with connect(port, ctx) as s:
        assert isinstance(s, ssl.SSLSocket)
        c = s.cipher()
        return f"{s.version()} {c[0] if c else '?'}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.5,
                    help="per latency round and per conn/s measurement")
    ap.add_argument("--tput-seconds", type=float, default=2.0, help="per throughput run")
    ap.add_argument("--rounds", type=int, default=3, help="throughput rounds (median reported)")
    ap.add_argument("--no-stunnel", action="store_true")
    ap.add_argument("--only", choices=("direct", "server", "pair"), action="append",
                    help="measure only these topologies (direct is always measured)")
    args = ap.parse_args()
    stunnel = None if args.no_stunnel else (shutil.which("stunnel4") or shutil.which("stunnel"))
    kinds = set(args.only or ("server", "pair"))
    stack = Stack()
    lat: dict[str, dict[str, float]] = {}
    tput: dict[str, list[tuple[float, float]]] = {}
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs",
          file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="mamori-bench-amb-") as tmp:
        d = Path(tmp)
        certs = make_certs(d)
        ctx = client_tls(certs)
        echo, sink, control = free_ports(3)
        backend = stack.run([sys.executable, "-c", BACKEND, str(echo), str(sink), str(control)])
        for p in (echo, sink, control):
            wait_port(p)
        stack.check()
        # name -> (echo port, sink port, the app's TLS context or None, pids on the sink path)
        topo: dict[str, tuple[int, int, ssl.SSLContext | None, list[int]]] = {
            "direct": (echo, sink, None, [backend.pid])}
        cipher = ""
        try:
            proxies = [("mamori", lambda b, n: start_mamori(stack, certs, d, b, n))]
            if stunnel:
                proxies.append(("stunnel", lambda b, n: start_stunnel(stack, stunnel, certs, d, b, n)))
            else:
                print("stunnel4 not found (apt-get install stunnel4): comparing with direct only", file=sys.stderr)
            for name, start in proxies:
                e_srv, e_pair = start(echo, f"{name}-echo")
                k = len(stack.procs)
                s_srv, s_pair = start(sink, f"{name}-sink")
                srv_pid, cli_pid = stack.procs[k].pid, stack.procs[k + 1].pid
                if "server" in kinds:
                    topo[f"{name} server"] = (e_srv, s_srv, ctx, [backend.pid, srv_pid])
                if "pair" in kinds:
                    topo[f"{name} pair"] = (e_pair, s_pair, None, [backend.pid, srv_pid, cli_pid])
                if name == "mamori":
                    cipher = negotiated(s_srv, ctx)
            rtts: dict[str, list[list[float]]] = {}
            for r in range(args.rounds):  # interleaved like the throughput rounds: a burst of load hits all
                for name, (e, _, c, _) in topo.items():
                    try:
                        rtts.setdefault(name, []).append(latency(e, args.seconds, c))
                    except ConnectionError as exc:
                        raise SystemExit(f"{name}: {exc}; the proxies' failed flows: {failed_flows(d)}") from None
                print(f"latency round {r + 1}: " + ", ".join(f"{n} p99 {pct(v[-1], 99) * 1e6:.0f}us"
                                                             for n, v in rtts.items()), file=sys.stderr)
            for name, (e, _, c, _) in topo.items():
                print(f"conn/s: {name} ...", file=sys.stderr)
                lat[name] = {"p50_us": statistics.median(pct(x, 50) for x in rtts[name]) * 1e6,
                             "p99_us": statistics.median(pct(x, 99) for x in rtts[name]) * 1e6,
                             "conn_s": conn_rate(e, args.seconds, c)}
            for r in range(args.rounds):
                for name, (_, s, c, pids) in topo.items():
                    tput.setdefault(name, []).append(throughput(s, control, args.tput_seconds, c, pids))
                print(f"throughput round {r + 1}: " + ", ".join(f"{n} {v[-1][0]:.0f}" for n, v in tput.items()),
                      file=sys.stderr)
        finally:
            stack.stop()
    rates = aead_rates()
    base = lat["direct"]
    print(f"\n{'':15} {'p50 RTT':>9} {'p99 RTT':>9} {'p99 added':>9} {'conn/s':>7} {'MB/s':>6} {'vs direct':>9} "
          f"{'CPU ns/B':>8}")
    for name, r in lat.items():
        mbs = statistics.median(x[0] for x in tput[name])
        ratio = statistics.median(x[0] / y[0] for x, y in zip(tput[name], tput["direct"], strict=True))
        nsb = statistics.median(sum(x[1]) for x in tput[name])
        print(f"{name:15} {r['p50_us']:7.0f}us {r['p99_us']:7.0f}us {r['p99_us'] - base['p99_us']:7.0f}us "
              f"{r['conn_s']:7.0f} {mbs:6.0f} {100 * ratio:8.0f}% {nsb:8.2f}")
    print(f"\n{'CPU ns/B of':15} {'app':>7} {'backend':>8} {'server proxy':>13} {'client proxy':>13}   (medians)")
    for name in lat:
        cols = [statistics.median(x[1][i] for x in tput[name]) for i in range(len(tput[name][0][1]))]
        print(f"{name:15} " + " ".join(f"{v:{w}.2f}" for v, w in zip(cols, (7, 8, 13, 13), strict=False)))
    print(f"\nmamori negotiates {cipher}; a CPU-second seals 16 KiB records at "
          + ", ".join(f"{k} {v:.0f} MB/s" for k, v in rates.items()) + ".")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"RTT: 64-byte echo round trip on one connection, median over {args.rounds} interleaved rounds of each "
          "round's p50/p99;\nconn/s: new connection (full mTLS handshakes) + one round trip, 8 threads;\n"
          f"MB/s: one connection, one way, median of {args.rounds} runs of {args.tput_seconds:g} s; vs direct: median "
          "of the per-round ratios;\nCPU ns/B: CPU time of the app, the proxies and the backend per byte moved.\n"
          "server: the app does TLS itself to one proxy; pair: plaintext app -> client proxy -> server proxy.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
