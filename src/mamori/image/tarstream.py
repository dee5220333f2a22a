"""A strict, forward-only tar header reader for image layers.

Why not ``tarfile``: on a Debian layer it spent more time building ``TarInfo`` objects (PAX
records through regular expressions, checksums in Python loops, every field decoded) than zlib
spent decompressing. Layers only need name, link, size, mode, owner and type, so this reader
takes those fields with slicing and ``int(…, 8)``, and is stricter than tarfile: a truncated
header, a bad checksum after the first member or a stream that ends inside a member is an
error here, where tarfile stops quietly and returns the members read so far.

Formats read: ustar (with ``prefix``), GNU (``L``/``K`` long names, base-256 numbers), PAX
(``x`` per member and ``g`` global records: path, linkpath, size, uid, gid). GNU sparse members
are reported with type ``S`` so callers refuse them (Docker and BuildKit never write them).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from zlib import adler32

BLOCK = 512
MAX_EXTENDED = 1 << 20  # one GNU long name or PAX header; real ones are a few hundred bytes

REG, AREG, LNK, SYM, CHR, BLK, DIR, FIFO, CONT = b"0", b"\x00", b"1", b"2", b"3", b"4", b"5", b"6", b"7"
GNU_LONGNAME, GNU_LONGLINK, GNU_SPARSE, PAX, PAX_GLOBAL = b"L", b"K", b"S", b"x", b"g"
_WITH_DATA = {REG, AREG, CONT, GNU_SPARSE}  # tarfile skips data only for regular (and unknown) types
_BUILTIN = {REG, AREG, LNK, SYM, CHR, BLK, DIR, FIFO, CONT, GNU_SPARSE}
_EXTENDED = {GNU_LONGNAME, GNU_LONGLINK, PAX, PAX_GLOBAL}


class TarFormatError(ValueError):
    """The layer is not a well-formed tar stream; the message names the offset."""


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    linkname: str
    size: int
    mode: int
    uid: int
    gid: int
    type: bytes  # one of the type flags above; unknown flags are kept as read
    offset: int  # of the member's (first) header
    offset_data: int
    sparse: bool = False

    def isreg(self) -> bool:
        return self.type in (REG, AREG, CONT) and not self.sparse

    def isdir(self) -> bool:
        return self.type == DIR

    def issym(self) -> bool:
        return self.type == SYM

    def islnk(self) -> bool:
        return self.type == LNK

    def isdev(self) -> bool:
        return self.type in (CHR, BLK, FIFO)


def _text(raw: bytes) -> str:
    return raw.partition(b"\x00")[0].decode("utf-8", "surrogateescape")


def _number(field: bytes, what: str, at: int) -> int:
    try:  # the common case: octal digits padded with NUL or space (int() skips surrounding whitespace)
        return int(field.strip(b"\x00 "), 8)
    except ValueError:
        pass
    if field[:1] and field[0] & 0x80:  # GNU base-256; 0xff (negative) is refused
        if field[0] != 0x80:
            raise TarFormatError(f"negative {what} in the tar header at offset {at}")
        return int.from_bytes(field[1:], "big")
    digits = field.replace(b"\x00", b" ").strip()
    if not digits:
        return 0
    try:
        return int(digits, 8)
    except ValueError:
        raise TarFormatError(f"bad {what} {digits[:16]!r} in the tar header at offset {at}") from None


def _checksum_ok(block: bytes, field: bytes, at: int) -> bool:
    try:
        stored = int(field.strip(b"\x00 "), 8)
    except ValueError:
        try:
            stored = _number(field, "checksum", at)
        except TarFormatError:
            return False
    # adler32's low half is 1 + the byte sum mod 65521; a 256-byte half sums to at most 65280, so
    # two halves give the exact unsigned sum ten times faster than sum() over 512 bytes.
    view = memoryview(block)
    unsigned = (adler32(view[:256]) & 0xFFFF) + (adler32(view[256:]) & 0xFFFF) - 2 - sum(field) + 8 * 0x20
    if stored == unsigned:
        return True
    signed = sum(b - 256 if b > 127 else b for b in block) - sum(b - 256 if b > 127 else b for b in block[148:156])
    return stored == signed + 8 * 0x20


def _pax_records(data: bytes, at: int) -> dict[str, str]:
    """``"%d %s=%s\\n"`` records; the length counts the whole record, digits and newline included."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # some writers pad the data with NULs
            break
        space = data.find(b" ", pos, pos + 24)
        try:
            length = int(data[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1:end] != b"\n":
            raise TarFormatError(f"malformed PAX record in the extended header at offset {at}")
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if not eq:
            raise TarFormatError(f"malformed PAX record in the extended header at offset {at}")
        k = key.decode("utf-8", "surrogateescape")
        out[k] = value.decode("utf-8", "surrogateescape")
        pos = end
    return out


def _pax_int(pax: dict[str, str], key: str, default: int, at: int) -> int:
    value = pax.get(key)
    if value is None:
        return default
    if not value.isdigit():
        raise TarFormatError(f"PAX {key}={value[:20]!r} is not a number (header at offset {at})")
    return int(value)


# name, mode, uid, gid, size, mtime, chksum, typeflag, linkname, magic, version, uname, gname,
# devmajor, devminor, prefix: one C call instead of a slice per field
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s")


def members(read: Callable[[int], bytes], skip: Callable[[int], None], tell: Callable[[], int]) -> Iterator[Member]:
    """The members of a tar stream, in order. After each one, the caller may ``read`` exactly its
    data (``size`` bytes) or nothing; anything unread is skipped here before the next header."""
    global_pax: dict[str, str] = {}
    pax: dict[str, str] = {}
    longname: str | None = None
    longlink: str | None = None
    first = True
    unpack = _HEADER.unpack_from
    while True:
        at = tell()
        block = read(BLOCK)
        if len(block) < BLOCK:
            if block:
                raise TarFormatError(f"truncated tar header at offset {at}")
            if pax or longname is not None or longlink is not None:
                raise TarFormatError(f"tar stream ends after an extended header (offset {at})")
            return  # tarfile also accepts a stream without the two zero blocks
        (name_f, mode_f, uid_f, gid_f, size_f, _mtime, chk_f, flag, link_f, magic, _version, _uname, _gname,
         _major, _minor, prefix_f) = unpack(block)
        if not _checksum_ok(block, chk_f, at):
            if block.count(0) == BLOCK:
                return  # end-of-archive marker; the rest is drained (and digested) by the layer stream
            what = "not a tar stream" if first else "bad tar header checksum"
            raise TarFormatError(f"{what} at offset {at}")
        first = False
        try:  # the common case: octal digits padded with NUL or space (int() skips surrounding whitespace)
            size = int(size_f.strip(b"\x00 "), 8)
        except ValueError:
            size = _number(size_f, "size", at)
        if flag in _EXTENDED:
            if size > MAX_EXTENDED:
                raise TarFormatError(f"extended tar header of {size} bytes at offset {at} (over {MAX_EXTENDED})")
            data = read(size)
            if len(data) < size:
                raise TarFormatError(f"tar stream ends inside the extended header at offset {at}")
            skip(-size % BLOCK)
            if flag == GNU_LONGNAME:
                longname = _text(data)
            elif flag == GNU_LONGLINK:
                longlink = _text(data)
            elif flag == PAX:
                pax.update(_pax_records(data, at))
            else:
                global_pax.update(_pax_records(data, at))
            continue
        name = _text(name_f)
        if magic == b"ustar\x00" and prefix_f[0]:  # POSIX ustar: name = prefix/name
            name = _text(prefix_f) + "/" + name
        linkname = _text(link_f) if link_f[0] else ""
        fields = {**global_pax, **pax} if global_pax else pax
        if longname is not None:
            name = longname
        if longlink is not None:
            linkname = longlink
        try:
            mode = int(mode_f.strip(b"\x00 "), 8)
            uid, gid = int(uid_f.strip(b"\x00 "), 8), int(gid_f.strip(b"\x00 "), 8)
        except ValueError:
            mode, uid, gid = (_number(mode_f, "mode", at), _number(uid_f, "uid", at), _number(gid_f, "gid", at))
        sparse = flag == GNU_SPARSE
        if fields:
            if "path" in fields:
                name = fields["path"]
            if "linkpath" in fields:
                linkname = fields["linkpath"]
            if "size" in fields:  # most records are only mtime (Python's tarfile writes one per member)
                size = _pax_int(fields, "size", size, at)
            if "uid" in fields:
                uid = _pax_int(fields, "uid", uid, at)
            if "gid" in fields:
                gid = _pax_int(fields, "gid", gid, at)
            sparse = sparse or any(k.startswith("GNU.sparse.") for k in fields)
        extended = flag == GNU_SPARSE and block[482] != 0
        while extended:  # old GNU sparse: more sparse-map blocks follow the header
            more = read(BLOCK)
            if len(more) < BLOCK:
                raise TarFormatError(f"tar stream ends inside a sparse map (member at offset {at})")
            extended = more[504] != 0
        if flag == AREG and name.endswith("/"):  # old tar: a directory is a regular member named "x/"
            flag = DIR
        if flag == DIR:
            name = name.rstrip("/")
        data_at = tell()
        m = Member(name, linkname, size, mode & 0o7777, uid, gid, flag, at, data_at, sparse)
        pax, longname, longlink = {}, None, None
        yield m
        if flag in _WITH_DATA or flag not in _BUILTIN:
            end = data_at + size + (-size % BLOCK)
            here = tell()
            if here > end:
                raise TarFormatError(f"member {name[:200]!r} was read past its end")
            skip(end - here)
