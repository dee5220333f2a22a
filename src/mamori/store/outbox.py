"""The durable outbox: one row per (record, webhook) until the receiver acknowledged it.

Rows are written in the same transaction as the record they announce, so a notification
exists exactly when its record does. The body is fixed at that moment: every retry sends the
same bytes, the same signature and the same ``X-Mamori-Event-Id``, which receivers use as an
idempotency key (delivery is at-least-once: a receiver that answered too late gets it again).
A row is ``pending`` until a 2xx answer (``delivered``) or until its attempts or its age run
out (``dead``, kept for ``mamori notifications --dead``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Engine, Float, Integer, String, Table, Text, UniqueConstraint, func, select, update

from mamori.store.db import METADATA
from mamori.store.decisions import utc_now

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
MAX_ERROR = 500

OUTBOX = Table(
    "outbox", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, index=True),  # the record's key: X-Mamori-Event-Id
    Column("kind", String(16), nullable=False),  # event, drift
    Column("webhook", String(2048), nullable=False),
    Column("body", Text, nullable=False),  # the exact bytes (UTF-8) that are signed and sent
    Column("created", String(40), nullable=False),  # X-Mamori-Timestamp, also in the body
    Column("created_epoch", Float, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("next_at", Float, nullable=False, index=True),  # epoch seconds of the next attempt
    Column("last_error", Text),
    Column("last_status", Integer),
    Column("done_at", String(40)),  # delivered or declared dead
    UniqueConstraint("key", "webhook", name="outbox_key_webhook"),
)


def body_of(key: str, kind: str, created: str, record: dict[str, Any]) -> str:
    """The notification document; compact and key-sorted so that the stored text is what is signed."""
    return json.dumps({"id": key, "kind": kind, "created": created, "source": "mamori", kind: record},
                      sort_keys=True, separators=(",", ":"))


def rows_for(key: str, kind: str, record: dict[str, Any], webhooks: tuple[str, ...]) -> list[dict[str, Any]]:
    """Outbox rows announcing one record to each webhook (insert them with the record)."""
    created = utc_now()
    now = time.time()
    body = body_of(key, kind, created, record)
    return [{"key": key, "kind": kind, "webhook": url, "body": body, "created": created, "created_epoch": now,
             "status": PENDING, "attempts": 0, "next_at": now} for url in webhooks]


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    key: str
    webhook: str
    body: str
    created: str
    created_epoch: float
    attempts: int


def due(engine: Engine, webhook: str, now: float, limit: int = 100) -> list[Pending]:
    """Pending rows of ``webhook`` whose time has come, oldest first."""
    stmt = (select(OUTBOX.c.id, OUTBOX.c.key, OUTBOX.c.webhook, OUTBOX.c.body, OUTBOX.c.created,
                   OUTBOX.c.created_epoch, OUTBOX.c.attempts)
            .where(OUTBOX.c.webhook == webhook, OUTBOX.c.status == PENDING, OUTBOX.c.next_at <= now)
            .order_by(OUTBOX.c.id).limit(limit))
    with engine.connect() as conn:
        return [Pending(*row) for row in conn.execute(stmt)]


def next_due(engine: Engine, webhook: str) -> float | None:
    """When the earliest pending row of ``webhook`` is due (epoch seconds), None when nothing is pending."""
    with engine.connect() as conn:
        got = conn.execute(select(func.min(OUTBOX.c.next_at)).where(
            OUTBOX.c.webhook == webhook, OUTBOX.c.status == PENDING)).scalar()
    return None if got is None else float(got)


def delivered(engine: Engine, row_id: int, status: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id).values(
            status=DELIVERED, attempts=OUTBOX.c.attempts + 1, last_status=status, last_error=None, done_at=utc_now()))


def failed(engine: Engine, row_id: int, error: str, status: int | None, next_at: float | None) -> None:
    """One failed attempt; ``next_at`` None declares the row dead."""
    values: dict[str, Any] = {"attempts": OUTBOX.c.attempts + 1, "last_error": error[:MAX_ERROR],
                              "last_status": status}
    if next_at is None:
        values |= {"status": DEAD, "done_at": utc_now()}
    else:
        values["next_at"] = next_at
    with engine.begin() as conn:
        conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id).values(values))


def expire(engine: Engine, row_id: int, reason: str) -> None:
    """Dead without another attempt (too old)."""
    with engine.begin() as conn:
        conn.execute(update(OUTBOX).where(OUTBOX.c.id == row_id).values(
            status=DEAD, last_error=reason[:MAX_ERROR], done_at=utc_now()))


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {str(s): int(n) for s, n in conn.execute(
            select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status))}


def query(engine: Engine, *, status: str | None = None, webhook: str | None = None, limit: int = 100,
          with_body: bool = False) -> Iterator[dict[str, Any]]:
    """Outbox rows, newest first (the body only when asked: it can be large)."""
    cols = [c for c in OUTBOX.c if with_body or c.name != "body"]
    stmt = select(*cols).order_by(OUTBOX.c.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(OUTBOX.c.status == status)
    if webhook:
        stmt = stmt.where(OUTBOX.c.webhook == webhook)
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            yield dict(row._mapping)


def requeue(engine: Engine, webhook: str | None = None) -> int:
    """Dead letters back to pending with fresh attempts (after fixing the receiver); returns how many."""
    stmt = update(OUTBOX).where(OUTBOX.c.status == DEAD)
    if webhook:
        stmt = stmt.where(OUTBOX.c.webhook == webhook)
    with engine.begin() as conn:
        now = time.time()
        res = conn.execute(stmt.values(status=PENDING, attempts=0, next_at=now, created_epoch=now, done_at=None))
    return int(res.rowcount or 0)
