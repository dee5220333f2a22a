"""Every enforcement decision, allowed or denied: who asked, for what, and which rules spoke.

Recording happens off the request path: adapters hand a :class:`DecisionRecord` to a
:class:`DecisionRecorder`, whose writer thread inserts in batches, so a slow disk does not
add latency to admission. ``flush()`` waits until everything handed over is stored.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Column, Engine, Float, Integer, String, Table, Text, insert, select

from mamori.store.db import METADATA

log = logging.getLogger("mamori.store")

DECISIONS = Table(
    "decisions", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", String(40), nullable=False, index=True),  # UTC RFC 3339, microseconds
    Column("adapter", String(32), nullable=False),  # admission-validate, admission-mutate, docker-authz, cli
    Column("request_id", String(128), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("namespace", String(253)),
    Column("user", String(512)),
    Column("allowed", Boolean, nullable=False),
    Column("result", String(16), nullable=False),  # allowed, warned, denied, error
    Column("rules", Text, nullable=False),  # JSON list of rule ids
    Column("message", Text, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("detail", Text, nullable=False),  # JSON: findings (rule, field, mode), errors
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    adapter: str
    request_id: str
    operation: str
    subject: str
    allowed: bool
    result: str
    rules: tuple[str, ...]
    message: str
    namespace: str | None = None
    user: str | None = None
    dry_run: bool = False
    latency_ms: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    time: str = field(default_factory=utc_now)

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        d["rules"] = json.dumps(list(self.rules))
        d["detail"] = json.dumps(self.detail, sort_keys=True)
        return d


class DecisionRecorder:
    """Queues records and writes them in batches on one thread; bounded so memory cannot grow unchecked."""

    def __init__(self, engine: Engine, max_pending: int = 100_000, linger: float = 0.05) -> None:
        self.engine = engine
        self.linger = linger
        self.queue: queue.Queue[DecisionRecord | None] = queue.Queue(max_pending)
        self.dropped = 0
        self.written = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="mamori-decisions", daemon=True)
        self._thread.start()

    def record(self, rec: DecisionRecord) -> None:
        try:
            self.queue.put_nowait(rec)
        except queue.Full:
            self.dropped += 1  # counted and exported as a metric; admission itself is not slowed

    def _run(self) -> None:
        while True:
            items = [self.queue.get()]
            # Gather for a moment: one commit (and fsync) per batch, not per decision.
            deadline = time.monotonic() + self.linger
            while len(items) < 500 and items[-1] is not None:
                wait = deadline - time.monotonic()
                try:
                    items.append(self.queue.get(timeout=wait) if wait > 0 else self.queue.get_nowait())
                except queue.Empty:
                    break
            batch = [i for i in items if i is not None]
            if batch:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(insert(DECISIONS), [r.row() for r in batch])
                    self.written += len(batch)
                except Exception as exc:  # noqa: BLE001 - keep serving; the failure is counted and logged
                    self.failed += len(batch)
                    log.error("could not store %d decision records: %s", len(batch), exc)
            for _ in items:
                self.queue.task_done()
            if len(batch) != len(items):
                return

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def flush(self) -> None:
        self.queue.join()

    def close(self) -> None:
        self.queue.put(None)
        self._thread.join(timeout=30)


def query(engine: Engine, *, limit: int = 100, denied_only: bool = False, adapter: str | None = None,
          since: str | None = None) -> Iterator[dict[str, Any]]:
    """Stored decisions, newest first."""
    stmt = select(DECISIONS).order_by(DECISIONS.c.id.desc()).limit(limit)
    if denied_only:
        stmt = stmt.where(DECISIONS.c.allowed.is_(False))
    if adapter:
        stmt = stmt.where(DECISIONS.c.adapter == adapter)
    if since:
        stmt = stmt.where(DECISIONS.c.time >= since)
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            d = dict(row._mapping)
            d["rules"] = json.loads(d["rules"])
            d["detail"] = json.loads(d["detail"])
            yield d
