"""The merged filesystem view: whiteouts, opaque directories, symlinks, and hostile layers."""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

import pytest

from mamori.image import ImageError, Limits, load
from mamori.image.catalog import CAPTURE
from mamori.image.open import open_image
from tests.image.layouts import Member, file, layer_tar, oci_layout


def view_of(tmp_path: Path, layers: list[list[Member]], limits: Limits | None = None, compress: bool = True):
    oci_layout(tmp_path / "oci", [layer_tar(m) for m in layers], compress=compress)
    return load(f"oci-dir:{tmp_path / 'oci'}", limits=limits)


def test_whiteout_removes_lower_file_and_tree(tmp_path: Path) -> None:
    v = view_of(tmp_path, [
        [file("etc/keep", "k"), file("etc/gone", "g"), file("opt/app/a", "a"), file("opt/app/sub/b", "b")],
        [file("etc/.wh.gone"), file("opt/.wh.app"), file("new", "n")],
    ]).view
    assert "/etc/keep" in v.entries and "/new" in v.entries
    assert "/etc/gone" not in v.entries
    assert not any(p.startswith("/opt/app") for p in v.entries)
    assert not any(".wh." in p for p in v.entries)


def test_opaque_dir_hides_lower_children_but_keeps_same_layer_entries(tmp_path: Path) -> None:
    v = view_of(tmp_path, [
        [file("data/old1", "1"), file("data/sub/old2", "2"), file("other", "o")],
        # the layer's own entry comes BEFORE the opaque marker in tar order: it must survive anyway
        [file("data/fresh", "f"), file("data/.wh..wh..opq")],
    ]).view
    assert "/data/fresh" in v.entries
    assert "/data/old1" not in v.entries and "/data/sub/old2" not in v.entries
    assert "/other" in v.entries


def test_upper_layer_overrides_and_records_its_layer(tmp_path: Path) -> None:
    v = view_of(tmp_path, [[file("etc/os-release", 'ID=debian\nVERSION_ID="11"\n')],
                           [file("etc/os-release", 'ID=debian\nVERSION_ID="12"\n')]])
    assert v.view.entries["/etc/os-release"].layer == 1
    assert v.inventory.os is not None and v.inventory.os.version_id == "12"


def test_file_replacing_directory_hides_its_children(tmp_path: Path) -> None:
    v = view_of(tmp_path, [[file("x/y", "1")], [file("x", "now a file")]]).view
    assert v.entries["/x"].kind == "file" and "/x/y" not in v.entries


def test_symlink_resolution_stays_inside_the_image(tmp_path: Path) -> None:
    v = view_of(tmp_path, [[
        file("usr/lib/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
        Member("etc/os-release", type=tarfile.SYMTYPE, linkname="../usr/lib/os-release"),
        Member("escape", type=tarfile.SYMTYPE, linkname="../../../../../../usr/lib/os-release"),
        Member("loop1", type=tarfile.SYMTYPE, linkname="loop2"),
        Member("loop2", type=tarfile.SYMTYPE, linkname="loop1"),
    ]])
    assert v.inventory.os is not None and v.inventory.os.id == "alpine"
    assert v.view.resolve("/escape") == "/usr/lib/os-release"  # .. stops at the image root
    assert v.view.resolve("/loop1") is None


@pytest.mark.parametrize(("member", "reason"), [
    (file("../../etc/evil", "x"), "path traversal"),
    (file("a/../../evil", "x"), "path traversal"),
    (file("/etc/abs", "x"), "absolute path"),
    (Member("dev/sda", type=tarfile.BLKTYPE), "device node"),
    (Member("dev/mem", type=tarfile.CHRTYPE), "device node"),
    (Member("fifo", type=tarfile.FIFOTYPE), "device node or FIFO"),
    (Member("hl", type=tarfile.LNKTYPE, linkname="../../etc/shadow"), "hardlink escapes"),
    (Member("hl2", type=tarfile.LNKTYPE, linkname="/etc/shadow"), "hardlink escapes"),
    (Member("hl3", type=tarfile.LNKTYPE, linkname="does/not/exist"), "missing or non-regular"),
    (Member("holes", type=tarfile.GNUTYPE_SPARSE), "sparse file"),
    (Member("weird", type=b"Z"), "unsupported tar member type"),
])
def test_hostile_members_are_refused_and_counted(tmp_path: Path, member: Member, reason: str) -> None:
    v = view_of(tmp_path, [[file("ok", "fine"), member]]).view
    assert v.refused == 1
    assert reason in v.refusals[0].reason
    assert "/ok" in v.entries
    assert all(".." not in p for p in v.entries)
    assert "/etc/shadow" not in v.entries and "/etc/evil" not in v.entries


def test_hardlink_inside_the_image_shares_content(tmp_path: Path) -> None:
    v = view_of(tmp_path, [[file("var/lib/dpkg/real-status", "x"),
                            file("etc/os-release", "ID=debian\n"),
                            Member("usr/lib/os-release", type=tarfile.LNKTYPE, linkname="etc/os-release")]]).view
    assert v.refused == 0
    assert v.entries["/usr/lib/os-release"].link == "/etc/os-release"
    assert v.content["/usr/lib/os-release"] == b"ID=debian\n"


def test_decompression_bomb_ratio_is_refused(tmp_path: Path) -> None:
    big = layer_tar([file("zeros", b"\0" * (8 << 20))])
    with pytest.raises(ImageError, match="compression ratio"):
        oci_layout(tmp_path / "bomb", [big])
        load(f"oci-dir:{tmp_path / 'bomb'}", limits=Limits(ratio_floor=1 << 20, max_ratio=50))


def test_oversized_layer_is_refused(tmp_path: Path) -> None:
    oci_layout(tmp_path / "big", [layer_tar([file("blob", b"x" * (3 << 20))])], compress=False)
    with pytest.raises(ImageError, match="more than 1048576 bytes uncompressed"):
        load(f"oci-dir:{tmp_path / 'big'}", limits=Limits(max_layer_bytes=1 << 20))


def test_too_many_entries_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="more than 5 entries"):
        view_of(tmp_path, [[file(f"f{i}", "x") for i in range(10)]], limits=Limits(max_entries=5))


def test_content_capture_is_bounded(tmp_path: Path) -> None:
    v = view_of(tmp_path, [[file("etc/os-release", "ID=debian\n" + "#" * 5000)]], limits=Limits(max_file_capture=100))
    assert v.inventory.os is None
    assert any("over the 100-byte bound" in n for n in v.inventory.notes)


def test_corrupt_gzip_layer_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "oci"
    digests = oci_layout(root, [layer_tar([file("a", "a" * 100000)])])
    blob = root / "blobs" / "sha256" / digests["layer0"].split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"digest mismatch|corrupt|cannot read"):
        load(f"oci-dir:{root}")


def test_nothing_is_written_to_disk(tmp_path: Path) -> None:
    """The view is in memory: reading an image leaves the temporary directory untouched."""
    import os
    import tempfile

    before = set(os.listdir(tempfile.gettempdir()))
    view_of(tmp_path, [[file("a/b/c", "x")]])
    assert set(os.listdir(tempfile.gettempdir())) - before == set()


def test_gzip_and_plain_layers_both_read(tmp_path: Path) -> None:
    for compress in (True, False):
        oci_layout(tmp_path / f"l{compress}", [layer_tar([file("etc/os-release", "ID=debian\n")])], compress=compress)
        with open_image(f"oci-dir:{tmp_path / f'l{compress}'}") as img:
            assert "/etc/os-release" in img.view(CAPTURE, Limits()).content
    assert gzip  # the layouts helper gzip-compresses by default


def test_members_under_a_symlinked_directory_land_inside_the_image(tmp_path: Path) -> None:
    """A lower ``etc -> ../../../../host`` must not let an upper ``etc/passwd`` escape or be shadowed."""
    v = view_of(tmp_path, [
        [Member("etc", type=tarfile.SYMTYPE, linkname="../../../../host"), file("host/keep", "k")],
        [file("etc/passwd", "root:x:0:0\n"), file("etc/sub/deep", "d")],
        [Member("dangling", type=tarfile.SYMTYPE, linkname="/nowhere/file"), file("dangling/x", "x")],
    ]).view
    assert v.entries["/etc"].kind == "symlink"
    assert "/etc/passwd" not in v.entries and v.entries["/host/passwd"].layer == 1
    assert v.entries["/host/sub/deep"].kind == "file"
    assert v.get("/etc/passwd") == v.entries["/host/passwd"]
    assert v.refused == 1 and v.refusals[0].reason == "parent is a dangling or looping symlink"
