"""The buffered layer reader (mamori.image.layers) against tarfile and gzip on the same bytes."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest

from mamori.image.errors import ImageError
from mamori.image.fsview import Capture, FsView, apply_layer
from mamori.image.layers import LayerStream
from mamori.image.limits import Limits
from mamori.image.region import FileRegion
from tests.image.layouts import Member, file, layer_tar, sha


def _members(n: int) -> list[Member]:
    out = [file(f"d{i % 7}/" + "long-name-" * (i % 12) + f"f{i}", os.urandom(i * 37 % 5000)) for i in range(n)]
    out.append(Member("ln", type=tarfile.SYMTYPE, linkname="d0/f0"))
    out.append(file("big", os.urandom(3 << 20)))  # spans several decompressed blocks
    return out


def _read(blob: bytes, diff_id: str, limits: Limits | None = None) -> list[tuple[str, int, bytes]]:
    stream = LayerStream(io.BytesIO(blob), sha(blob), len(blob), diff_id, limits or Limits(), "layer")
    got = []
    for m in stream.members():
        got.append((m.name, m.size, stream.member_data(m) if m.isreg() and m.size < 1000 else b""))
    stream.finish()
    return got


def _apply(blob: bytes, diff_id: str, limits: Limits | None = None) -> FsView:
    """As image.view does it: errors come out of apply_layer as ImageError."""
    lim = limits or Limits()
    view = FsView()
    apply_layer(view, 0, LayerStream(io.BytesIO(blob), sha(blob), len(blob), diff_id, lim, "layer"), Capture(), lim)
    return view


def _expected(tar: bytes) -> list[tuple[str, int, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as t:
        out = []
        for m in t:
            fh = t.extractfile(m) if m.isreg() and m.size < 1000 else None
            out.append((m.name, m.size, fh.read() if fh else b""))
        return out


@pytest.mark.parametrize("compress", ["none", "gzip", "gzip-multi", "zstd"])
def test_same_members_as_tarfile(compress: str) -> None:
    tar = layer_tar(_members(300))
    if compress == "gzip":
        blob = gzip.compress(tar)
    elif compress == "gzip-multi":  # concatenated members with zero padding, as gzip(1) reads them
        half = len(tar) // 3
        blob = gzip.compress(tar[:half]) + b"\x00" * 7 + gzip.compress(tar[half:])
    elif compress == "zstd":
        import zstandard

        blob = zstandard.ZstdCompressor().compress(tar)
    else:
        blob = tar
    assert _read(blob, sha(tar)) == _expected(tar)


def test_wrong_diff_id_is_refused() -> None:
    tar = layer_tar(_members(20))
    with pytest.raises(ImageError, match="does not match the config's diff_id"):
        _apply(gzip.compress(tar), sha(tar + b"x"))


def test_truncated_and_trailing_garbage_gzip_are_refused() -> None:
    tar = layer_tar(_members(50))
    blob = gzip.compress(tar)
    with pytest.raises(ImageError, match=r"corrupt|cannot read"):
        _apply(blob[: len(blob) - 100], sha(tar))
    with pytest.raises(ImageError, match=r"corrupt|cannot read"):
        _apply(blob + b"garbage!", sha(tar))


def test_bomb_ratio_is_refused_while_streaming() -> None:
    tar = layer_tar([file("zeros", b"\x00" * (8 << 20))])
    blob = gzip.compress(tar, 9)
    with pytest.raises(ImageError, match="compression ratio above 50:1"):
        _apply(blob, sha(tar), Limits(max_ratio=50, ratio_floor=1 << 20))
    with pytest.raises(ImageError, match="more than 4000000 bytes uncompressed"):
        _apply(blob, sha(tar), Limits(max_layer_bytes=4_000_000))


def test_backward_seek_is_refused_and_skipped_bytes_are_still_verified() -> None:
    tar = layer_tar(_members(200))
    blob = gzip.compress(tar)
    stream = LayerStream(io.BytesIO(blob), sha(blob), len(blob), sha(tar), Limits(), "layer")
    it = stream.members()
    first = next(it)
    next(it)
    with pytest.raises(OSError, match="backward seek"):
        stream._bounded.seek(first.offset)
    with pytest.raises(ImageError, match="read out of order"):
        stream.member_data(first)
    for _ in it:  # the rest is skipped by seeking forward, never read by the caller
        pass
    stream.finish()  # a mismatch in skipped data would fail here
    assert stream.uncompressed == len(tar)
    bad = bytearray(tar)
    bad[len(bad) // 2] ^= 0x01  # inside some member's data, which nothing reads
    blob = gzip.compress(bytes(bad))
    with pytest.raises(ImageError, match="diff_id"):
        _apply(blob, sha(tar))


def test_plain_layer_is_hashed_once_and_still_verified() -> None:
    """An uncompressed layer's digest is its diff_id: one hash checks both, a changed byte still fails."""
    tar = layer_tar(_members(30))
    stream = LayerStream(io.BytesIO(tar), sha(tar), len(tar), sha(tar), Limits(), "layer")
    assert stream._bounded._hash is None and stream._verifier is not None
    for _ in stream.members():
        pass
    stream.finish()
    bad = bytearray(tar)
    bad[len(bad) // 2] ^= 0x01
    with pytest.raises(ImageError, match=r"digest|does not match"):
        _apply(bytes(bad), sha(tar))
    with pytest.raises(ImageError, match="does not match the config's diff_id"):  # a diff_id naming other bytes
        _apply(tar, sha(tar + b"x"))


def _region(tmp_path: object, data: bytes, prefix: bytes = b"") -> FileRegion:
    """``data`` inside a file after ``prefix`` (as a layer sits inside a docker save archive)."""
    from pathlib import Path

    path = Path(str(tmp_path)) / "blob"
    path.write_bytes(prefix + data + b"trailing bytes of the enclosing archive")
    return FileRegion(path.open("rb"), len(prefix), len(data), owned=True)


def _read_region(region: FileRegion, digest: str | None, size: int | None, diff_id: str | None,
                 limits: Limits | None = None) -> list[tuple[str, int, bytes]]:
    stream = LayerStream(region, digest, size, diff_id, limits or Limits(), "layer")
    got = []
    try:
        for m in stream.members():
            got.append((m.name, m.size, stream.member_data(m) if m.isreg() and m.size < 1000 else b""))
        stream.finish()
    finally:
        region.close()
    return got


def test_plain_layer_in_a_file_is_read_at_offsets_and_verified(tmp_path: object) -> None:
    """The pread path (docker-archive, OCI layout) reads the same members as tarfile and checks both digests."""
    tar = layer_tar(_members(300))
    region = _region(tmp_path, tar, prefix=b"\x00" * 1536)
    stream = LayerStream(region, sha(tar), len(tar), sha(tar), Limits(), "layer")
    assert stream._plain is not None
    stream.close()
    region.close()
    assert _read_region(_region(tmp_path, tar, b"x" * 512), sha(tar), len(tar), sha(tar)) == _expected(tar)
    assert _read_region(_region(tmp_path, tar), None, None, sha(tar)) == _expected(tar)  # legacy: diff_id only
    bad = bytearray(tar)
    bad[len(bad) // 2] ^= 0x01  # inside data that nothing reads
    with pytest.raises(ImageError, match="digest mismatch"):
        _read_region(_region(tmp_path, bytes(bad)), sha(tar), len(tar), sha(tar))
    with pytest.raises(ImageError, match="does not match the config's diff_id"):
        _read_region(_region(tmp_path, bytes(bad)), None, None, sha(tar))
    with pytest.raises(ImageError, match="does not match the config's diff_id"):
        _read_region(_region(tmp_path, tar), sha(tar), len(tar), sha(tar + b"x"))
    with pytest.raises(ImageError, match="does not match the descriptor's"):
        _read_region(_region(tmp_path, tar), sha(tar), len(tar) + 512, sha(tar))
    with pytest.raises(ImageError, match="more than 4096 bytes uncompressed"):
        _read_region(_region(tmp_path, tar), sha(tar), len(tar), sha(tar), Limits(max_layer_bytes=4096))


def test_plain_layer_in_a_file_refuses_truncation_and_stops_hashing_on_errors(tmp_path: object) -> None:
    tar = layer_tar(_members(100))
    cut = tar[: len(tar) // 2]
    region = _region(tmp_path, cut)
    region.size = len(tar)  # the archive says more than the file holds (truncated download)
    with pytest.raises(ImageError, match=r"corrupt tar stream|ends"):
        _read_region(region, sha(tar), None, sha(tar))
    bad = bytearray(tar)
    bad[600:612] = b"not a header"  # the second member's header
    region = _region(tmp_path, bytes(bad))
    stream = LayerStream(region, sha(tar), len(tar), sha(tar), Limits(), "layer")
    with pytest.raises(ImageError, match="bad tar header checksum"):
        for _ in stream.members():
            pass
    stream.close()
    assert stream._plain is not None and not stream._plain._thread.is_alive()
    region.close()


def test_compressed_layer_in_a_file_takes_the_stream_path(tmp_path: object) -> None:
    tar = layer_tar(_members(50))
    blob = gzip.compress(tar)
    region = _region(tmp_path, blob)
    stream = LayerStream(region, sha(blob), len(blob), sha(tar), Limits(), "layer")
    assert stream._plain is None and stream.compression == "gzip"
    stream.close()
    region.close()
    assert _read_region(_region(tmp_path, blob), sha(blob), len(blob), sha(tar)) == _expected(tar)


def test_quick_handover_only_for_plain_layers_and_always_restored(tmp_path: object) -> None:
    import sys

    from mamori.image.layers import SWITCH_INTERVAL, quick_handover

    before = sys.getswitchinterval()
    with quick_handover(True):
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    with quick_handover(False):
        assert sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), quick_handover(True):
        raise RuntimeError("a corrupt layer")
    assert sys.getswitchinterval() == before
    tar = layer_tar(_members(5))
    region = _region(tmp_path, tar)
    stream = LayerStream(region, sha(tar), len(tar), sha(tar), Limits(), "l")
    assert stream.plain
    stream.close()  # stops its digest thread before the file goes
    region.close()
    assert not LayerStream(io.BytesIO(tar), sha(tar), len(tar), sha(tar), Limits(), "l").plain
