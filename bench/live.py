"""Time `mamori scan docker://` on a private daemon holding N containers (default 200).

Starts a dockerd of its own (tests/dockerd.py: own socket, data and exec roots, no bridge),
creates N containers with mixed settings (created, not started), then runs the real command
line ``mamori scan docker://unix:///.../docker.sock --no-config -f json -o FILE`` ``--runs``
times and prints each wall time and the median. The goal on the project's 2-core machines is
a median under 5 s for 200 containers. Needs root (dockerd) and Debian's docker.io.

    .venv/bin/python bench/live.py [--containers 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GOAL_S = 5.0
# Settings cycled over the containers: the mix of a real host, hardened and not.
VARIANTS: list[dict[str, Any]] = [
    {"host_config": {"Privileged": True, "Binds": ["/etc:/host-etc"], "PidMode": "host"}, "user": "root"},
    {"host_config": {"CapAdd": ["NET_ADMIN", "SYS_PTRACE"], "NetworkMode": "host"}},
    {"host_config": {"CapDrop": ["ALL"], "ReadonlyRootfs": True, "Memory": 64 << 20, "PidsLimit": 100,
                     "SecurityOpt": ["no-new-privileges"], "NetworkMode": "none"},
     "user": "10001:10001", "labels": {"tenant": "shop", "data-classification": "internal"},
     "healthcheck": {"Test": ["CMD-SHELL", "true"]}},
    {"host_config": {"Binds": ["/var/run/docker.sock:/var/run/docker.sock:ro"], "RestartPolicy": {"Name": "always"}},
     "environment": ["DB_PASSWORD=not-a-real-secret-1", "MODE=prod"]},
    {"host_config": {"SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined"], "IpcMode": "host",
                     "Sysctls": {"net.ipv4.ip_forward": "1"}}},
]


def create_containers(host: str, image: str, n: int) -> float:
    import docker

    client = docker.DockerClient(base_url=host)
    start = time.perf_counter()
    for i in range(n):
        v = VARIANTS[i % len(VARIANTS)]
        hc = client.api.create_host_config(**{_snake(k): val for k, val in v["host_config"].items()})
        client.api.create_container(image, ["sleep", "1000"], name=f"bench-{i:04d}", host_config=hc,
                                    user=v.get("user"), labels=v.get("labels"), environment=v.get("environment"),
                                    healthcheck=v.get("healthcheck"))
    client.close()
    return time.perf_counter() - start


def _snake(name: str) -> str:
    """HostConfig field -> the SDK's create_host_config keyword."""
    return {"Privileged": "privileged", "Binds": "binds", "PidMode": "pid_mode", "CapAdd": "cap_add",
            "NetworkMode": "network_mode", "CapDrop": "cap_drop", "ReadonlyRootfs": "read_only",
            "Memory": "mem_limit", "PidsLimit": "pids_limit", "SecurityOpt": "security_opt",
            "RestartPolicy": "restart_policy", "IpcMode": "ipc_mode", "Sysctls": "sysctls"}[name]


def run_scan(host: str, out: Path) -> dict[str, float | int]:
    cmd = [str(REPO / ".venv/bin/mamori"), "scan", f"docker://{host}", "--no-config", "-f", "json", "-o", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode not in (0, 1):
        raise SystemExit(f"mamori scan failed with exit {r.returncode}: {r.stderr[-2000:]}")
    report = json.loads(out.read_text())
    containers = {f["location"]["name"] for f in report["findings"] if f["location"]["kind"] == "Container"}
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "findings": len(report["findings"]), "containers_with_findings": len(containers)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--containers", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not 1 <= args.containers <= 5000 or not 1 <= args.runs <= 20:
        ap.error("--containers 1..5000, --runs 1..20")
    from tests import dockerd

    root = Path(tempfile.mkdtemp(prefix="mbl-", dir="/tmp"))
    try:
        daemon = dockerd.start(root=root)
    except BaseException as exc:  # noqa: BLE001 - dockerd.unavailable raises pytest's skip/fail outcomes
        print(f"bench/live.py: cannot start a private dockerd: {exc}", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)
        return 2
    try:
        image = dockerd.busybox_image(daemon)
        created = create_containers(daemon.host, image, args.containers)
        print(f"created {args.containers} containers in {created:.1f} s (daemon {daemon.host})")
        out = root / "report.json"
        runs = []
        for i in range(args.runs):
            res = run_scan(daemon.host, out)
            runs.append(res)
            print(f"run {i + 1}: {res['wall_s']:.2f} s wall, {res['cpu_s']:.2f} s CPU, {res['findings']} findings on "
                  f"{res['containers_with_findings']} containers")
        median = statistics.median(float(r["wall_s"]) for r in runs)
        verdict = "meets" if median < GOAL_S else "MISSES"
        print(f"median of {args.runs}: {median:.2f} s for {args.containers} containers on {os.cpu_count()} CPUs "
              f"({verdict} the {GOAL_S:.0f} s goal)")
        return 0
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
