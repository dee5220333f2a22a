"""RFC 5424 syslog messages: a strict parser from the octets of one frame to the audit payload.

Strict where it matters for evidence (PRI range, VERSION 1, RFC 3339 timestamps, SD syntax and
escapes, UTF-8 of SD values and of a BOM-marked MSG) so a malformed message is *recorded as
malformed* with its raw octets, never half-understood. Two deliberate leniencies: APP-NAME, PROCID
and MSGID may be up to 255 characters (RFC 5424: 48/128/32) because Docker's syslog driver writes
its tag, possibly a 64-character container id, into APP-NAME and MSGID; and one trailing LF (CRLF)
is not part of MSG, because senders such as Docker put it inside the octet-counted frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mamori.audit.entry import rfc3339

NIL = b"-"
BOM = b"\xef\xbb\xbf"
MAX_HEADER_FIELD = 255
_TIMESTAMP = re.compile(rb"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})")
_PRINTUS = re.compile(rb"[\x21-\x7e]+")
_SD_NAME = re.compile(rb"[\x21\x23-\x3c\x3e-\x5c\x5e-\x7e]{1,32}")  # PRINTUSASCII but = SP ] "
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


class SyslogError(ValueError):
    """A frame that is not an RFC 5424 message; the message says where and why."""


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    facility: int
    severity: int
    timestamp: str | None  # normalised: UTC, microseconds, "Z"; None for NILVALUE
    timestamp_raw: str | None  # as sent (keeps the sender's offset)
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    sd: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    msg: str | None
    msg_bom: bool = False
    msg_raw: bytes | None = None  # the MSG octets when they are not valid UTF-8 (msg then has U+FFFD)

    def payload(self) -> dict[str, Any]:
        """The audit entry payload; a repeated PARAM-NAME becomes a list of its values in order."""
        sd: dict[str, dict[str, Any]] = {}
        for sid, params in self.sd:
            el: dict[str, Any] = {}
            for name, value in params:
                if name in el:
                    prev = el[name]
                    el[name] = [*prev, value] if isinstance(prev, list) else [prev, value]
                else:
                    el[name] = value
            sd[sid] = el
        out: dict[str, Any] = {"facility": self.facility, "severity": self.severity, "timestamp": self.timestamp_raw,
                               "hostname": self.hostname, "app_name": self.app_name, "procid": self.procid,
                               "msgid": self.msgid, "sd": sd, "msg": self.msg}
        if self.msg_bom:
            out["msg_bom"] = True
        if self.msg_raw is not None:
            import base64

            out["msg_b64"] = base64.b64encode(self.msg_raw).decode()
        return out


class _Cursor:
    __slots__ = ("b", "i")

    def __init__(self, b: bytes) -> None:
        self.b, self.i = b, 0

    def fail(self, what: str) -> SyslogError:
        return SyslogError(f"{what} at octet {self.i}")

    def sp(self, after: str) -> None:
        if self.b[self.i:self.i + 1] != b" ":
            raise self.fail(f"expected a space after {after}")
        self.i += 1

    def token(self) -> bytes:
        j = self.b.find(b" ", self.i)
        j = len(self.b) if j < 0 else j
        tok = self.b[self.i:j]
        self.i = j
        return tok


def _field(c: _Cursor, name: str, limit: int = MAX_HEADER_FIELD) -> str | None:
    tok = c.token()
    if tok == NIL:
        return None
    if not tok or len(tok) > limit or not _PRINTUS.fullmatch(tok):
        raise SyslogError(f"{name}: 1-{limit} printable US-ASCII characters or '-' (got {tok[:40]!r})")
    return tok.decode("ascii")


def parse_timestamp(tok: bytes) -> str:
    """An RFC 5424 TIMESTAMP (uppercase T/Z, at most 6 fraction digits, no leap second) as UTC microseconds."""
    m = _TIMESTAMP.fullmatch(tok)
    if not m:
        raise SyslogError(f"TIMESTAMP {tok[:40]!r} is not RFC 3339 as RFC 5424 restricts it "
                          "(e.g. 2026-01-02T03:04:05.123456Z)")
    date, hh, mm, ss, frac, off = (g.decode() if g else "" for g in m.groups())
    if int(ss) > 59:
        raise SyslogError(f"TIMESTAMP {tok.decode()!r}: RFC 5424 forbids leap seconds")
    offset = "+00:00" if off == "Z" else off
    try:
        t = datetime.fromisoformat(f"{date}T{hh}:{mm}:{ss}.{frac.ljust(6, '0')}{offset}")
    except ValueError:
        raise SyslogError(f"TIMESTAMP {tok.decode()!r} is not a valid date and time") from None
    return rfc3339(t)


def _sd_value(c: _Cursor) -> str:
    """A quoted PARAM-VALUE: \\" \\\\ \\] are escapes, a backslash before anything else is itself."""
    b = c.b
    if b[c.i:c.i + 1] != b'"':
        raise c.fail('expected \'"\' opening a PARAM-VALUE')
    c.i += 1
    out = bytearray()
    while True:
        j = c.i
        while j < len(b) and b[j] not in (0x22, 0x5C):  # '"' '\'
            j += 1
        out += b[c.i:j]
        if j >= len(b):
            c.i = j
            raise c.fail("unterminated PARAM-VALUE")
        if b[j] == 0x22:
            c.i = j + 1
            break
        nxt = b[j + 1:j + 2]
        if nxt in (b'"', b"\\", b"]"):
            out += nxt
            c.i = j + 2
        else:
            out += b"\\"
            c.i = j + 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise c.fail("PARAM-VALUE is not valid UTF-8") from None


def _sd_name(c: _Cursor, what: str) -> str:
    m = _SD_NAME.match(c.b, c.i)
    if not m:
        raise c.fail(f"expected an {what} (1-32 printable US-ASCII except '=', ']', '\"', space)")
    end = m.end()
    if end < len(c.b) and c.b[end] not in b' ="]':
        raise c.fail(f"{what} longer than 32 characters or with a forbidden character")
    c.i = end
    return m.group().decode("ascii")


def _structured_data(c: _Cursor) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    b = c.b
    if b[c.i:c.i + 1] == NIL:
        c.i += 1
        return ()
    if b[c.i:c.i + 1] != b"[":
        raise c.fail("expected STRUCTURED-DATA ('-' or '[')")
    out: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    seen: set[str] = set()
    while b[c.i:c.i + 1] == b"[":
        c.i += 1
        sid = _sd_name(c, "SD-ID")
        if sid in seen:
            raise c.fail(f"SD-ID {sid!r} appears twice (RFC 5424 6.3.2)")
        seen.add(sid)
        params: list[tuple[str, str]] = []
        while b[c.i:c.i + 1] == b" ":
            c.i += 1
            name = _sd_name(c, "PARAM-NAME")
            if b[c.i:c.i + 1] != b"=":
                raise c.fail(f"expected '=' after PARAM-NAME {name!r}")
            c.i += 1
            params.append((name, _sd_value(c)))
        if b[c.i:c.i + 1] != b"]":
            raise c.fail(f"expected ']' closing SD-ELEMENT {sid!r}")
        c.i += 1
        out.append((sid, tuple(params)))
    return tuple(out)


_HEADER = re.compile(rb"<(0|[1-9]\d{0,2})>1 ([\x21-\x7e]{1,40}) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,255}) "
                     rb"([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,255}) ")
_UTC_MICROS = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:[0-5]\d\.\d{6}Z")


def _nil(tok: bytes) -> str | None:
    return None if tok == NIL else tok.decode("ascii")


def parse(frame: bytes) -> SyslogMessage:
    """One RFC 5424 SYSLOG-MSG (the octets inside one frame); raises SyslogError naming the problem.

    A well-formed header is matched by one regular expression (the collector's hot path); anything
    it does not match goes through the field-by-field parser, which says what is wrong.
    """
    m = _HEADER.match(frame)
    if m is None or int(m.group(1)) > 191:
        return _parse_fields(frame)
    ts_tok = m.group(2)
    if ts_tok == NIL:
        ts = None
    elif _UTC_MICROS.fullmatch(ts_tok):  # already normalised: only the date and time values need checking
        try:
            datetime.fromisoformat(ts_tok[:-1].decode())
        except ValueError:
            raise SyslogError(f"TIMESTAMP {ts_tok.decode()!r} is not a valid date and time") from None
        ts = ts_tok.decode()
    else:
        ts = parse_timestamp(ts_tok)
    pri = int(m.group(1))
    host, app, procid, msgid = m.group(3, 4, 5, 6)
    end = m.end()
    if frame[end:end + 2] == b"- " and not frame.startswith(BOM, end + 2):  # no SD, a plain MSG: most messages
        body = frame[end + 2:]
        if body.endswith(b"\n"):
            body = body[:-2] if body.endswith(b"\r\n") else body[:-1]
        try:
            msg = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return SyslogMessage(pri >> 3, pri & 7, ts, None if ts is None else ts_tok.decode(),
                                 None if host == NIL else host.decode(), None if app == NIL else app.decode(),
                                 None if procid == NIL else procid.decode(), None if msgid == NIL else msgid.decode(),
                                 (), msg)
    c = _Cursor(frame)
    c.i = end
    return _tail(c, pri, ts, None if ts is None else ts_tok.decode(), _nil(host), _nil(app), _nil(procid),
                 _nil(msgid))


def _parse_fields(frame: bytes) -> SyslogMessage:
    c = _Cursor(frame)
    m = re.match(rb"<(\d{1,3})>", frame)
    if not m:
        raise SyslogError("does not start with PRI ('<' 0-191 '>')")
    pri = int(m.group(1))
    if pri > 191 or (len(m.group(1)) > 1 and m.group(1)[0:1] == b"0"):
        raise SyslogError(f"PRI {m.group(1).decode()} is outside 0-191 or has a leading zero")
    c.i = m.end()
    ver = re.match(rb"[1-9]\d{0,2}", frame[c.i:])
    if not ver:
        raise c.fail("no VERSION after PRI (an RFC 3164 message? only RFC 5424 is accepted)")
    if ver.group() != b"1":
        raise c.fail(f"syslog VERSION {ver.group().decode()} is not supported (only 1)")
    c.i += len(ver.group())
    c.sp("VERSION")
    ts_tok = c.token()
    ts = None if ts_tok == NIL else parse_timestamp(ts_tok)
    c.sp("TIMESTAMP")
    hostname = _field(c, "HOSTNAME")
    c.sp("HOSTNAME")
    app = _field(c, "APP-NAME")
    c.sp("APP-NAME")
    procid = _field(c, "PROCID")
    c.sp("PROCID")
    msgid = _field(c, "MSGID")
    c.sp("MSGID")
    return _tail(c, pri, ts, None if ts is None else ts_tok.decode("ascii"), hostname, app, procid, msgid)


def _tail(c: _Cursor, pri: int, ts: str | None, ts_raw: str | None, hostname: str | None, app: str | None,
          procid: str | None, msgid: str | None) -> SyslogMessage:
    """STRUCTURED-DATA [SP MSG], after the header."""
    frame = c.b
    sd = _structured_data(c)
    msg: str | None = None
    bom = False
    raw: bytes | None = None
    if c.i < len(frame):
        c.sp("STRUCTURED-DATA")
        body = frame[c.i:]
        if body.endswith(b"\n"):
            body = body[:-2] if body.endswith(b"\r\n") else body[:-1]
        if body.startswith(BOM):
            bom = True
            try:
                msg = body[3:].decode("utf-8")
            except UnicodeDecodeError:
                raise SyslogError("MSG starts with a BOM but is not valid UTF-8") from None
        else:
            try:
                msg = body.decode("utf-8")
            except UnicodeDecodeError:  # MSG-ANY: any octets; keep them exactly as well
                msg, raw = body.decode("utf-8", "replace"), body
    return SyslogMessage(pri >> 3, pri & 7, ts, ts_raw, hostname, app, procid, msgid, sd, msg, bom, raw)
