"""Compare `mamori image sbom` with Trivy on the same images: packages found and wall time.

Images (built here, no network): the cached ``debootstrap --variant=minbase bookworm`` rootfs
(tests/image/components.py makes it once) as an OCI layout, and a mixed image with Python and npm
metadata (no jar: Trivy cannot scan one offline before it has downloaded its Java DB). For each,
both tools write CycloneDX from the same OCI layout, ``--runs`` times (Trivy with a fresh cache
each run); the packages are compared by purl type, name and version (Trivy's ``epoch=``
qualifier folded into the version). Trivy comes from ``make bench-peers`` (.venv-peers/bin/trivy).

    .venv/bin/python bench/image.py [--runs 3] [--trivy .venv-peers/bin/trivy]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

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


def timed(cmd: list[str]) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {r.stderr[-2000:]}")
    return wall, max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--trivy", default=str(REPO / ".venv-peers/bin/trivy"))
    args = ap.parse_args()
    if not Path(args.trivy).exists():
        raise SystemExit(f"{args.trivy} not found: run `make bench-peers`")
    with tempfile.TemporaryDirectory(prefix="mamori-bench-img-") as tmp:
        work = Path(tmp)
        for name, layout in (("debian-minbase", debian_layout(work)), ("mixed", mixed_layout(work))):
            times: dict[str, list[float]] = {"mamori": [], "trivy": []}
            for run in range(args.runs):
                t, _ = timed([str(REPO / ".venv/bin/mamori"), "image", "sbom", "--format", "cyclonedx",
                              "-o", str(work / "m.json"), f"oci-dir:{layout}"])
                times["mamori"].append(t)
                t, _ = timed([args.trivy, "image", "--input", str(layout), "--format", "cyclonedx",
                              "--skip-version-check", "--disable-telemetry", "--skip-java-db-update",
                              "--offline-scan", "--cache-dir", str(work / f"tc{run}"),
                              "-o", str(work / "t.json")])
                times["trivy"].append(t)
            m, t = packages(work / "m.json"), packages(work / "t.json")
            print(f"{name}: mamori {len(m)} packages, median {statistics.median(times['mamori']):.2f} s; "
                  f"trivy {len(t)} packages, median {statistics.median(times['trivy']):.2f} s; "
                  f"both {len(m & t)}, only mamori {len(m - t)}, only trivy {len(t - m)}")
            print("  runs: " + "; ".join(f"{k} " + " ".join(f"{x:.2f}" for x in v) for k, v in times.items()))
            for label, diff in (("only mamori", m - t), ("only trivy", t - m)):
                for p in sorted(diff)[:10]:
                    print(f"  {label}: {p}")


if __name__ == "__main__":
    main()
