"""The audit entry: what a client may send, and the canonical bytes that become a Merkle leaf.

The leaf is SHA-256(0x00 || data) where ``data`` is the entry as canonical JSON (sorted keys,
no spaces, UTF-8) *including its sequence number*, so a row moved to another position names
itself. The store keeps ``data`` verbatim; its other columns are copies for queries that
``mamori log verify`` checks against ``data``. Syslog messages (RFC 5424 header fields and
structured data in ``payload``, ``type`` "syslog") and forensic chain-of-custody records
(``type`` "forensics.custody", evidence digest and actor in ``payload``) fit the same shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from mamori.audit.merkle import leaf_hash

VERSION = 1
MAX_ENTRY = 64 * 1024  # canonical bytes of one entry
MAX_DEPTH = 32
CLIENT_KEYS = frozenset({"time", "type", "container", "image", "payload"})
_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
_SOURCE = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,255}")


class EntryError(ValueError):
    """A client entry that cannot be logged; the message is safe to return to the client."""


def utc_now() -> str:
    return rfc3339(datetime.now(UTC))


def rfc3339(t: datetime) -> str:
    """UTC with microseconds and ``Z``: fixed width, so text order is time order."""
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(value: object) -> str:
    """An RFC 3339 timestamp with an offset, normalised to UTC microseconds."""
    if not isinstance(value, str) or len(value) > 40:
        raise EntryError("time: an RFC 3339 string such as 2026-01-02T03:04:05.123456Z")
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", value)
    if not m:
        raise EntryError(f"time {value!r} is not RFC 3339 with a time offset")
    frac = (m.group(3) or ".0")[1:7].ljust(6, "0")
    offset = "+00:00" if m.group(4) in ("Z", "z") else m.group(4)
    try:
        t = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}.{frac}{offset}")
    except ValueError:
        raise EntryError(f"time {value!r} is not a valid date and time") from None
    return rfc3339(t)


def _depth(v: object, d: int = 0) -> int:
    if d > MAX_DEPTH:
        return d
    if isinstance(v, dict):
        return max((_depth(x, d + 1) for x in v.values()), default=d + 1)
    if isinstance(v, list):
        return max((_depth(x, d + 1) for x in v), default=d + 1)
    return d


def canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A validated entry before it has a position; ``source`` is the authenticated identity."""

    type: str
    payload: dict[str, Any]
    source: str
    time: str | None = None  # the source's own timestamp; None: the receive time
    container: str | None = None
    image: str | None = None
    payload_json: str | None = None  # canonical(payload), computed once at validation

    def data(self, seq: int, received: str) -> dict[str, Any]:
        d: dict[str, Any] = {"v": VERSION, "seq": seq, "time": self.time or received, "received": received,
                             "source": self.source, "type": self.type, "payload": self.payload}
        if self.container is not None:
            d["container"] = self.container
        if self.image is not None:
            d["image"] = self.image
        return d


def check_source(source: str) -> str:
    if not _SOURCE.fullmatch(source):
        raise EntryError("source identity: 1-256 printable ASCII characters")
    return source


def new_entry(obj: object, source: str) -> NewEntry:
    """Validate one client object; every refusal says which field and why."""
    if not isinstance(obj, dict):
        raise EntryError("an entry is a JSON object")
    extra = sorted(set(obj) - CLIENT_KEYS)
    if extra:
        raise EntryError(f"unknown field(s) {', '.join(repr(k) for k in extra[:5])}; "
                         f"allowed: {', '.join(sorted(CLIENT_KEYS))}")
    etype = obj.get("type")
    if not isinstance(etype, str) or not _TYPE.fullmatch(etype):
        raise EntryError("type: required, 1-128 characters of letters, digits and ._:/-")
    payload = obj.get("payload", {})
    if not isinstance(payload, dict):
        raise EntryError("payload: a JSON object")
    if _depth(payload) > MAX_DEPTH:
        raise EntryError(f"payload nested deeper than {MAX_DEPTH} levels")
    fields: dict[str, str | None] = {}
    for key, limit in (("container", 256), ("image", 512)):
        v = obj.get(key)
        if v is not None and (not isinstance(v, str) or not 0 < len(v) <= limit or not v.isprintable()):
            raise EntryError(f"{key}: a printable string of 1-{limit} characters")
        fields[key] = v
    t = parse_time(obj["time"]) if obj.get("time") is not None else None
    try:
        body = canonical(payload)
    except UnicodeEncodeError:
        raise EntryError("payload holds a string that is not valid Unicode (a lone surrogate)") from None
    except ValueError:
        raise EntryError("payload holds a number JSON cannot represent (NaN or infinity)") from None
    e = NewEntry(etype, payload, check_source(source), t, fields["container"], fields["image"], body.decode())
    size = len(encode(e, 10**12, "2000-01-01T00:00:00.000000Z")[0])  # the largest seq we expect to reach
    if size > MAX_ENTRY - 64:
        raise EntryError(f"entry of {size} bytes exceeds the limit of {MAX_ENTRY - 64} bytes")
    return e


@dataclass(frozen=True, slots=True)
class Stored:
    """One logged entry as read back: its position, canonical bytes and leaf hash."""

    seq: int
    data: bytes
    leaf: bytes

    def json(self) -> dict[str, Any]:
        d: dict[str, Any] = json.loads(self.data)
        return d


def encode(entry: NewEntry, seq: int, received: str) -> tuple[bytes, bytes]:
    """Canonical bytes and leaf hash of ``entry`` at position ``seq``.

    Assembled by hand in sorted-key order (equal to ``canonical(entry.data(...))``, which the tests
    check) so the payload is serialised once, at validation, not again under the write lock.
    """
    if entry.payload_json is None:
        data = canonical(entry.data(seq, received))
        return data, leaf_hash(data)
    enc = encode_basestring
    text = "{" + ('"container":' + enc(entry.container) + "," if entry.container is not None else "") + (
        '"image":' + enc(entry.image) + "," if entry.image is not None else "") + '"payload":' + entry.payload_json + (
        ',"received":' + enc(received) + ',"seq":' + str(seq) + ',"source":' + enc(entry.source) + ',"time":'
        + enc(entry.time or received) + ',"type":' + enc(entry.type) + ',"v":' + str(VERSION) + "}")
    data = text.encode()
    return data, leaf_hash(data)
