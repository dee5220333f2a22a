"""Corrupt and ill-typed input must end in ImageError (a clear message), never another exception."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mamori.image import ImageError, load
from tests.image.layouts import OCI_INDEX, OCI_MANIFEST, file, layer_tar, oci_layout, sha, write_blob

OS = file("etc/os-release", "ID=debian\nVERSION_ID=12\n")


@pytest.mark.parametrize("compress", [True, False])
def test_random_layer_corruption(tmp_path: Path, compress: bool) -> None:
    rng = random.Random(5)  # fixed seed: reproducible failures
    tar = layer_tar([OS, file("usr/bin/x", b"\x7fELF" + bytes(rng.randrange(256) for _ in range(5000)), 0o755)])
    for i in range(60):
        root = tmp_path / f"o{i}"
        d = oci_layout(root, [tar], compress=compress)
        blob = root / "blobs/sha256" / d["layer0"].split(":")[1]
        data = bytearray(blob.read_bytes())
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if i % 5 == 0:
            data = data[: rng.randrange(len(data))]
        blob.write_bytes(bytes(data))
        with pytest.raises(ImageError):
            load(f"oci-dir:{root}")


@pytest.mark.parametrize("config", [
    {"rootfs": []}, {"rootfs": {"diff_ids": "x"}}, {"rootfs": {"diff_ids": [1]}},
    {"rootfs": {"diff_ids": ["md5:abc"]}}, {"rootfs": {"diff_ids": []}},
])
def test_ill_typed_configs(tmp_path: Path, config: dict[str, object]) -> None:
    oci_layout(tmp_path / "o", [layer_tar([OS])], config_extra=config)
    with pytest.raises(ImageError):
        load(f"oci-dir:{tmp_path / 'o'}")


@pytest.mark.parametrize("manifest", [
    [], {"schemaVersion": 1}, {"config": "x", "layers": []}, {"config": {"digest": "sha256:zz", "size": 1}},
    {"mediaType": OCI_MANIFEST, "config": {"digest": "sha256:" + "0" * 64, "size": 2}, "layers": "nope"},
    {"mediaType": OCI_INDEX, "manifests": [{"digest": 5}]}, {"mediaType": 7, "manifests": {}},
    {"mediaType": OCI_INDEX, "manifests": [{"mediaType": OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": 9,
                                           "platform": "linux/amd64", "annotations": []}]},
])
def test_ill_typed_manifests(tmp_path: Path, manifest: object) -> None:
    root = tmp_path / "o"
    oci_layout(root, [layer_tar([OS])])
    raw = json.dumps(manifest).encode()
    index = {"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST, "digest": write_blob(root, raw),
                                                "size": len(raw)}]}
    (root / "index.json").write_text(json.dumps(index))
    with pytest.raises(ImageError):
        load(f"oci-dir:{root}")
    assert sha(raw)


@pytest.mark.parametrize("index", ["not json", "[]", '{"manifests": 3}', '{"manifests": []}'])
def test_bad_index_json(tmp_path: Path, index: str) -> None:
    root = tmp_path / "o"
    oci_layout(root, [layer_tar([OS])])
    (root / "index.json").write_text(index)
    with pytest.raises(ImageError):
        load(f"oci-dir:{root}")


@pytest.mark.parametrize("archive", [b"", b"not a tar at all" * 100, b"\x1f\x8b" + b"\0" * 100])
def test_bad_archives(tmp_path: Path, archive: bytes) -> None:
    (tmp_path / "a.tar").write_bytes(archive)
    with pytest.raises(ImageError):
        load(f"docker-archive:{tmp_path / 'a.tar'}")


def test_random_corruption_inside_a_docker_archive_layer(tmp_path: Path) -> None:
    """The plain-layer fast path (pread at offsets, digest on a thread) refuses every corrupted or
    truncated layer of a docker save archive too."""
    from tests.image.layouts import docker_archive

    rng = random.Random(9)
    tar = layer_tar([OS, file("usr/bin/x", b"\x7fELF" + bytes(rng.randrange(256) for _ in range(5000)), 0o755)])
    clean = tmp_path / "clean.tar"
    docker_archive(clean, [tar])
    raw = clean.read_bytes()
    start = raw.index(tar[:512])  # the layer's bytes inside the archive
    assert raw[start:start + len(tar)] == tar
    for i in range(40):
        data = bytearray(raw)
        for _ in range(rng.randrange(1, 6)):
            data[start + rng.randrange(len(tar))] ^= 1 + rng.randrange(255)
        path = tmp_path / f"a{i}.tar"
        path.write_bytes(bytes(data))
        with pytest.raises(ImageError):
            load(f"docker-archive:{path}")
    load(f"docker-archive:{clean}")  # and the untouched archive still loads
