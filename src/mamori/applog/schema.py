"""The one event schema of ``mamori.applog``: an ECS document inside a collector entry.

Each event is sent to ``POST /v1/logs`` as ``{"type": "applog.<kind>", "time": <@timestamp>,
"payload": <ECS document>}``; the collector adds its receive time and the authenticated source.
The ECS document uses ECS (Elastic Common Schema) field names - ``event.kind/category/type/
outcome/action/reason/id``, ``user.*``, ``source.ip``, ``url.*``, ``http.*``, ``user_agent``,
``trace.id``, ``service.*``, ``host.hostname``, ``error.*``, ``log.*`` - so a SIEM reads it
without a mapping; fields ECS has no name for live under ``mamori.*`` (ECS custom-field
guidance). docs/applog.md has the full table.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

from mamori.applog.redact import redact_value

ECS_VERSION = "9.3.0"
SCHEMA = 1  # mamori.applog.schema: bumped on an incompatible change of this mapping
MAX_EVENT = 48 * 1024  # canonical JSON bytes of one payload; the collector takes 64 KiB per entry
MAX_STRING = 4096
MAX_MESSAGE = 8192
MAX_STACK = 16 * 1024

Outcome = Literal["success", "failure", "unknown"]
ActionType = Literal["access", "change", "creation", "deletion", "info", "start", "end", "admin", "user"]
_OUTCOMES = ("success", "failure", "unknown")
_ACTION_TYPES = ("access", "change", "creation", "deletion", "info", "start", "end", "admin", "user")
_CORRELATION: ContextVar[str | None] = ContextVar("mamori_applog_correlation", default=None)
_CORRELATION_CHARS = re.compile(r"[^A-Za-z0-9._:/+=@-]")
_HOST = socket.gethostname()[:255]


class Common(TypedDict, total=False):
    """Request context every event kind accepts (all optional)."""

    user: str
    user_id: str
    user_email: str
    roles: list[str]
    source_ip: str
    user_agent: str
    url: str
    http_method: str
    status_code: int
    message: str
    correlation_id: str
    labels: dict[str, str]
    extra: dict[str, Any]


def rfc3339(t: datetime) -> str:
    """UTC with microseconds and ``Z`` - the same fixed-width form the collector stores."""
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def now() -> str:
    return rfc3339(datetime.now(UTC))


def clean_correlation(value: str | None) -> str | None:
    """A correlation id from an untrusted header: printable id characters only, at most 128."""
    if value is None:
        return None
    cleaned = _CORRELATION_CHARS.sub("", str(value))[:128]
    return cleaned or None


@contextmanager
def correlation(correlation_id: str | None = None) -> Iterator[str]:
    """Every event emitted inside carries ``trace.id`` = this id (a new random one when None).

    A :class:`contextvars.ContextVar`, so it follows threads' own contexts and asyncio tasks.
    """
    cid = clean_correlation(correlation_id) or uuid.uuid4().hex
    token = _CORRELATION.set(cid)
    try:
        yield cid
    finally:
        _CORRELATION.reset(token)


def current_correlation() -> str | None:
    return _CORRELATION.get()


def _cut(value: object, limit: int = MAX_STRING) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…[truncated]"


def _put(doc: dict[str, Any], dotted: str, value: object) -> None:
    if value is None or value == "" or value == [] or value == {}:
        return
    *path, last = dotted.split(".")
    node = doc
    for part in path:
        node = node.setdefault(part, {})
    node[last] = value


class Service(TypedDict, total=False):
    name: str
    version: str
    environment: str


def build(kind: str, service: Service, *, category: list[str], types: list[str], outcome: str, action: str | None,
          reason: str | None = None, level: str = "info", resource: str | None = None,
          target_user: str | None = None, error: BaseException | str | None = None, logger: str | None = None,
          auth_method: str | None = None, common: Common | None = None, at: str | None = None) -> dict[str, Any]:
    """A collector entry for one event; every caller-supplied value is redacted and size-bounded."""
    if outcome not in _OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(_OUTCOMES)}, not {outcome!r}")
    c: Common = common or {}
    ts = at or now()
    event_id = uuid.uuid4().hex
    doc: dict[str, Any] = {"@timestamp": ts, "ecs": {"version": ECS_VERSION}}
    _put(doc, "event.id", event_id)
    _put(doc, "event.kind", "event")
    _put(doc, "event.category", category)
    _put(doc, "event.type", types)
    _put(doc, "event.outcome", outcome)
    _put(doc, "event.created", ts)
    _put(doc, "event.dataset", "applog.audit")
    _put(doc, "mamori.applog.schema", SCHEMA)
    _put(doc, "service.name", service.get("name"))  # configuration, not request data: not redacted
    _put(doc, "service.version", service.get("version"))
    _put(doc, "service.environment", service.get("environment"))
    _put(doc, "host.hostname", _HOST)
    _put(doc, "process.pid", os.getpid())
    _put(doc, "log.level", level)
    # everything below comes from the application: redacted before it is stored or spooled
    given: dict[str, Any] = {}
    _put(given, "event.action", _cut(action, 256) if action else None)
    _put(given, "event.reason", _cut(reason) if reason else None)
    _put(given, "log.logger", _cut(logger, 256) if logger else None)
    _put(given, "user.name", _cut(c["user"], 256) if c.get("user") else None)
    _put(given, "user.id", _cut(c["user_id"], 256) if c.get("user_id") else None)
    _put(given, "user.email", _cut(c["user_email"], 256) if c.get("user_email") else None)
    roles: Any = c.get("roles") or []
    _put(given, "user.roles", [_cut(r, 128) for r in ([roles] if isinstance(roles, str) else list(roles))[:64]])
    _put(given, "user.target.name", _cut(target_user, 256) if target_user else None)
    if c.get("source_ip"):
        _source(given, _cut(c["source_ip"], 256))
    _put(given, "user_agent.original", _cut(c["user_agent"], 1024) if c.get("user_agent") else None)
    if c.get("url"):
        _url(given, _cut(c["url"], 2048))
    _put(given, "http.request.method", _cut(c["http_method"], 16).upper() if c.get("http_method") else None)
    _put(given, "http.response.status_code", _status(c.get("status_code")))
    _put(given, "message", _cut(c["message"], MAX_MESSAGE) if c.get("message") else None)
    _put(given, "trace.id", clean_correlation(c.get("correlation_id")) or current_correlation())
    labels: Any = c.get("labels")
    if isinstance(labels, dict):
        _put(given, "labels", {_cut(k, 64): _cut(v, 256) for k, v in list(labels.items())[:32]})
    _put(given, "mamori.resource", _cut(resource, 1024) if resource else None)
    _put(given, "mamori.auth_method", _cut(auth_method, 64) if auth_method else None)
    _put(given, "mamori.extra", c.get("extra") or None)
    if error is not None:
        _error(given, error)
    doc = _bound(_merge(doc, redact_value(given)))
    return {"type": f"applog.{kind}", "time": ts, "payload": doc}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _source(doc: dict[str, Any], value: str) -> None:
    """``source.ip`` only for an IP address (ECS type ip); anything else (a proxy chain, "unknown")
    goes to ``source.address`` so the event is not refused by an index mapping."""
    try:
        _put(doc, "source.ip", str(ipaddress.ip_address(value.strip().strip("[]"))))
    except ValueError:
        _put(doc, "source.address", value)


def _status(value: object) -> int | None:
    try:
        code = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return code if 100 <= code <= 999 else None


def _url(doc: dict[str, Any], url: str) -> None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        _put(doc, "url.original", url)
        return
    if parts.password:  # never keep a URL password, not even redacted text of it
        netloc = parts.netloc.rsplit("@", 1)[1]
        url = parts._replace(netloc=f"{parts.username}:[REDACTED]@{netloc}").geturl()
    _put(doc, "url.original", url)
    _put(doc, "url.path", parts.path or None)
    _put(doc, "url.query", parts.query or None)
    _put(doc, "url.domain", parts.hostname)


def _error(doc: dict[str, Any], error: BaseException | str) -> None:
    if isinstance(error, BaseException):
        _put(doc, "error.type", f"{type(error).__module__}.{type(error).__qualname__}".removeprefix("builtins."))
        _put(doc, "error.message", _cut(str(error), MAX_MESSAGE))
        if error.__traceback__ is not None:
            stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            _put(doc, "error.stack_trace", stack[-MAX_STACK:])
    else:
        _put(doc, "error.message", _cut(error, MAX_MESSAGE))


def size(doc: object) -> int:
    return len(json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def _bound(doc: dict[str, Any]) -> dict[str, Any]:
    """Shrink an over-large event in a fixed order (extra, stack, message) instead of losing it."""
    if size(doc) <= MAX_EVENT:
        return doc
    mam = doc.get("mamori", {})
    if "extra" in mam:
        mam["extra"] = "[dropped: the event exceeded its size limit]"
    err = doc.get("error", {})
    if size(doc) > MAX_EVENT and "stack_trace" in err:
        err["stack_trace"] = err["stack_trace"][-2048:]
    if size(doc) > MAX_EVENT and "message" in doc:
        doc["message"] = doc["message"][:1024] + "…[truncated]"
    if size(doc) > MAX_EVENT:  # still too large: only the fixed fields survive
        fixed = ("@timestamp", "ecs", "event", "service", "trace", "user")
        keep: dict[str, Any] = {k: doc[k] for k in fixed if k in doc}
        keep["mamori"] = {"applog": {"schema": SCHEMA}, "truncated": True}
        if size(keep) > MAX_EVENT:
            keep = {k: doc[k] for k in ("@timestamp", "ecs") if k in doc}
        return keep
    doc.setdefault("mamori", {})["truncated"] = True
    return doc


def action_types(value: str) -> list[str]:
    if value not in _ACTION_TYPES:
        raise ValueError(f"type must be one of {', '.join(_ACTION_TYPES)}, not {value!r}")
    return [value]


def json_line(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False, default=str).encode() + b"\n"
