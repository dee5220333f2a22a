"""docker save archives (legacy and Docker ≥25 blob paths), zstd layers, and tampering."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from mamori.image import ImageError, load
from tests.image.layouts import docker_archive, file, layer_tar, oci_layout, sha

OS = file("etc/os-release", "ID=debian\nVERSION_ID=12\n")


def test_legacy_archive(tmp_path: Path) -> None:
    cfg = docker_archive(tmp_path / "a.tar", [layer_tar([OS]), layer_tar([file("etc/.wh.os-release")])])
    res = load(f"docker-archive:{tmp_path / 'a.tar'}")
    assert res.image.config.digest == cfg and res.image.digest is None
    assert "/etc/os-release" not in res.view.entries and res.inventory.os is None


def test_tampered_archive_layer_fails_the_diff_id(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    docker_archive(path, [layer_tar([OS])])
    raw = path.read_bytes().replace(b"VERSION_ID=12", b"VERSION_ID=13")
    path.write_bytes(raw)
    with pytest.raises(ImageError, match="does not match the config's diff_id"):
        load(f"docker-archive:{path}")


def test_config_not_matching_its_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    docker_archive(path, [layer_tar([OS])])
    raw = path.read_bytes().replace(b'"os": "linux"', b'"os": "linuX"')
    path.write_bytes(raw)
    with pytest.raises(ImageError, match="does not hash to its name"):
        load(f"docker-archive:{path}")


def tar_of(entries: list[tuple[str, bytes | None, str]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                assert data is not None
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_docker25_blob_paths_and_symlinked_layers(tmp_path: Path) -> None:
    layer = layer_tar([OS])
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(layer), sha(layer)]}}).encode()
    c, lyr = sha(config).split(":")[1], sha(layer).split(":")[1]
    manifest = json.dumps([{"Config": f"blobs/sha256/{c}", "RepoTags": ["x:1"],
                            "Layers": [f"blobs/sha256/{lyr}", "dup/layer.tar"]}]).encode()
    (tmp_path / "a.tar").write_bytes(tar_of([
        (f"blobs/sha256/{c}", config, ""), (f"blobs/sha256/{lyr}", layer, ""),
        ("dup/layer.tar", None, f"../blobs/sha256/{lyr}"), ("manifest.json", manifest, "")]))
    res = load(f"docker-archive:{tmp_path / 'a.tar'}")
    assert res.image.layers[0].digest == sha(layer) and res.inventory.os is not None
    # a symlink that leaves the archive is refused
    (tmp_path / "b.tar").write_bytes(tar_of([
        (f"blobs/sha256/{c}", config, ""), (f"blobs/sha256/{lyr}", layer, ""),
        ("dup/layer.tar", None, "../../../etc/passwd"), ("manifest.json", manifest, "")]))
    with pytest.raises(ImageError, match="outside the archive"):
        load(f"docker-archive:{tmp_path / 'b.tar'}")


def test_zstd_layer(tmp_path: Path) -> None:
    root = tmp_path / "oci"
    tar = layer_tar([OS])
    oci_layout(root, [tar], compress=False)
    # recompress the single layer with zstd and rewrite the manifest around it
    blob = zstandard.ZstdCompressor().compress(tar)
    index = json.loads((root / "index.json").read_text())
    mpath = root / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(mpath.read_bytes())
    from tests.image.layouts import write_blob

    manifest["layers"][0] = {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
                             "digest": write_blob(root, blob), "size": len(blob)}
    mbytes = json.dumps(manifest).encode()
    index["manifests"][0].update(digest=write_blob(root, mbytes), size=len(mbytes))
    (root / "index.json").write_text(json.dumps(index))
    res = load(f"oci-dir:{root}")
    assert res.inventory.os is not None and res.inventory.os.version_id == "12"


def test_manifest_not_matching_its_digest_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "oci"
    d = oci_layout(root, [layer_tar([OS])])
    p = root / "blobs/sha256" / d["manifest"].split(":")[1]
    p.write_bytes(p.read_bytes().replace(b'"os"', b'"OS"').replace(b'"schemaVersion": 2', b'"schemaVersion": 3'))
    with pytest.raises(ImageError, match="digest mismatch for manifest"):
        load(f"oci-dir:{root}")


def test_oci_dir_tag_selection(tmp_path: Path) -> None:
    root = tmp_path / "oci"
    oci_layout(root, [layer_tar([OS])], tag="v1")
    assert load(f"oci-dir:{root}:v1").inventory.os is not None
    with pytest.raises(ImageError, match="no image tagged 'v2'"):
        load(f"oci-dir:{root}:v2")


def test_gzipped_archive_reads_like_the_plain_one(tmp_path: Path) -> None:
    """``docker save | gzip``: layers are read through tarfile's stream, not at file offsets, with the same result."""
    import gzip

    from mamori.image.archive import Archive
    from mamori.image.region import FileRegion

    docker_archive(tmp_path / "a.tar", [layer_tar([OS, file("app/x", "1")]), layer_tar([file("app/.wh.x")])])
    (tmp_path / "a.tar.gz").write_bytes(gzip.compress((tmp_path / "a.tar").read_bytes()))
    plain, zipped = load(f"docker-archive:{tmp_path / 'a.tar'}"), load(f"docker-archive:{tmp_path / 'a.tar.gz'}")
    assert sorted(plain.view.entries) == sorted(zipped.view.entries)
    assert "/app/x" not in plain.view.entries and plain.inventory.os is not None
    layer = json.loads(Archive(path=str(tmp_path / "a.tar")).read("manifest.json", 1 << 20))[0]["Layers"][0]
    assert isinstance(Archive(path=str(tmp_path / "a.tar")).open(layer), FileRegion)
    assert not isinstance(Archive(path=str(tmp_path / "a.tar.gz")).open(layer), FileRegion)
    raw = gzip.compress((tmp_path / "a.tar").read_bytes().replace(b"VERSION_ID=12", b"VERSION_ID=13"))
    (tmp_path / "bad.tar.gz").write_bytes(raw)
    with pytest.raises(ImageError, match="does not match the config's diff_id"):
        load(f"docker-archive:{tmp_path / 'bad.tar.gz'}")
