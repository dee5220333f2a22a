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

from mamori.image.reference import parse_docker_ref
from mamori.image.registry import RegistryOptions
from mamori.sign import layout
from mamori.sign.registry_push import PushRegistry
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

    def run(self, *args: str, timeout: float = 120, gnupghome: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C"}
        if gnupghome is not None:
            env["GNUPGHOME"] = self.path(gnupghome)
        return subprocess.run([*self.argv, *args], capture_output=True, text=True, timeout=timeout, check=False,
                              env=env)

    def copy(self, src: str, dest: str, *, policy: Path, registries_d: Path, extra: Sequence[str] = (),
             gnupghome: Path | None = None) -> subprocess.CompletedProcess[str]:
        """``skopeo copy`` with a private policy.json and registries.d (never the machine's)."""
        return self.run("--policy", self.path(policy), "--registries.d", self.path(registries_d), "copy",
                        "--src-tls-verify=false", "--dest-tls-verify=false", *extra, src, dest, gnupghome=gnupghome)

    def configure(self, base: Path, host: str, section: dict[str, object], requirement: dict[str, object] | None
                  ) -> tuple[Path, Path]:
        """(policy.json, registries.d) in a fresh directory under ``base``: ``requirement`` for docker images
        on ``host`` (None = accept anything, for signing copies), ``section`` = the registries.d entry."""
        work = Path(tempfile.mkdtemp(prefix="conf-", dir=base))
        regd = work / "registries.d"
        regd.mkdir()
        (regd / "mamori-test.yaml").write_text(json.dumps({"docker": {host: section}}))  # YAML is a JSON superset
        req = requirement or {"type": "insecureAcceptAnything"}
        policy = {"default": [{"type": "reject"}],
                  "transports": {"docker": {host: [req]}, "dir": {"": [{"type": "insecureAcceptAnything"}]}}}
        (work / "policy.json").write_text(json.dumps(policy))
        return work / "policy.json", regd


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


def _registry(ref: str) -> PushRegistry:
    return PushRegistry(parse_docker_ref(ref), RegistryOptions(insecure=True))


def retag(src: str, tag: str) -> str:
    """Push the manifest of ``src`` again under ``tag`` in the same repository (same bytes, same digest)."""
    reg = _registry(src)
    try:
        data, media, _ = reg.manifest(parse_docker_ref(src).reference)
        return reg.put_manifest(tag, data, media or layout.OCI_MANIFEST)
    finally:
        reg.close()


def move_cosign_signature(repo: str, src_digest: str, dst_digest: str) -> None:
    """Present ``src_digest``'s ``.sig`` manifest as the signatures of ``dst_digest`` (a replay)."""
    reg = _registry(f"{repo}:x")
    try:
        found = reg.manifest_if_any(layout.sig_tag(src_digest))
        assert found is not None, "no signature to move"
        reg.put_manifest(layout.sig_tag(dst_digest), found[0], layout.OCI_MANIFEST)
    finally:
        reg.close()


def tamper_cosign_payload(repo: str, digest: str) -> None:
    """Change every signed payload by one trailing space (still valid JSON); keep the signature annotations."""
    reg = _registry(f"{repo}:x")
    try:
        found = reg.manifest_if_any(layout.sig_tag(digest))
        assert found is not None, "no signature to tamper with"
        doc = json.loads(found[0])
        for layer in doc["layers"]:
            body = reg.blob(layer["digest"], layer["size"], 1 << 16, "payload") + b" "
            layer["digest"], layer["size"] = reg.put_blob(body), len(body)
        reg.put_manifest(layout.sig_tag(digest), json.dumps(doc).encode(), layout.OCI_MANIFEST)
    finally:
        reg.close()
