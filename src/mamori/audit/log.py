"""The append-only log over the store: gapless appends, checkpoints, proofs and queries.

An append locks the single ``audit_head`` row (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL:
``SELECT ... FOR UPDATE``), numbers the entries from the head's size, inserts them with their
leaf hashes and any completed 256-leaf tile, and stores the new frontier in the same
transaction. So sequence numbers have no gaps or duplicates whatever the number of writers,
and a returned append is committed (SQLite runs ``synchronous=FULL``).
"""

from __future__ import annotations

import secrets
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mamori.audit import merkle
from mamori.audit.entry import NewEntry, Stored, encode, utc_now
from mamori.audit.note import Checkpoint, Signer, sign_checkpoint
from mamori.store.audit import CHECKPOINTS, ENTRIES, HEAD, TILE_HEIGHT, TILES

TILE = 1 << TILE_HEIGHT
_PREPARED: weakref.WeakSet[Engine] = weakref.WeakSet()
MAX_QUERY = 100_000


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    id: int
    size: int
    root: bytes
    created: str
    note: str


@dataclass(frozen=True, slots=True)
class Head:
    origin: str
    size: int
    root: bytes


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred)


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("audit_write") else "BEGIN")


def prepare(engine: Engine) -> Engine:
    """Make SQLite write transactions take the write lock at BEGIN (no upgrade deadlocks)."""
    if engine.dialect.name == "sqlite" and engine not in _PREPARED:
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        _PREPARED.add(engine)
        engine.dispose()  # connections made before the listeners existed
    return engine


def open_log(url: str | None = None, origin: str | None = None) -> AuditLog:
    import mamori.store.audit  # noqa: F401 - registers the tables before create_all
    from mamori.store.db import open_db

    return AuditLog(open_db(url), origin)


class AuditLog:
    def __init__(self, engine: Engine, origin: str | None = None) -> None:
        self.engine = prepare(engine)
        self._lock = threading.Lock()  # one writer per process; the head row orders processes
        with self._write() as conn:
            row = conn.execute(select(HEAD.c.origin).where(HEAD.c.id == 1)).first()
        if row is None:
            try:
                with self._write() as conn:
                    conn.execute(insert(HEAD), {"id": 1, "size": 0, "frontier": b"",
                                                "origin": origin or f"mamori.audit/{secrets.token_hex(8)}"})
            except IntegrityError:
                pass  # another process created it first
        with self.engine.connect() as conn:
            self.origin: str = conn.execute(select(HEAD.c.origin).where(HEAD.c.id == 1)).scalar_one()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock, self.engine.connect() as conn:
            conn.execution_options(audit_write=True)
            with conn.begin():
                yield conn

    def _lock_head(self, conn: Connection) -> merkle.Frontier:
        row = conn.execute(select(HEAD.c.size, HEAD.c.frontier).where(HEAD.c.id == 1).with_for_update()).one()
        return merkle.Frontier.unpack(int(row.size), bytes(row.frontier))

    def append(self, entries: Sequence[NewEntry]) -> list[int]:
        """Store ``entries`` in order; returns their sequence numbers once committed."""
        if not entries:
            return []
        received = utc_now()
        with self._write() as conn:
            f = self._lock_head(conn)
            tiles: list[dict[str, Any]] = []
            f.on_node = lambda h, i, node: tiles.append({"idx": i, "hash": node}) if h == TILE_HEIGHT else None
            start = f.size
            rows = []
            for i, e in enumerate(entries):
                data, leaf = encode(e, start + i, received)
                f.append(leaf)
                rows.append({"seq": start + i, "leaf_hash": leaf, "time": e.time or received, "received": received,
                             "source": e.source, "type": e.type, "container": e.container, "image": e.image,
                             "data": data.decode()})
            conn.execute(insert(ENTRIES), rows)
            if tiles:
                conn.execute(insert(TILES), tiles)
            conn.execute(update(HEAD).where(HEAD.c.id == 1).values(size=f.size, frontier=f.packed()))
        return list(range(start, start + len(entries)))

    def head(self) -> Head:
        with self.engine.connect() as conn:
            row = conn.execute(select(HEAD.c.origin, HEAD.c.size, HEAD.c.frontier).where(HEAD.c.id == 1)).one()
        return Head(row.origin, int(row.size), merkle.Frontier.unpack(int(row.size), bytes(row.frontier)).root())

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint(self, signer: Signer, force: bool = False) -> StoredCheckpoint:
        """Sign the current tree head, unless the latest checkpoint already covers it."""
        with self._write() as conn:
            f = self._lock_head(conn)
            last = self._latest(conn)
            if last is not None and last.size == f.size and not force:
                return last
            cp = Checkpoint(self.origin, f.size, f.root())
            note = sign_checkpoint(cp, signer)
            created = utc_now()
            cid = conn.execute(insert(CHECKPOINTS).returning(CHECKPOINTS.c.id),
                               {"size": cp.size, "root": cp.root, "created": created, "note": note}).scalar_one()
        return StoredCheckpoint(int(cid), cp.size, cp.root, created, note)

    @staticmethod
    def _latest(conn: Connection) -> StoredCheckpoint | None:
        row = conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id.desc()).limit(1)).first()
        return None if row is None else StoredCheckpoint(int(row.id), int(row.size), bytes(row.root), row.created,
                                                         row.note)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.engine.connect() as conn:
            return self._latest(conn)

    def checkpoints(self) -> list[StoredCheckpoint]:
        with self.engine.connect() as conn:
            return [StoredCheckpoint(int(r.id), int(r.size), bytes(r.root), r.created, r.note)
                    for r in conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id))]

    # -- proofs ------------------------------------------------------------------------------
    def _mth(self, conn: Connection, size: int) -> merkle.Mth:
        def leaves(a: int, b: int) -> list[bytes]:
            rows = conn.execute(select(ENTRIES.c.seq, ENTRIES.c.leaf_hash).where(
                ENTRIES.c.seq >= a, ENTRIES.c.seq < b).order_by(ENTRIES.c.seq)).all()
            if len(rows) != b - a or any(int(r.seq) != a + i for i, r in enumerate(rows)):
                raise merkle.ProofError(f"entries {a}..{b - 1} are not all in the store (run `mamori log verify`)")
            return [bytes(r.leaf_hash) for r in rows]

        def tiles(a: int, b: int) -> list[bytes]:
            rows = conn.execute(select(TILES.c.hash).where(TILES.c.idx >= a, TILES.c.idx < b)
                                .order_by(TILES.c.idx)).all()
            if len(rows) != b - a:
                raise merkle.ProofError(f"tree tiles {a}..{b - 1} are missing from the store")
            return [bytes(r.hash) for r in rows]

        def mth(a: int, b: int) -> bytes:
            if not 0 <= a < b <= size:
                raise merkle.ProofError(f"range {a}..{b} outside the tree of size {size}")
            pieces = []
            while a < b:  # aligned perfect subtrees, largest first
                n = 1 << ((b - a).bit_length() - 1)
                while a % n:
                    n >>= 1
                if n >= TILE:
                    pieces.append(merkle.root_of(tiles(a // TILE, (a + n) // TILE)))
                else:
                    pieces.append(merkle.root_of(leaves(a, a + n)))
                a += n
            h = pieces[-1]
            for left in reversed(pieces[:-1]):
                h = merkle.node_hash(left, h)
            return h

        return mth

    def root_at(self, size: int) -> bytes:
        if size == 0:
            return merkle.EMPTY_ROOT
        with self.engine.connect() as conn:
            return self._mth(conn, size)(0, size)

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        self._within(size)
        with self.engine.connect() as conn:
            return merkle.inclusion_proof(seq, size, self._mth(conn, size))

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        self._within(new)
        with self.engine.connect() as conn:
            return merkle.consistency_proof(old, new, self._mth(conn, new))

    def _within(self, size: int) -> None:
        have = self.head().size
        if size > have:
            raise merkle.ProofError(f"the log has {have} entries, not {size}")

    # -- reading -----------------------------------------------------------------------------
    def entry(self, seq: int) -> Stored | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(ENTRIES.c.seq, ENTRIES.c.data, ENTRIES.c.leaf_hash)
                               .where(ENTRIES.c.seq == seq)).first()
        return None if row is None else Stored(int(row.seq), row.data.encode(), bytes(row.leaf_hash))

    def query(self, *, since: str | None = None, until: str | None = None, container: str | None = None,
              image: str | None = None, source: str | None = None, type: str | None = None,
              text: str | None = None, after: int | None = None, limit: int = 100,
              newest: bool = False) -> list[Stored]:
        """Entries matching every given filter, oldest first (``newest``: the last ``limit``)."""
        c = ENTRIES.c
        stmt = select(c.seq, c.data, c.leaf_hash)
        conds = []
        if since:
            conds.append(c.time >= since)
        if until:
            conds.append(c.time < until)
        for col, val in ((c.container, container), (c.image, image), (c.source, source), (c.type, type)):
            if val is not None:
                conds.append(col == val)
        if text:
            esc = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append(c.data.like(f"%{esc}%", escape="\\"))
        if after is not None:
            conds.append(c.seq > after)
        stmt = stmt.where(*conds).order_by(c.seq.desc() if newest else c.seq).limit(min(limit, MAX_QUERY))
        with self.engine.connect() as conn:
            rows = [Stored(int(r.seq), r.data.encode(), bytes(r.leaf_hash)) for r in conn.execute(stmt)]
        return rows[::-1] if newest else rows

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ENTRIES)).scalar_one())


class Checkpointer:
    """Signs a checkpoint every ``interval`` seconds when the log has grown (and once on close)."""

    def __init__(self, log: AuditLog, signer: Signer, interval: float) -> None:
        self.log, self.signer, self.interval = log, signer, interval
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mamori-audit-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import logging

        while not self._stop.wait(self.interval):
            try:
                if self.log.head().size:  # nothing to attest before the first entry
                    self.log.checkpoint(self.signer)
            except Exception as exc:  # noqa: BLE001 - keep trying; the next interval may succeed
                self.errors += 1
                logging.getLogger("mamori.audit").error("checkpoint failed: %s", exc)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if self.log.head().size:
                    self.log.checkpoint(self.signer)
                return
            except Exception:  # noqa: BLE001 - a locked database at shutdown: retry briefly
                time.sleep(0.2)
