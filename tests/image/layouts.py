"""Build layers, OCI layouts and docker save archives in tests, with tarfile and nothing else."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass
class Member:
    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""
    mode: int = 0o644


def file(name: str, data: bytes | str = b"", mode: int = 0o644) -> Member:
    return Member(name, data.encode() if isinstance(data, str) else data, mode=mode)


def layer_tar(members: list[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type = m.type
            info.mode = m.mode
            info.linkname = m.linkname
            if m.type == tarfile.REGTYPE:
                info.size = len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_blob(root: Path, data: bytes) -> str:
    d = sha(data)
    p = root / "blobs" / "sha256"
    p.mkdir(parents=True, exist_ok=True)
    (p / d.split(":")[1]).write_bytes(data)
    return d


def oci_layout(root: Path, layers: list[bytes], compress: bool = True, tag: str = "1",
               config_extra: dict[str, object] | None = None) -> dict[str, str]:
    """Write an OCI image layout; returns the digests (manifest, config, layers...)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    descs = []
    for tar in layers:
        blob = gzip.compress(tar, mtime=0) if compress else tar
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else ""),
                      "digest": write_blob(root, blob), "size": len(blob)})
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                                                                  "diff_ids": [sha(t) for t in layers]},
              **(config_extra or {})}
    cfg = json.dumps(config).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": write_blob(root, cfg), "size": len(cfg)},
                           "layers": descs}).encode()
    mdig = write_blob(root, manifest)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [{"mediaType": OCI_MANIFEST, "digest": mdig, "size": len(manifest),
                            "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    (root / "index.json").write_text(json.dumps(index))
    return {"manifest": mdig, "config": sha(cfg), **{f"layer{i}": d["digest"] for i, d in enumerate(descs)}}


def docker_archive(path: Path, layers: list[bytes], tag: str = "test/img:1") -> str:
    """A legacy ``docker save`` tar (config named by its digest, layer.tar per layer)."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in layers]}}).encode()
    cfg_name = sha(config).split(":")[1] + ".json"
    entries = [(cfg_name, config)]
    paths = []
    for i, t in enumerate(layers):
        paths.append(f"layer{i}/layer.tar")
        entries.append((paths[-1], t))
    entries.append(("manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": [tag], "Layers": paths}]).encode()))
    with tarfile.open(path, "w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return sha(config)
