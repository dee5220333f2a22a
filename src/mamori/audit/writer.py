"""Group commit: many concurrent requests share one transaction (one fsync), each learns its own seqs.

The collector hands each validated batch to :meth:`GroupWriter.submit` and answers only when
the returned future resolves, i.e. after the commit: an acknowledged entry is durable. The
queue is bounded in entries, so a slow disk turns into back-pressure instead of memory growth.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future

from mamori.audit.entry import NewEntry
from mamori.audit.log import AuditLog

log = logging.getLogger("mamori.audit")


class Busy(RuntimeError):
    """The write queue is full; the caller should retry later (HTTP 503 with Retry-After)."""


class GroupWriter:
    def __init__(self, audit: AuditLog, max_pending: int = 200_000, max_batch: int = 20_000) -> None:
        self.audit = audit
        self.max_pending, self.max_batch = max_pending, max_batch
        self.pending = 0
        self.written = 0
        self.failed = 0
        self._q: deque[tuple[Sequence[NewEntry], Future[list[int]]]] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="mamori-audit-writer", daemon=True)
        self._thread.start()

    def submit(self, entries: Sequence[NewEntry]) -> Future[list[int]]:
        fut: Future[list[int]] = Future()
        with self._cv:
            if self._closed:
                raise Busy("the audit log is shutting down")
            if self.pending + len(entries) > self.max_pending:
                raise Busy(f"{self.pending} entries are waiting to be written")
            self.pending += len(entries)
            self._q.append((entries, fut))
            self._cv.notify()
        return fut

    def _take(self) -> list[tuple[Sequence[NewEntry], Future[list[int]]]]:
        with self._cv:
            while not self._q and not self._closed:
                self._cv.wait()
            batch: list[tuple[Sequence[NewEntry], Future[list[int]]]] = []
            n = 0
            while self._q and (not batch or n + len(self._q[0][0]) <= self.max_batch):
                item = self._q.popleft()
                n += len(item[0])
                batch.append(item)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            flat = [e for entries, _ in batch for e in entries]
            try:
                seqs = self.audit.append(flat)
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the error, none an ack
                self.failed += len(flat)
                log.error("could not store %d audit entries: %s", len(flat), exc)
                for _, fut in batch:
                    fut.set_exception(exc)
            else:
                self.written += len(flat)
                i = 0
                for entries, fut in batch:
                    fut.set_result(seqs[i:i + len(entries)])
                    i += len(entries)
            with self._cv:
                self.pending -= len(flat)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=30)
