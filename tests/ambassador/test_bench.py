"""bench/ambassador.py stays runnable and its byte accounting holds (a short run, mamori only)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_bench_runs_every_topology_and_reports_numbers() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "ambassador.py"), "--seconds", "0.3",
                           "--tput-seconds", "0.3", "--rounds", "2", "--no-stunnel"],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    # the bench exits non-zero when the backend's byte count differs from what was sent
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(direct|mamori server|mamori pair)\s+(\d+)us\s+(\d+)us\s+(-?\d+)us\s+(\d+)\s+(\d+)\s+(\d+)%\s+"
                     r"([\d.]+)$", line)
        if m:
            rows[m.group(1)] = [float(x) for x in m.groups()[1:]]
    assert set(rows) == {"direct", "mamori server", "mamori pair"}, proc.stdout
    assert rows["direct"][5] == 100
    for name, (p50, p99, _, conn_s, mb_s, _, ns_b) in rows.items():
        assert 0 < p50 <= p99 and conn_s > 0 and mb_s > 0 and ns_b > 0, (name, rows[name])
    # a proxied byte costs more CPU than a direct one: at least its encryption and decryption
    assert rows["mamori pair"][6] > rows["direct"][6] and rows["mamori server"][6] > rows["direct"][6]
    assert re.search(r"mamori negotiates TLSv1\.3 TLS_AES_\d+_GCM_SHA\d+", proc.stdout), proc.stdout
