"""Docker ``/events`` messages -> :class:`~mamori.store.events.EventRecord`, and the verdict on ``create``.

Timestamps come from ``timeNano`` (``time`` * 1e9 on daemons without it) and are written as
UTC RFC 3339 with nine fractional digits (nanoseconds): the daemon's own precision, and fixed
width, so the text sorts like the number. The key identifying an event is a SHA-256 of the
daemon id and the canonical JSON of the fields that make the event (time, type, action,
actor id and attributes): a replay after a reconnect produces the same key, two distinct
events sharing one ``timeNano`` do not.

The policy speaks only through :func:`mamori.enforce.verdict.judge` on the ScanSet of
:func:`mamori.sources.docker_api.load_inspect`; nothing here judges a container itself.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from mamori.policy.config import Policy
from mamori.store.events import EventRecord

# The container lifecycle actions recorded by default (health_status arrives as "health_status: healthy").
LIFECYCLE = ("create", "start", "die", "stop", "kill", "pause", "unpause", "destroy", "oom", "health_status")
MAX_ATTRS = 64  # attributes kept per event (labels included)
MAX_ATTR_TEXT = 1024
MAX_ID = 128


class BadEvent(ValueError):
    """A message that is not a container event this module can record."""


def rfc3339_nano(time_nano: int) -> str:
    """``2026-11-26T14:10:22.222687664Z``: UTC, nanoseconds, fixed width."""
    secs, nanos = divmod(time_nano, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def parse_time(text: str) -> int:
    """An RFC 3339 time (``Z`` or an offset; a bare date is midnight UTC) or epoch seconds -> nanoseconds.

    Raises ValueError with a readable message.
    """
    s = text.strip()
    if not s or len(s) > 64:
        raise ValueError(f"{text[:64]!r} is not a time")
    try:
        if s.replace(".", "", 1).isdigit():
            whole, _, frac = s.partition(".")
            return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])
        frac_ns = 0
        head = s.replace("z", "Z")
        if "." in head:  # keep nanoseconds that datetime cannot hold
            base, _, rest = head.partition(".")
            digits = ""
            for ch in rest:
                if not ch.isdigit():
                    break
                digits += ch
            frac_ns = int((digits + "000000000")[:9]) if digits else 0
            head = base + rest[len(digits):]
        dt = datetime.fromisoformat(head.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp()) * 1_000_000_000 + frac_ns
    except (ValueError, OverflowError):
        raise ValueError(f"{text[:64]!r} is not an RFC 3339 time or epoch seconds "
                         "(e.g. 2026-01-31T12:00:00Z)") from None


def since_param(time_nano: int) -> str:
    """The ``since`` query value the daemon reads with nanoseconds (``seconds.nanoseconds``); inclusive."""
    secs, nanos = divmod(time_nano, 1_000_000_000)
    return f"{secs}.{nanos:09d}"


def _text(value: Any, limit: int = MAX_ATTR_TEXT) -> str:
    s = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return s[:limit]


def event_key(daemon: str, raw: dict[str, Any]) -> str:
    actor = raw.get("Actor") if isinstance(raw.get("Actor"), dict) else {}
    assert isinstance(actor, dict)
    ident = {"daemon": daemon, "timeNano": raw.get("timeNano"), "time": raw.get("time"), "Type": raw.get("Type"),
             "Action": raw.get("Action"), "id": actor.get("ID"), "attrs": actor.get("Attributes"),
             "scope": raw.get("scope")}
    canon = json.dumps(ident, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode()).hexdigest()


def time_nano_of(raw: dict[str, Any]) -> int:
    tn = raw.get("timeNano")
    if isinstance(tn, int) and not isinstance(tn, bool) and tn > 0:
        return tn
    t = raw.get("time")
    if isinstance(t, int) and not isinstance(t, bool) and t > 0:
        return t * 1_000_000_000
    raise BadEvent("event without time or timeNano")


def split_action(action: str) -> tuple[str, str | None]:
    """``health_status: healthy`` -> (``health_status``, ``healthy``)."""
    base, sep, rest = action.partition(":")
    return base.strip()[:32], (rest.strip()[:256] or None) if sep else None


def wanted(action: str, actions: tuple[str, ...]) -> bool:
    return split_action(action)[0] in actions


def record_of(raw: Any, daemon: str, daemon_name: str) -> EventRecord:
    """The stored form of one decoded event; raises :class:`BadEvent` for anything else."""
    if not isinstance(raw, dict):
        raise BadEvent("event is not a JSON object")
    if raw.get("Type", "container") != "container":
        raise BadEvent(f"not a container event: {_text(raw.get('Type'), 32)}")
    action = raw.get("Action") or raw.get("status")
    if not isinstance(action, str) or not action:
        raise BadEvent("event without Action")
    actor = raw.get("Actor") if isinstance(raw.get("Actor"), dict) else {}
    assert isinstance(actor, dict)
    cid = actor.get("ID") or raw.get("id")
    if not isinstance(cid, str) or not cid:
        raise BadEvent("event without a container id")
    attrs_in = actor.get("Attributes") if isinstance(actor.get("Attributes"), dict) else {}
    assert isinstance(attrs_in, dict)
    attrs = {_text(k, 256): _text(v) for k, v in sorted(attrs_in.items())[:MAX_ATTRS]}
    tn = time_nano_of(raw)
    base, detail = split_action(action)
    exit_code = _int(attrs.get("exitCode"))
    signal = attrs.get("signal")
    return EventRecord(
        key=event_key(daemon, raw), time=rfc3339_nano(tn), time_nano=tn, daemon=daemon[:MAX_ID],
        daemon_name=daemon_name[:256], action=base, detail=detail, container_id=cid[:MAX_ID],
        container_name=attrs.get("name", "")[:256] or None, image=(attrs.get("image") or raw.get("from") or None),
        exit_code=exit_code, signal=signal[:32] if signal else None, attributes=attrs)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def judge_inspect(inspect_doc: Any, policy: Policy) -> tuple[bool | None, tuple[str, ...], dict[str, Any]]:
    """(allowed, rule ids, detail) for a container as ``docker inspect`` shows it: the one decision point."""
    from mamori.enforce.verdict import judge
    from mamori.server.state import result_of, verdict_detail
    from mamori.sources.docker_api import load_inspect
    from mamori.sources.gojson import JsonError

    name = ""
    if isinstance(inspect_doc, dict) and isinstance(inspect_doc.get("Name"), str):
        name = inspect_doc["Name"].strip("/")[:256]
    try:
        scan = load_inspect(inspect_doc, file=f"docker:{name or 'container'}")
        verdict = judge(scan, policy)
    except JsonError as exc:
        return None, (), {"result": "error", "errors": [str(exc)[:MAX_ATTR_TEXT]], "findings": []}
    detail: dict[str, Any] = {"result": result_of(verdict), **verdict_detail(verdict)}
    detail["message"] = verdict.reason()
    return verdict.allowed, verdict.rule_ids, detail


def unjudged(reason: str) -> dict[str, Any]:
    """The verdict field when the container could not be inspected (removed before mamori looked)."""
    return {"result": "error", "errors": [reason[:MAX_ATTR_TEXT]], "findings": []}
