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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from zlib import adler32

BLOCK = 512
MAX_EXTENDED = 1 << 20  # one GNU long name or PAX header; real ones are a few hundred bytes

REG, AREG, LNK, SYM, CHR, BLK, DIR, FIFO, CONT = b"0", b"\x00", b"1", b"2", b"3", b"4", b"5", b"6", b"7"
GNU_LONGNAME, GNU_LONGLINK, GNU_SPARSE, PAX, PAX_GLOBAL = b"L", b"K", b"S", b"x", b"g"
_WITH_DATA = {REG, AREG, CONT, GNU_SPARSE}  # tarfile skips data only for regular (and unknown) types
_BUILTIN = {REG, AREG, LNK, SYM, CHR, BLK, DIR, FIFO, CONT, GNU_SPARSE}


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
    end = raw.find(b"\x00")
    return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")


def _number(field: bytes, what: str, at: int) -> int:
    try:  # the common case: octal digits padded with NUL or space (int() skips surrounding whitespace)
        return int(field.rstrip(b"\x00"), 8)
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


def _checksum_ok(block: bytes, at: int) -> bool:
    try:
        stored = _number(block[148:156], "checksum", at)
    except TarFormatError:
        return False
    # adler32's low half is 1 + the byte sum mod 65521; a 256-byte half sums to at most 65280, so
    # two halves give the exact unsigned sum ten times faster than sum() over 512 bytes.
    unsigned = (adler32(block[:256]) & 0xFFFF) + (adler32(block[256:]) & 0xFFFF) - 2 - sum(block[148:156]) + 8 * 0x20
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


def members(read: Callable[[int], bytes], skip: Callable[[int], None], tell: Callable[[], int]) -> Iterator[Member]:
    """The members of a tar stream, in order. After each one, the caller may ``read`` exactly its
    data (``size`` bytes) or nothing; anything unread is skipped here before the next header."""
    global_pax: dict[str, str] = {}
    pax: dict[str, str] = {}
    longname: str | None = None
    longlink: str | None = None
    first = True
    while True:
        at = tell()
        block = read(BLOCK)
        if not block:
            if pax or longname is not None or longlink is not None:
                raise TarFormatError(f"tar stream ends after an extended header (offset {at})")
            return  # tarfile also accepts a stream without the two zero blocks
        if len(block) < BLOCK:
            raise TarFormatError(f"truncated tar header at offset {at}")
        if block.count(0) == BLOCK:
            return  # end-of-archive marker; the rest is drained (and digested) by the layer stream
        if not _checksum_ok(block, at):
            what = "not a tar stream" if first else "bad tar header checksum"
            raise TarFormatError(f"{what} at offset {at}")
        first = False
        flag = block[156:157]
        size = _number(block[124:136], "size", at)
        if flag in (GNU_LONGNAME, GNU_LONGLINK, PAX, PAX_GLOBAL):
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
        if block[257:263] == b"ustar\x00" and block[345]:  # POSIX ustar: name = prefix/name
            name = _text(block[345:500]) + "/" + _text(block[:100])
        else:
            name = _text(block[:100])
        linkname = _text(block[157:257])
        fields = {**global_pax, **pax} if global_pax else pax
        if longname is not None:
            name = longname
        if longlink is not None:
            linkname = longlink
        if "path" in fields:
            name = fields["path"]
        if "linkpath" in fields:
            linkname = fields["linkpath"]
        size = _pax_int(fields, "size", size, at)
        sparse = flag == GNU_SPARSE or any(k.startswith("GNU.sparse.") for k in fields)
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
        m = Member(name, linkname, size,
                   _number(block[100:108], "mode", at) & 0o7777,
                   _pax_int(fields, "uid", _number(block[108:116], "uid", at), at),
                   _pax_int(fields, "gid", _number(block[116:124], "gid", at), at),
                   flag, at, data_at, sparse)
        pax, longname, longlink = {}, None, None
        yield m
        if flag in _WITH_DATA or flag not in _BUILTIN:
            end = data_at + size + (-size % BLOCK)
            here = tell()
            if here > end:
                raise TarFormatError(f"member {name[:200]!r} was read past its end")
            skip(end - here)
