"""The audit log under load: HTTPS and syslog/TLS ingest rates, `log verify` of a million entries, proof timings.

1. ingest: a real ``mamori serve --audit-db`` over HTTPS on 127.0.0.1 (its own CA), several
   client threads posting batches for ``--seconds``; prints entries/s acknowledged (each
   acknowledgement means committed) and request latency percentiles.
1b. syslog: a real ``mamori serve --syslog-tls`` (mTLS, client certificates) and ``--clients``
   connections streaming octet-counted RFC 5424 messages (Docker's rfc5424micro shape) for
   ``--seconds``, then waits until the store holds exactly every message sent (syslog has no
   acknowledgement); entries/s = messages sent / time until the last one was committed (the growth
   of the log during the sending window is printed too).
   Both ingest benchmarks run ``--runs`` times; the medians are printed side by side.
2. verify: ``--entries`` entries appended straight into a SQLite store (the same append path
   the collector uses, in batches), one signed checkpoint, then ``mamori log verify`` (every
   leaf recomputed from the stored bytes) timed, plus the head root and root-at-size.
3. proofs: inclusion and consistency proofs generated from that store and verified offline.

    .venv/bin/python bench/audit.py [--entries 1000000] [--seconds 10] [--clients 4] [--batch 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MAMORI = [sys.executable, "-m", "mamori.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_ingest(tmp: Path, seconds: float, clients: int, batch: int) -> dict[str, float]:
    from tests.server.tlsutil import localhost_tls

    tls = localhost_tls(tmp / "tls")
    home = tmp / "ingest-home"
    home.mkdir()
    env = {**os.environ, "MAMORI_HOME": str(home)}
    subprocess.run([*MAMORI, "log", "keygen"], env=env, check=True, capture_output=True)
    tok = subprocess.run([*MAMORI, "log", "token", "--identity", "bench", "--tokens", str(home / "tokens")],
                         env=env, check=True, capture_output=True, text=True).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([*MAMORI, "serve", "--no-config", "--listen", f"127.0.0.1:{port}", "--tls-cert",
                             tls["cert"], "--tls-key", tls["key"], "--audit-db", "default", "--ingest-tokens",
                             str(home / "tokens"), "--checkpoint-key", str(home / "audit-key.pem"),
                             "--checkpoint-interval", "5", "--no-access-log", "--no-record"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=tls["ca"])
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/readyz", verify=ctx).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        lat: list[float] = []
        acked = [0]
        errors = [0]
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def client(n: int) -> None:
            rng = random.Random(n)
            with httpx.Client(base_url=url, verify=ctx, headers={"Authorization": f"Bearer {tok}"},
                              timeout=30) as c:
                b = 0
                while time.monotonic() < stop:
                    body = json.dumps({"entries": [
                        {"type": "container.exec", "container": f"ctr-{rng.randrange(100)}", "image": "busybox:1.36",
                         "payload": {"client": n, "batch": b, "i": i, "cmd": ["sh", "-c", "id"], "user": "root"}}
                        for i in range(batch)]})
                    t0 = time.perf_counter()
                    r = c.post("/v1/logs", content=body, headers={"Content-Type": "application/json"})
                    dt = time.perf_counter() - t0
                    with lock:
                        if r.status_code == 200:
                            acked[0] += r.json()["accepted"]
                            lat.append(dt)
                        else:
                            errors[0] += 1
                    b += 1

        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(30)
    v = subprocess.run([*MAMORI, "log", "verify"], env=env, capture_output=True, text=True)
    lat.sort()
    return {"entries_acked": acked[0], "seconds": round(wall, 2), "entries_per_s": round(acked[0] / wall),
            "requests": len(lat), "non_200": errors[0], "p50_ms": round(statistics.median(lat) * 1000, 1),
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1), "verify_after_ok": v.returncode == 0}


def bench_syslog(tmp: Path, seconds: float, clients: int) -> dict[str, float]:
    from tests.audit.test_mtls import client_cert
    from tests.server.tlsutil import localhost_tls

    from mamori.audit.log import open_log

    tls = localhost_tls(tmp / "tls")
    ca, cert, key = client_cert(tmp)
    home = tmp / "syslog-home"
    home.mkdir()
    env = {**os.environ, "MAMORI_HOME": str(home)}
    subprocess.run([*MAMORI, "log", "keygen"], env=env, check=True, capture_output=True)
    port = free_port()
    err = tmp / "syslog-serve.log"
    proc = subprocess.Popen([*MAMORI, "serve", "--no-config", "--no-webhook", "--no-record", "--audit-db", "default",
                             "--tls-cert", tls["cert"], "--tls-key", tls["key"], "--tls-client-ca", ca,
                             "--syslog-tls", f"127.0.0.1:{port}", "--checkpoint-key", str(home / "audit-key.pem"),
                             "--checkpoint-interval", "5", "--no-access-log"], env=env,
                            stdout=subprocess.DEVNULL, stderr=err.open("wb"))
    for _ in range(300):
        if "syslog-tls listening" in err.read_text():
            break
        time.sleep(0.1)
    log = open_log(f"sqlite:///{home / 'mamori.db'}")
    sent = [0] * clients
    stop = threading.Event()
    try:
        def client(n: int) -> None:
            ctx = ssl.create_default_context(cafile=tls["ca"])
            ctx.load_cert_chain(cert, key)
            msgs = []
            for i in range(1000):
                body = (f"<30>1 2026-11-26T16:27:52.{i:06d}Z node-{n} web-{i % 50} 4711 web-{i % 50} - "
                        f"GET /api/items/{i} 200 0.0{i % 10}s user=alice trace={n:02d}{i:06d}").encode()
                msgs.append(b"%d %s" % (len(body), body))
            chunk = b"".join(msgs)
            with socket.create_connection(("127.0.0.1", port)) as raw, \
                    ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)  # short drain after the window
                while not stop.is_set():
                    s.sendall(chunk)  # blocks while the collector pushes back
                    sent[n] += len(msgs)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        start = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(0.5)
        s0, t0 = log.head().size, time.monotonic()
        time.sleep(max(0.5, seconds - 0.5))
        s1, t1 = log.head().size, time.monotonic()
        stop.set()
        for t in threads:
            t.join()
        total = sum(sent)
        deadline = time.monotonic() + 60
        while log.head().size < total and time.monotonic() < deadline:
            time.sleep(0.02)
        stored = log.head().size
        end = time.monotonic()
    finally:
        proc.terminate()
        proc.wait(30)
    malformed = len(log.query(type="syslog.malformed", limit=10))
    v = subprocess.run([*MAMORI, "log", "verify"], env=env, capture_output=True, text=True)
    # entries_per_s: everything sent, until the last of it is committed (kernel buffers drained too)
    return {"entries_per_s": round(stored / (end - start)), "seconds": round(end - start, 2),
            "window_entries_per_s": round((s1 - s0) / (t1 - t0)), "sent": total,
            "stored": stored, "all_stored": stored == total, "malformed": malformed,
            "verify_after_ok": v.returncode == 0}


def bench_store(tmp: Path, entries: int) -> dict[str, float]:
    from mamori.audit import merkle
    from mamori.audit.entry import new_entry
    from mamori.audit.keys import generate
    from mamori.audit.log import open_log
    from mamori.audit.verify import verify_store

    url = f"sqlite:///{tmp / 'big.db'}"
    log = open_log(url)
    signer = generate(tmp / "big-key.pem", "bench")
    t0 = time.perf_counter()
    chunk = 20_000
    for start in range(0, entries, chunk):
        log.append([new_entry({"type": "container.exec", "container": f"ctr-{i % 100}", "image": "busybox:1.36",
                               "payload": {"i": i, "cmd": ["sh", "-c", "id"]}}, "bench")
                    for i in range(start, min(entries, start + chunk))])
        if start and start % (chunk * 10) == 0:
            log.checkpoint(signer)
    gen = time.perf_counter() - t0
    log.checkpoint(signer)
    t0 = time.perf_counter()
    head = log.head()
    head_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    root_mid = log.root_at(entries - 12_345)
    root_at_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep = verify_store(log.engine, [signer.verifier()])
    verify_s = time.perf_counter() - t0
    env = {**os.environ, "MAMORI_HOME": str(tmp)}
    t0 = time.perf_counter()
    cli = subprocess.run([*MAMORI, "log", "verify", "--db", url, "--key", str(tmp / "big-key.pem.pub")], env=env,
                         capture_output=True, text=True)
    cli_s = time.perf_counter() - t0
    rng = random.Random(1)
    gen_t, ver_t, con_t, conv_t = [], [], [], []
    for _ in range(200):
        seq = rng.randrange(entries)
        t0 = time.perf_counter()
        proof = log.inclusion_proof(seq, entries)
        leaf = log.entry(seq)
        gen_t.append(time.perf_counter() - t0)
        assert leaf is not None
        t0 = time.perf_counter()
        merkle.verify_inclusion(seq, entries, merkle.leaf_hash(leaf.data), proof, head.root)
        ver_t.append(time.perf_counter() - t0)
    for _ in range(50):
        old = rng.randrange(1, entries)
        t0 = time.perf_counter()
        cproof = log.consistency_proof(old, entries)
        con_t.append(time.perf_counter() - t0)
        old_root = log.root_at(old)
        t0 = time.perf_counter()
        merkle.verify_consistency(old, entries, old_root, head.root, cproof)
        conv_t.append(time.perf_counter() - t0)
    size_mb = (tmp / "big.db").stat().st_size / 2**20
    return {"entries": entries, "generate_s": round(gen, 1), "db_mib": round(size_mb), "head_root_ms":
            round(head_s * 1000, 2), "root_at_size_ms": round(root_at_s * 1000, 1), "root_mid_ok": len(root_mid) == 32,
            "verify_s": round(verify_s, 1), "verify_ok": rep.ok, "cli_verify_s": round(cli_s, 1),
            "cli_verify_ok": cli.returncode == 0,
            "inclusion_gen_ms_p50": round(statistics.median(gen_t) * 1000, 2),
            "inclusion_verify_us_p50": round(statistics.median(ver_t) * 1e6, 1),
            "consistency_gen_ms_p50": round(statistics.median(con_t) * 1000, 2),
            "consistency_verify_us_p50": round(statistics.median(conv_t) * 1e6, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3, help="ingest runs per transport (medians printed)")
    ap.add_argument("--skip", choices=["ingest", "syslog", "store"], action="append", default=[])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mamori-audit-bench-") as d:
        out: dict[str, object] = {"cpus": os.cpu_count()}
        rates: dict[str, list[float]] = {}
        for kind in ("ingest", "syslog"):
            if kind in args.skip:
                continue
            runs = []
            for r in range(args.runs):
                tmp = Path(d) / f"{kind}-{r}"
                tmp.mkdir()
                res = (bench_ingest(tmp, args.seconds, args.clients, args.batch) if kind == "ingest"
                       else bench_syslog(tmp, args.seconds, args.clients))
                print(json.dumps({kind: res}), flush=True)
                runs.append(res)
            out[kind] = runs
            rates["https" if kind == "ingest" else "syslog_tls"] = [float(x["entries_per_s"]) for x in runs]
        if rates:
            out["median_entries_per_s"] = {k: round(statistics.median(v)) for k, v in rates.items()}
            print(json.dumps({"median_entries_per_s": out["median_entries_per_s"]}), flush=True)
        if "store" not in args.skip:
            out["store"] = bench_store(Path(d), args.entries)
            print(json.dumps({"store": out["store"]}), flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
