"""Open the store: SQLite under ``$MAMORI_HOME`` by default, any SQLAlchemy URL with ``--db``.

SQLite runs in WAL mode with ``synchronous=FULL`` so that an acknowledged write survives a
crash; PostgreSQL (``postgresql://...``, driver psycopg) serves several replicas.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event

METADATA = MetaData()


def home() -> Path:
    """``$MAMORI_HOME``, default ``~/.local/share/mamori``; created private (0700)."""
    path = Path(os.environ.get("MAMORI_HOME") or Path.home() / ".local" / "share" / "mamori")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def default_url() -> str:
    return f"sqlite:///{home() / 'mamori.db'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def open_db(url: str | None = None) -> Engine:
    """An engine with every mamori table created; ``url`` None means the embedded default."""
    url = url or default_url()
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    import mamori.store.decisions  # noqa: F401 - registers its tables on METADATA

    METADATA.create_all(engine)
    return engine
