"""Container lifecycle events as ``mamori watch`` saw them, and where each daemon's stream resumes.

An event is stored once: its ``key`` (a hash of the daemon id and the raw event) is unique,
and :func:`store_event` writes the event, its outbox rows and the daemon's resume cursor in
one transaction, so that a crash between them can neither lose a notification nor let a
replayed event (``since`` is inclusive, and several events share one ``timeNano``) count twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from mamori.store.db import METADATA, open_db
from mamori.store.decisions import utc_now

EVENTS = Table(
    "container_events", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),  # sha256 hex: the idempotency key receivers see
    Column("time", String(40), nullable=False, index=True),  # UTC RFC 3339 with nanoseconds, from timeNano
    Column("time_nano", BigInteger, nullable=False, index=True),
    Column("daemon", String(128), nullable=False),  # the daemon's ID from /info
    Column("daemon_name", String(256), nullable=False),
    Column("action", String(32), nullable=False, index=True),  # health_status, not "health_status: healthy"
    Column("detail", String(256)),  # the part after ": " (healthy, unhealthy)
    Column("container_id", String(128), nullable=False, index=True),
    Column("container_name", String(256), index=True),
    Column("image", String(512)),
    Column("exit_code", Integer),
    Column("signal", String(32)),
    Column("allowed", Boolean),  # the policy verdict, create events only
    Column("rules", Text, nullable=False),  # JSON list of rule ids (create events)
    Column("verdict", Text),  # JSON: allowed, denied/warned findings, errors; create events only
    Column("attributes", Text, nullable=False),  # JSON: the event's Actor.Attributes, bounded
    Column("recorded_at", String(40), nullable=False),
)

CURSORS = Table(
    "watch_cursors", METADATA,
    Column("daemon", String(128), primary_key=True),
    Column("time_nano", BigInteger, nullable=False),  # the last processed event; resume with since=this
    Column("key", String(64), nullable=False),
    Column("updated", String(40), nullable=False),
)


@dataclass(frozen=True, slots=True)
class EventRecord:
    key: str
    time: str
    time_nano: int
    daemon: str
    daemon_name: str
    action: str
    detail: str | None
    container_id: str
    container_name: str | None
    image: str | None
    exit_code: int | None
    signal: str | None
    attributes: dict[str, str]
    allowed: bool | None = None
    rules: tuple[str, ...] = ()
    verdict: dict[str, Any] | None = None
    recorded_at: str = field(default_factory=utc_now)

    def row(self) -> dict[str, Any]:
        return {
            "key": self.key, "time": self.time, "time_nano": self.time_nano, "daemon": self.daemon,
            "daemon_name": self.daemon_name, "action": self.action, "detail": self.detail,
            "container_id": self.container_id, "container_name": self.container_name, "image": self.image,
            "exit_code": self.exit_code, "signal": self.signal, "allowed": self.allowed,
            "rules": json.dumps(list(self.rules)),
            "verdict": None if self.verdict is None else json.dumps(self.verdict, sort_keys=True),
            "attributes": json.dumps(self.attributes, sort_keys=True), "recorded_at": self.recorded_at,
        }

    def public(self) -> dict[str, Any]:
        """The record as queries print it and webhooks receive it."""
        d = self.row()
        d["rules"] = list(self.rules)
        d["verdict"] = self.verdict
        d["attributes"] = self.attributes
        return d


def open_store(url: str | None = None) -> Engine:
    """:func:`open_db` with the watch tables registered (events, outbox, baselines, drift)."""
    import mamori.store.drift
    import mamori.store.outbox  # noqa: F401 - registers its tables on METADATA

    return open_db(url)


def known(conn: Connection, key: str) -> bool:
    return conn.execute(select(EVENTS.c.id).where(EVENTS.c.key == key)).first() is not None


def advance(conn: Connection, daemon: str, time_nano: int, key: str) -> None:
    """Move the daemon's cursor forward (never back: a ``--since`` replay must not rewind it)."""
    got = conn.execute(select(CURSORS.c.time_nano).where(CURSORS.c.daemon == daemon)).first()
    if got is None:
        conn.execute(insert(CURSORS), {"daemon": daemon, "time_nano": time_nano, "key": key, "updated": utc_now()})
    elif time_nano >= got[0]:
        conn.execute(update(CURSORS).where(CURSORS.c.daemon == daemon).values(
            time_nano=time_nano, key=key, updated=utc_now()))


def cursor(engine: Engine, daemon: str) -> int | None:
    """The ``timeNano`` of the last event stored from ``daemon``, None before the first."""
    with engine.connect() as conn:
        got = conn.execute(select(CURSORS.c.time_nano).where(CURSORS.c.daemon == daemon)).first()
    return None if got is None else int(got[0])


def store_event(engine: Engine, rec: EventRecord, outbox: Iterable[Mapping[str, Any]] = ()) -> bool:
    """Insert the event, its outbox rows and the cursor in one transaction; False when already stored."""
    from mamori.store.outbox import OUTBOX

    rows = list(outbox)
    try:
        with engine.begin() as conn:
            if known(conn, rec.key):
                advance(conn, rec.daemon, rec.time_nano, rec.key)
                return False
            conn.execute(insert(EVENTS), rec.row())
            if rows:
                conn.execute(insert(OUTBOX), rows)
            advance(conn, rec.daemon, rec.time_nano, rec.key)
    except IntegrityError:
        return False  # another writer stored the same key first; the unique constraint is the last word
    return True


def _decode(row: Any) -> dict[str, Any]:
    d = dict(row)
    d["rules"] = json.loads(d["rules"])
    d["verdict"] = json.loads(d["verdict"]) if d["verdict"] else None
    d["attributes"] = json.loads(d["attributes"])
    return d


def query(engine: Engine, *, container: str | None = None, action: str | None = None, since_nano: int | None = None,
          daemon: str | None = None, denied: bool = False, limit: int = 100, oldest_first: bool = False,
          ) -> Iterator[dict[str, Any]]:
    """Stored events, newest first unless ``oldest_first``; ``container`` matches a name or an id prefix."""
    order = (EVENTS.c.time_nano.asc(), EVENTS.c.id.asc()) if oldest_first else (
        EVENTS.c.time_nano.desc(), EVENTS.c.id.desc())
    stmt = select(EVENTS).order_by(*order).limit(limit)
    if container:
        name = container.lstrip("/")
        stmt = stmt.where((EVENTS.c.container_name == name) | EVENTS.c.container_id.startswith(name, autoescape=True))
    if action:
        stmt = stmt.where(EVENTS.c.action == action)
    if since_nano is not None:
        stmt = stmt.where(EVENTS.c.time_nano >= since_nano)
    if daemon:
        stmt = stmt.where(EVENTS.c.daemon == daemon)
    if denied:
        stmt = stmt.where(EVENTS.c.allowed.is_(False))
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            yield _decode(row._mapping)
