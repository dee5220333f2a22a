"""The strict tar header reader (mamori.image.tarstream) against tarfile on the same bytes."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from mamori.image import tarstream
from mamori.image.tarstream import TarFormatError


def _tar(fmt: int, members: list[tuple[tarfile.TarInfo, bytes | None]], pax: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, pax_headers=pax or {}) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = "", uid: int = 0,
          mode: int = 0o644) -> tarfile.TarInfo:
    i = tarfile.TarInfo(name)
    i.type, i.size, i.linkname, i.uid, i.gid, i.mode, i.mtime = kind, size, link, uid, uid, mode, 1_700_000_000.25
    return i


def _sample() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    out: list[tuple[tarfile.TarInfo, bytes | None]] = [(_info("etc", tarfile.DIRTYPE, mode=0o755), None)]
    for i in range(40):
        data = os.urandom(i * 97 % 1500)
        name = "usr/" + "deep-directory-name/" * (i % 15) + f"f{i}"  # past 100 and 155+100 bytes
        out.append((_info(name, size=len(data), uid=i * 100_003, mode=0o4755 if i == 3 else 0o644), data))
    out.append((_info("usr/bin/sh", tarfile.SYMTYPE, link="/" + "x/" * 70 + "dash"), None))
    out.append((_info("usr/bin/hard", tarfile.LNKTYPE, link="usr/f1"), None))
    out.append((_info("dev/null", tarfile.CHRTYPE), None))
    out.append((_info("ünïcode/名前.txt", size=3), b"abc"))
    return out


def _ours(blob: bytes) -> list[tuple[str, str, int, int, int, int, bytes, bool, bool, bool, bool, bytes]]:
    src = io.BytesIO(blob)

    def skip(n: int) -> None:
        if src.seek(n, io.SEEK_CUR) > len(blob):
            raise TarFormatError("past the end")

    out = []
    for m in tarstream.members(src.read, skip, src.tell):
        data = src.read(m.size) if m.isreg() else b""
        out.append((m.name, m.linkname, m.size if m.isreg() else 0, m.mode & 0o7777, m.uid, m.gid, data,
                    m.isreg(), m.isdir(), m.issym(), m.islnk(), m.type if m.isdev() else b""))
    return out


def _theirs(blob: bytes) -> list[tuple[str, str, int, int, int, int, bytes, bool, bool, bool, bool, bytes]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tar:
        for m in tar:
            fh = tar.extractfile(m) if m.isreg() else None
            out.append((m.name, m.linkname, m.size if m.isreg() else 0, m.mode & 0o7777, m.uid, m.gid,
                        fh.read() if fh else b"", m.isreg(), m.isdir(), m.issym(), m.islnk(),
                        m.type if (m.ischr() or m.isblk() or m.isfifo()) else b""))
    return out


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_same_members_as_tarfile(fmt: int) -> None:
    blob = _tar(fmt, _sample())
    ours = _ours(blob)
    assert ours == _theirs(blob)
    assert len(ours) == len(_sample())
    assert any(len(name) > 255 for name, *_ in ours)  # long names really went through L/K or PAX records


def test_ustar_prefix_field() -> None:
    name = "a" * 120 + "/" + "b" * 60  # fits ustar only by splitting into prefix and name
    blob = _tar(tarfile.USTAR_FORMAT, [(_info(name, size=2), b"hi")])
    assert _ours(blob) == _theirs(blob)
    assert _ours(blob)[0][0] == name


def test_global_pax_header_applies_to_later_members() -> None:
    blob = _tar(tarfile.PAX_FORMAT, [(_info("a", size=1), b"1"), (_info("b", size=1), b"2")], pax={"uid": "4242"})
    assert [m[4] for m in _ours(blob)] == [4242, 4242] == [m[4] for m in _theirs(blob)]


def test_old_style_directory_and_missing_end_marker() -> None:
    i = _info("olddir/", tarfile.AREGTYPE)
    blob = _tar(tarfile.GNU_FORMAT, [(i, b"")])
    ours = _ours(blob[:512])  # no end-of-archive blocks at all: accepted, as tarfile does
    assert ours[0][8] is True and ours == _theirs(blob)


def test_truncated_header_is_an_error_not_a_quiet_end() -> None:
    blob = _tar(tarfile.GNU_FORMAT, [(_info("a", size=10), b"0123456789"), (_info("b", size=1), b"x")])
    with pytest.raises(TarFormatError, match="truncated tar header at offset 1024"):
        _ours(blob[:1024 + 300])


def test_bad_checksum_is_named() -> None:
    blob = bytearray(_tar(tarfile.GNU_FORMAT, [(_info("a", size=1), b"1"), (_info("b", size=1), b"2")]))
    blob[1024 + 5] ^= 0x20  # inside the second header's name
    with pytest.raises(TarFormatError, match="bad tar header checksum at offset 1024"):
        _ours(bytes(blob))
    with pytest.raises(TarFormatError, match="not a tar stream at offset 0"):
        _ours(b"\x01" * 1024)


def test_stream_ending_inside_data_is_an_error() -> None:
    blob = _tar(tarfile.GNU_FORMAT, [(_info("a", size=2000), os.urandom(2000)), (_info("b", size=1), b"2")])
    with pytest.raises(TarFormatError, match="past the end"):
        _ours(blob[:512 + 1000])


def test_oversized_and_malformed_extended_headers_are_refused() -> None:
    hdr = _info("././@LongLink", tarfile.GNUTYPE_LONGNAME, size=tarstream.MAX_EXTENDED + 1)
    with pytest.raises(TarFormatError, match="extended tar header of 1048577 bytes"):
        _ours(hdr.tobuf(tarfile.GNU_FORMAT) + b"\x00" * 1024)
    bad = b"99 path=x\n"
    pax = _info("pax", tarfile.XHDTYPE, size=len(bad))
    blob = pax.tobuf(tarfile.USTAR_FORMAT) + bad.ljust(512, b"\x00") + _info("f").tobuf(tarfile.USTAR_FORMAT)
    with pytest.raises(TarFormatError, match="malformed PAX record"):
        _ours(blob + b"\x00" * 1024)
    neg = bytearray(_info("n", size=0).tobuf(tarfile.GNU_FORMAT))
    neg[108:116] = b"\xff" * 8  # negative base-256 uid
    neg[148:156] = b" " * 8
    neg[148:155] = f"{sum(neg):06o}\x00".encode()
    with pytest.raises(TarFormatError, match="negative uid"):
        _ours(bytes(neg) + b"\x00" * 1024)


def test_sparse_members_are_flagged() -> None:
    i = _info("holes", tarfile.GNUTYPE_SPARSE, size=0)
    blob = i.tobuf(tarfile.GNU_FORMAT) + b"\x00" * 1024
    src = io.BytesIO(blob)
    (m,) = list(tarstream.members(src.read, lambda n: [src.seek(n, io.SEEK_CUR), None][1], src.tell))
    assert m.sparse and not m.isreg()
