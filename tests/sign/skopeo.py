"""The two independent skopeo peers: Debian 12's (GPG simple signing) and Debian 13's in a chroot (sigstore).

Debian 12's skopeo 1.9.3 has sigstore compiled out ("Debian-local change: sigstore disabled"), and
trixie's skopeo needs a newer glibc, so the sigstore peer runs in a ``debootstrap --variant=minbase
trixie`` chroot with skopeo installed in it, built once and cached in /var/cache/mamori-test
(components-here.md §4c). The chroot shares the host network (the registry is on 127.0.0.1); its
inputs and outputs live in a private directory under the chroot's /tmp, so no bind mount is needed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests import components
from tests.image.components import CACHE, apt_mirror

TRIXIE = CACHE / "trixie-skopeo"
READY = "usr/bin/skopeo"


@dataclass(frozen=True)
class Skopeo:
    """How to run one skopeo: ``argv`` prefix, and how host paths map to paths the binary sees."""

    argv: tuple[str, ...]
    root: Path | None  # the chroot, or None for the host binary

    def workdir(self) -> Path:
        """A fresh host directory that the binary can read and write (under the chroot's /tmp)."""
        base = self.root / "tmp" if self.root else Path(tempfile.gettempdir())
        return Path(tempfile.mkdtemp(prefix="mamori-skopeo-", dir=base))

    def path(self, host: Path) -> str:
        """The path ``host`` has for the binary."""
        if self.root is None:
            return str(host)
        return "/" + str(host.resolve().relative_to(self.root.resolve()))

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.argv, *args], capture_output=True, text=True, timeout=timeout, check=False,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C"})

    def copy(self, src: str, dest: str, *, policy: Path, registries_d: Path, extra: Sequence[str] = ()
             ) -> subprocess.CompletedProcess[str]:
        """``skopeo copy`` with a private policy.json and registries.d (never the machine's)."""
        return self.run("--policy", self.path(policy), "--registries.d", self.path(registries_d), "copy",
                        "--src-tls-verify=false", "--dest-tls-verify=false", *extra, src, dest)


def host_skopeo() -> Skopeo:
    """Debian 12's skopeo (scripts/install-system-deps.sh installs it)."""
    exe = shutil.which("skopeo")
    if exe is None:
        components.unavailable("skopeo", "not installed (Debian package skopeo)")
    return Skopeo((exe,), None)


def trixie_skopeo() -> Skopeo:
    """skopeo from Debian 13 in the cached chroot; built here the first time (needs root and the mirror)."""
    if not (TRIXIE / READY).exists():
        _build()
    return Skopeo(("chroot", str(TRIXIE), "/usr/bin/skopeo"), TRIXIE)


def _build() -> None:
    if shutil.which("debootstrap") is None:
        components.unavailable("skopeo (trixie chroot)", "debootstrap is not installed")
    if os.geteuid() != 0:
        components.unavailable("skopeo (trixie chroot)", "debootstrap and chroot need root")
    mirror = apt_mirror()
    if mirror is None:
        components.unavailable("skopeo (trixie chroot)", "no Debian mirror in the apt sources")
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".trixie.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (TRIXIE / READY).exists():
            return
        tmp = CACHE / "trixie-skopeo.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        steps = [["debootstrap", "--variant=minbase", "trixie", str(tmp), mirror],
                 ["chroot", str(tmp), "sh", "-c", "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && "
                  "chmod +x /usr/sbin/policy-rc.d && apt-get update -qq && "
                  "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo && "
                  "apt-get clean && rm -rf /var/lib/apt/lists/*"]]
        for argv in steps:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=1200, check=False)
            if r.returncode != 0:
                components.unavailable("skopeo (trixie chroot)",
                                       f"{' '.join(argv[:3])} failed: {(r.stderr or r.stdout)[-2000:]}")
        (tmp / "etc/containers").mkdir(parents=True, exist_ok=True)
        (tmp / "etc/containers/policy.json").write_text(json.dumps({"default": [{"type": "reject"}]}))
        tmp.rename(TRIXIE)
