"""Compare `mamori image sbom` and `mamori image scan` with Trivy on the same images: seconds, peak memory, packages.

Images (built here, no network): the cached ``debootstrap --variant=minbase bookworm`` rootfs
(tests/image/components.py makes it once), read by both tools from an OCI layout (gzip layer), a
``docker save`` archive (plain layer), a private dockerd and a docker-registry on 127.0.0.1; and a
mixed image with Python and npm metadata (no jar: Trivy cannot scan one offline before it has
downloaded its Java DB). Tasks: the SBOM (CycloneDX; packages compared by purl type, name and
version, Trivy's ``epoch=`` qualifier folded into the version) and hygiene (mamori's image rules
and secret search; Trivy's secret scanner and image-config misconfiguration and secret checks).
Runs are interleaved, Trivy gets a fresh cache each run (mamori keeps none). Trivy comes from
``make bench-peers`` (.venv-peers/bin/trivy); peak RSS is measured with GNU time.

    .venv/bin/python bench/image.py [--runs 3] [--sources oci-layout,docker-archive,daemon,registry]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.image.layouts import file, layer_tar, oci_layout  # noqa: E402


def debian_layout(work: Path) -> Path:
    from tests.image.components import debian_rootfs

    rootfs = debian_rootfs()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(rootfs, arcname=".", filter=lambda m: None if m.name.startswith("./var/cache/apt/archives/")
                and m.name.endswith(".deb") else m)
    (work / "debian.layer").write_bytes(buf.getvalue())
    oci_layout(work / "debian", [buf.getvalue()], tag="12")
    return work / "debian"


def mixed_layout(work: Path) -> Path:
    site = "usr/local/lib/python3.11/site-packages"
    # no jar: Trivy needs its Java DB (downloaded on first use) for any jar, and cannot reach it here
    members = [file("etc/os-release", 'ID=debian\nVERSION_ID="12"\n')]
    for i in range(50):
        members.append(file(f"{site}/pkg{i}-1.{i}.0.dist-info/METADATA",
                            f"Metadata-Version: 2.1\nName: pkg{i}\nVersion: 1.{i}.0\n"))
        members.append(file(f"{site}/pkg{i}-1.{i}.0.dist-info/RECORD", ""))
        members.append(file(f"app/node_modules/mod{i}/package.json", json.dumps({"name": f"mod{i}",
                                                                                 "version": f"2.{i}.1"})))
    oci_layout(work / "mixed", [layer_tar(members)], tag="1")
    return work / "mixed"


def packages(sbom: Path) -> set[tuple[str, str, str]]:
    from packageurl import PackageURL

    out = set()
    for c in json.loads(sbom.read_text()).get("components", []):
        if c.get("purl"):
            p = PackageURL.from_string(c["purl"])
            name = f"{p.namespace}/{p.name}" if p.namespace and p.type in ("maven", "npm", "golang") else p.name
            version = p.version or ""
            epoch = (p.qualifiers or {}).get("epoch") if isinstance(p.qualifiers, dict) else None
            if epoch and p.type == "deb":  # Trivy: epoch= qualifier; mamori and Syft: in the version
                version = f"{epoch}:{version}"
            out.add((p.type, name.lower() if p.type == "pypi" else name, version))
    return out


def timed(cmd: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> tuple[float, int]:
    """Wall seconds and the command's own peak RSS in MiB.

    Measured by GNU time(1): the rusage of a child that Python spawns (vfork) starts from this
    bench process's own resident size, which holds the test image, and would hide the tools' own.
    """
    start = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "MAXRSS_KB %M", *cmd], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - start
    if r.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd[:6])} failed ({r.returncode}): {r.stderr[-2000:]}")
    kb = next((int(x.split()[1]) for x in reversed(r.stderr.splitlines()) if x.startswith("MAXRSS_KB ")), 0)
    return wall, kb // 1024


TRIVY_OFFLINE = ["--skip-version-check", "--disable-telemetry", "--skip-java-db-update", "--offline-scan",
                 "--skip-check-update"]


@dataclass(frozen=True)
class Source:
    name: str
    mamori: list[str]  # the reference and its options
    trivy: list[str]
    env: dict[str, str] | None = None


def debian_sources(work: Path, daemon: Any, registry: Any) -> list[Source]:
    """The Debian image as an OCI layout, a docker-archive, in the daemon and in the registry."""
    layout = debian_layout(work)
    from tests.image.layouts import docker_archive

    archive = work / "debian.tar"
    docker_archive(archive, [(work / "debian.layer").read_bytes()], tag="mamori-bench/debian:12")
    daemon.docker("load", "-i", str(archive), timeout=600)
    remote = f"{registry.host}/mamori-bench/debian:12"
    daemon.docker("tag", "mamori-bench/debian:12", remote)
    daemon.docker("push", remote, timeout=600)
    return [
        Source("oci-layout", [f"oci-dir:{layout}"], ["--input", str(layout)]),
        Source("docker-archive", [f"docker-archive:{archive}"], ["--input", str(archive)]),
        Source("daemon", ["docker:mamori-bench/debian:12"], ["--image-src", "docker", "mamori-bench/debian:12"],
               daemon.env),
        Source("registry", ["--insecure", f"registry:{remote}"], ["--image-src", "remote", "--insecure", remote]),
    ]


def run_pair(label: str, src: Source, task: str, runs: int, trivy: str, work: Path, rows: list[str]) -> None:
    mamori = str(REPO / ".venv/bin/mamori")
    res: dict[str, list[tuple[float, int]]] = {"mamori": [], "trivy": []}
    for run in range(runs):  # interleaved, so both see the same machine load
        if task == "sbom":
            m_cmd = [mamori, "image", "sbom", "--format", "cyclonedx", "-o", str(work / "m.json"), *src.mamori]
            t_cmd = [trivy, "image", "--format", "cyclonedx", "-o", str(work / "t.json")]
        else:  # hygiene: image config rules and secrets in the layers
            m_cmd = [mamori, "image", "scan", "--no-config", "--format", "json", "-o", str(work / "ms.json"),
                     *src.mamori]
            t_cmd = [trivy, "image", "--scanners", "secret", "--image-config-scanners", "misconfig,secret",
                     "--format", "json", "-o", str(work / "ts.json")]
        res["mamori"].append(timed(m_cmd, src.env, ok=(0, 1)))
        res["trivy"].append(timed([*t_cmd, *TRIVY_OFFLINE, "--cache-dir", str(work / f"tc-{label}-{run}"),
                                   *src.trivy], src.env))
    med = {k: (statistics.median(w for w, _ in v), max(m for _, m in v)) for k, v in res.items()}
    line = (f"{label:<16} {task:<5} mamori {med['mamori'][0]:6.2f} s {med['mamori'][1]:5d} MiB | "
            f"trivy {med['trivy'][0]:6.2f} s {med['trivy'][1]:5d} MiB | ratio {med['mamori'][0] / med['trivy'][0]:.2f}")
    if task == "sbom":
        m, t = packages(work / "m.json"), packages(work / "t.json")
        line += f" | packages {len(m)}/{len(t)}/{len(m & t)}"
    print(line, flush=True)
    print("    runs: " + "; ".join(f"{k} " + " ".join(f"{w:.2f}" for w, _ in v) for k, v in res.items()), flush=True)
    rows.append(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--trivy", default=str(REPO / ".venv-peers/bin/trivy"))
    ap.add_argument("--sources", default="oci-layout,docker-archive,daemon,registry")
    args = ap.parse_args()
    if not Path(args.trivy).exists():
        raise SystemExit(f"{args.trivy} not found: run `make bench-peers`")
    if not Path("/usr/bin/time").exists():
        raise SystemExit("/usr/bin/time not found: apt-get install time (peak memory is measured with it)")
    from tests import dockerd
    from tests.image.components import start_registry

    wanted = set(args.sources.split(","))
    print(f"load average {os.getloadavg()[0]:.2f}; {args.runs} interleaved runs each; medians; peak RSS is the "
          "largest of the runs", flush=True)
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mamori-bench-img-") as tmp, dockerd.running() as daemon:
        registry = start_registry()
        try:
            work = Path(tmp)
            for src in debian_sources(work, daemon, registry):
                if src.name not in wanted:
                    continue
                for task in ("sbom", "scan"):
                    run_pair(f"debian/{src.name}", src, task, args.runs, args.trivy, work, rows)
            mixed = Source("oci-layout", [f"oci-dir:{mixed_layout(work)}"], ["--input", str(work / "mixed")])
            run_pair("mixed/oci-layout", mixed, "sbom", args.runs, args.trivy, work, rows)
        finally:
            registry.stop()
    print("\nsummary (medians):")
    for line in rows:
        print("  " + line)


if __name__ == "__main__":
    main()
