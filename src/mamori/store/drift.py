"""Container baselines (what a container looked like when it started) and the drift found against them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import Boolean, Column, Engine, Integer, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.store.db import METADATA
from mamori.store.decisions import utc_now

BASELINES = Table(
    "baselines", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("container_id", String(128), nullable=False, unique=True),
    Column("container_name", String(256), index=True),
    Column("daemon", String(128), nullable=False),
    Column("time", String(40), nullable=False),  # when the baseline was taken (UTC RFC 3339)
    Column("data", Text, nullable=False),  # JSON: image, config (normalised model) and its hash, processes, paths
)

DRIFT = Table(
    "drift_reports", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("time", String(40), nullable=False, index=True),
    Column("daemon", String(128), nullable=False),
    Column("container_id", String(128), nullable=False, index=True),
    Column("container_name", String(256), index=True),
    Column("source", String(16), nullable=False),  # watch (periodic) or cli (mamori drift)
    Column("fingerprint", String(64), nullable=False),  # hash of the findings: same drift, same fingerprint
    Column("clean", Boolean, nullable=False),
    Column("report", Text, nullable=False),  # JSON
)


def save_baseline(engine: Engine, container_id: str, name: str | None, daemon: str, data: dict[str, Any]) -> None:
    row = {"container_id": container_id, "container_name": name, "daemon": daemon, "time": utc_now(),
           "data": json.dumps(data, sort_keys=True)}
    with engine.begin() as conn:
        got = conn.execute(select(BASELINES.c.id).where(BASELINES.c.container_id == container_id)).first()
        if got is None:
            conn.execute(insert(BASELINES), row)
        else:
            conn.execute(update(BASELINES).where(BASELINES.c.id == got[0]).values(row))


def baseline(engine: Engine, container_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        got = conn.execute(select(BASELINES).where(BASELINES.c.container_id == container_id)).first()
    if got is None:
        return None
    d = dict(got._mapping)
    d["data"] = json.loads(d["data"])
    return d


def last_fingerprint(engine: Engine, container_id: str, source: str) -> str | None:
    with engine.connect() as conn:
        got = conn.execute(select(DRIFT.c.fingerprint).where(DRIFT.c.container_id == container_id,
                                                             DRIFT.c.source == source)
                           .order_by(DRIFT.c.id.desc()).limit(1)).first()
    return None if got is None else str(got[0])


def store_report(engine: Engine, row: Mapping[str, Any], outbox: Iterable[Mapping[str, Any]] = ()) -> bool:
    """The report and its outbox rows in one transaction; False when its key is stored already."""
    from mamori.store.outbox import OUTBOX

    rows = list(outbox)
    try:
        with engine.begin() as conn:
            conn.execute(insert(DRIFT), dict(row))
            if rows:
                conn.execute(insert(OUTBOX), rows)
    except IntegrityError:
        return False
    return True


def query(engine: Engine, *, container: str | None = None, limit: int = 100) -> Iterator[dict[str, Any]]:
    stmt = select(DRIFT).order_by(DRIFT.c.id.desc()).limit(limit)
    if container:
        name = container.lstrip("/")
        stmt = stmt.where((DRIFT.c.container_name == name) | DRIFT.c.container_id.startswith(name, autoescape=True))
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            d = dict(row._mapping)
            d["report"] = json.loads(d["report"])
            yield d
