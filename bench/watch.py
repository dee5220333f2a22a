"""A burst of container lifecycles while `mamori watch` records and notifies: is anything lost or doubled?

Starts a dockerd of its own (tests/dockerd.py), a webhook receiver on 127.0.0.1 that checks
every signature, the real ``mamori watch`` command line, and a second, trivial subscriber to
the daemon's event stream that only counts (the ground truth: what the daemon emitted). Then
runs N cycles of create/start/stop/rm and prints events expected vs recorded vs notified,
duplicates, and throughput. Needs root (dockerd) and Debian's docker.io.

    .venv/bin/python bench/watch.py [--cycles 500] [--drift-interval 0]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SECRET = b"bench-secret-0123456789abcdef"


class Receiver:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.bad_signatures = 0
        self.last_at = 0.0
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                want = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(want, self.headers.get("X-Mamori-Signature", "")):
                    rec.bad_signatures += 1
                rec.ids.append(self.headers.get("X-Mamori-Event-Id", ""))
                rec.last_at = time.monotonic()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def ground_truth(host: str, daemon_id: str, keys: list[str], stop: threading.Event, ready: threading.Event) -> None:
    """Count the lifecycle events the daemon emits, keyed like mamori keys them."""
    import docker

    from mamori.live.events import LIFECYCLE, event_key

    client = docker.DockerClient(base_url=host)
    stream = client.events(decode=True, filters={"type": "container", "event": list(LIFECYCLE)})
    ready.set()
    threading.Thread(target=lambda: (stop.wait(), stream.close()), daemon=True).start()
    try:
        for ev in stream:
            keys.append(event_key(daemon_id, ev))
    except Exception:  # noqa: BLE001 - the stream ends by being closed under us
        pass


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc), 0 when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cycles", type=int, default=500)
    ap.add_argument("--drift-interval", type=float, default=0.0)
    ap.add_argument("--settle", type=float, default=120.0, help="seconds to wait for recording and delivery")
    args = ap.parse_args()

    import docker
    from tests import dockerd

    d = dockerd.start()
    home = Path(tempfile.mkdtemp(prefix="mamori-bench-watch-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        image = dockerd.busybox_image(d)
        client = docker.DockerClient(base_url=d.host)
        daemon_id = client.info()["ID"]
        recv = Receiver()
        secret = home / "secret"
        secret.write_bytes(SECRET)
        log = home / "watch.log"
        env = {**os.environ, "MAMORI_HOME": str(home)}
        cmd = [sys.executable, "-m", "mamori.cli.main", "watch", "--host", d.host, "--no-config",
               "--webhook", recv.url, "--webhook-secret-file", str(secret)]
        if args.drift_interval:
            cmd += ["--drift-interval", str(args.drift_interval)]
        proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while b"watching" not in log.read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"mamori watch did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        truth: list[str] = []
        stop_truth, ready = threading.Event(), threading.Event()
        t = threading.Thread(target=ground_truth, args=(d.host, daemon_id, truth, stop_truth, ready), daemon=True)
        t.start()
        ready.wait(10)
        cpu0 = os.times()
        t0 = time.monotonic()
        for i in range(args.cycles):
            c = client.containers.create(image, ["sleep", "1000"], name=f"burst-{i:04d}")
            c.start()
            c.stop(timeout=0)
            c.remove()
        burst = time.monotonic() - t0
        db = home / "mamori.db"

        def recorded() -> int:
            with sqlite3.connect(db) as conn:
                return int(conn.execute("SELECT count(*) FROM container_events").fetchone()[0])

        deadline = time.monotonic() + args.settle
        while time.monotonic() < deadline and (recorded() < len(truth) or len(set(recv.ids)) < len(truth)):
            time.sleep(0.2)
        done = time.monotonic() - t0
        stop_truth.set()
        watch_cpu = _cpu_seconds(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        with sqlite3.connect(db) as conn:
            keys = [r[0] for r in conn.execute("SELECT key FROM container_events")]
            actions = Counter(r[0] for r in conn.execute("SELECT action FROM container_events"))
            outbox = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
        stats = json.loads(log.read_text().strip().splitlines()[-1])
        truth_set, key_set = set(truth), set(keys)
        result = {
            "cycles": args.cycles,
            "events_expected": len(truth),
            "events_recorded": len(keys),
            "events_notified": len(set(recv.ids)),
            "missing_from_store": len(truth_set - key_set),
            "not_emitted_but_stored": len(key_set - truth_set),
            "duplicate_records": len(keys) - len(key_set),
            "duplicate_notifications": len(recv.ids) - len(set(recv.ids)),
            "bad_signatures": recv.bad_signatures,
            "outbox": outbox,
            "actions": dict(sorted(actions.items())),
            "burst_seconds": round(burst, 2),
            "cycles_per_second": round(args.cycles / burst, 1),
            "all_recorded_and_notified_after_seconds": round(done, 2),
            "events_per_second_end_to_end": round(len(truth) / done, 1),
            "bench_process_cpu_seconds": round(sum(os.times()[:2]) - sum(cpu0[:2]), 2),
            "watch_cpu_seconds": round(watch_cpu, 2),
            "watch_cpu_ms_per_event": round(1000 * watch_cpu / max(1, len(keys)), 2),
            "watch_stats": stats,
        }
        print(json.dumps(result, indent=2))
        ok = (result["missing_from_store"] == 0 and result["duplicate_records"] == 0
              and result["events_notified"] == len(truth) and not recv.bad_signatures)
        print("OK: nothing lost, nothing doubled" if ok else "PROBLEM: see the counts above")
        return 0 if ok else 1
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        d.stop()


if __name__ == "__main__":
    sys.exit(main())
