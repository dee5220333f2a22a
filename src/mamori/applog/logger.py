"""``AuditLogger``: emit audit events from the request path, deliver them from a background thread.

The calling thread only builds and redacts the event and puts one line on a bounded queue
(``put_nowait`` by default, or a wait of at most ``enqueue_timeout``) - it never waits for the
network. The sender thread posts batches to the collector; when the collector is unreachable
or pushes back (429/503 with Retry-After, honoured) the events go to the spool (a size-capped
JSON-lines directory on disk, or memory) and are replayed, oldest first, once it answers
again. An event that cannot be kept (queue full, spool full, refused by the collector) is
counted, passed to ``on_drop(count, reason)`` and reported again as a warning at ``close()``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

from mamori.applog import schema
from mamori.applog.schema import ActionType, Common, Outcome, Service
from mamori.applog.spool import DiskSpool, MemorySpool, Spool, open_slot
from mamori.applog.transport import Answer, ConfigError, Transport
from mamori.applog.transport import Outcome as Sent

log = logging.getLogger("mamori.applog")

ENV_COLLECTOR = "MAMORI_AUDIT_COLLECTOR"
ENV_TOKEN = "MAMORI_AUDIT_TOKEN"
ENV_TOKEN_FILE = "MAMORI_AUDIT_TOKEN_FILE"
ENV_CA = "MAMORI_AUDIT_CA"
ENV_SPOOL = "MAMORI_AUDIT_SPOOL"
MAX_TOKEN_FILE = 4096


@dataclass(frozen=True, slots=True)
class Stats:
    """Counters since the logger started; ``pending`` is accepted but not yet acknowledged."""

    accepted: int
    sent: int
    replayed: int
    spooled: int
    dropped: int
    dropped_by_reason: tuple[tuple[str, int], ...]
    pending: int
    spool_events: int
    spool_bytes: int
    last_error: str | None


def _token(token: str | None, token_file: str | None) -> str | None:
    if token:
        return token
    path = token_file or os.environ.get(ENV_TOKEN_FILE)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read(MAX_TOKEN_FILE + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read the collector token file {path}: {exc.strerror}") from None
        if len(text) > MAX_TOKEN_FILE:
            raise ConfigError(f"collector token file {path} is larger than {MAX_TOKEN_FILE} bytes")
        return text.strip()
    return os.environ.get(ENV_TOKEN) or None


def _uid() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else "user"


class AuditLogger:
    """Audit events of one service: authentication, authorisation, actions, failures."""

    def __init__(self, service: str, collector: str | None = None, token: str | None = None, *,
                 ca: str | None = None, cert: tuple[str, str] | None = None, token_file: str | None = None,
                 version: str | None = None, environment: str | None = None,
                 spool: str | Path | bool | None = None, spool_max_bytes: int = 64 * 1024 * 1024,
                 queue_size: int = 10_000, enqueue_timeout: float = 0.0, batch_size: int = 500,
                 batch_bytes: int = 512 * 1024, timeout: float = 5.0, max_backoff: float = 30.0,
                 on_drop: Callable[[int, str], None] | None = None) -> None:
        if not service or not service.isprintable() or len(service) > 256:
            raise ConfigError("service: a printable name of 1-256 characters")
        url = collector or os.environ.get(ENV_COLLECTOR)
        if not url:
            raise ConfigError(f"no collector URL: pass collector= or set {ENV_COLLECTOR}")
        self.service: Service = {"name": service}
        if version:
            self.service["version"] = version
        if environment:
            self.service["environment"] = environment
        self._transport = Transport(url, _token(token, token_file), ca=ca or os.environ.get(ENV_CA) or None,
                                    cert=cert, timeout=timeout)
        self._spool: Spool = self._open_spool(service, spool, spool_max_bytes)
        self._queue: queue.Queue[bytes] = queue.Queue(max(1, queue_size))
        self._enqueue_timeout = max(0.0, enqueue_timeout)
        self._batch_size = max(1, min(batch_size, 10_000))
        self._batch_bytes = max(64 * 1024, min(batch_bytes, 1000 * 1024))
        self._max_backoff = max(0.05, max_backoff)
        self._on_drop = on_drop
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._counts = {"accepted": 0, "sent": 0, "replayed": 0, "spooled": 0, "dropped": 0}
        self._reasons: dict[str, int] = {}
        self._pending = len(self._spool)  # a previous run's events count until delivered
        self._last_error: str | None = None
        self._failures = 0
        self._soft_until = 0.0  # backoff after errors: flush() may cut it short
        self._hard_until = 0.0  # the collector's Retry-After: always honoured
        self._isolate = 0  # after a rejected batch: send this many one by one to find the bad one
        self._offline = False
        self._thread = threading.Thread(target=self._run, name=f"mamori-applog-{service}"[:64], daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    @staticmethod
    def _open_spool(service: str, spool: str | Path | bool | None, max_bytes: int) -> Spool:
        if spool is False:
            return MemorySpool(max_bytes)
        base = Path(spool) if isinstance(spool, str | Path) else Path(
            os.environ.get(ENV_SPOOL) or Path(tempfile.gettempdir()) / f"mamori-applog-{_uid()}")
        return open_slot(base, service, max_bytes)

    @property
    def spool_dir(self) -> Path | None:
        return self._spool.dir if isinstance(self._spool, DiskSpool) else None

    # -- events --------------------------------------------------------------------------------
    def authentication(self, *, outcome: Outcome = "success", action: str = "login", reason: str | None = None,
                       method: str | None = None, **common: Unpack[Common]) -> str:
        """A login, logout or credential check (ECS ``event.category: authentication``)."""
        types = {"login": ["start"], "logout": ["end"]}.get(action, ["info"])
        return self._emit(schema.build("authentication", self.service, category=["authentication"], types=types,
                                       outcome=outcome, action=action, reason=reason, auth_method=method,
                                       level="warning" if outcome == "failure" else "info", common=common))

    def authorization(self, *, action: str, allowed: bool, resource: str | None = None, reason: str | None = None,
                      **common: Unpack[Common]) -> str:
        """An access decision: who may do ``action`` on ``resource`` (ECS ``event.type: allowed/denied``)."""
        return self._emit(schema.build("authorization", self.service, category=["api"],
                                       types=["allowed" if allowed else "denied"],
                                       outcome="success" if allowed else "failure", action=action, reason=reason,
                                       resource=resource, level="info" if allowed else "warning", common=common))

    def action(self, action: str, *, resource: str | None = None, type: ActionType = "change",
               outcome: Outcome = "success", target_user: str | None = None, reason: str | None = None,
               **common: Unpack[Common]) -> str:
        """A security-relevant action: data changed, exported or deleted, a user or role managed."""
        return self._emit(schema.build("action", self.service, category=["api"], types=schema.action_types(type),
                                       outcome=outcome, action=action, reason=reason, resource=resource,
                                       target_user=target_user,
                                       level="warning" if outcome == "failure" else "info", common=common))

    def failure(self, error: BaseException | str, *, action: str | None = None, reason: str | None = None,
                **common: Unpack[Common]) -> str:
        """An error or exception (ECS ``error.*``; ``event.type: error``)."""
        web = bool(common.get("url") or common.get("http_method"))
        return self._emit(schema.build("failure", self.service, category=["web"] if web else [], types=["error"],
                                       outcome="failure", action=action, reason=reason, error=error, level="error",
                                       common=common))

    def record(self, level: str, *, logger: str | None = None, error: BaseException | None = None,
               outcome: Outcome = "unknown", **common: Unpack[Common]) -> str:
        """A plain log record (the :class:`logging.Handler` bridge), in the same schema."""
        return self._emit(schema.build("log", self.service, category=[], types=["error" if error else "info"],
                                       outcome=outcome, action=None, level=level, logger=logger, error=error,
                                       common=common))

    def _emit(self, entry: dict[str, Any]) -> str:
        event_id = str(entry["payload"].get("event", {}).get("id", ""))
        line = schema.json_line(entry)
        with self._cond:
            self._pending += 1
            self._counts["accepted"] += 1
        if self._closed:
            self._drop(1, "logger closed")
            return event_id
        try:
            if self._enqueue_timeout:
                self._queue.put(line, timeout=self._enqueue_timeout)
            else:
                self._queue.put_nowait(line)
        except queue.Full:
            self._drop(1, "queue full")
        return event_id

    # -- delivery state ------------------------------------------------------------------------
    def _drop(self, n: int, reason: str) -> None:
        if n <= 0:
            return
        with self._cond:
            self._counts["dropped"] += n
            self._reasons[reason] = self._reasons.get(reason, 0) + n
            self._pending -= n
            self._cond.notify_all()
        if self._on_drop is not None:
            try:
                self._on_drop(n, reason)
            except Exception:
                log.exception("mamori.applog: the on_drop callback failed")

    def _done(self, n: int, counter: str) -> None:
        with self._cond:
            self._counts[counter] += n
            self._pending -= n
            self._cond.notify_all()

    def stats(self) -> Stats:
        with self._cond:
            return Stats(self._counts["accepted"], self._counts["sent"], self._counts["replayed"],
                         self._counts["spooled"], self._counts["dropped"], tuple(sorted(self._reasons.items())),
                         self._pending, len(self._spool), self._spool.size_bytes, self._last_error)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every accepted event is acknowledged (True) or ``timeout`` passes (False).

        Cuts an error backoff short (one immediate retry) but never a collector's Retry-After.
        """
        self._soft_until = 0.0
        self._wake.set()
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self, timeout: float = 10.0) -> Stats:
        """Deliver what can be delivered within ``timeout``; spool the rest to disk; report drops."""
        if self._closed:
            return self.stats()
        deadline = time.monotonic() + max(0.0, timeout)
        self.flush(timeout)
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join(max(0.5, deadline - time.monotonic()))
        with contextlib.suppress(Exception):
            atexit.unregister(self._at_exit)
        if not self._thread.is_alive():
            self._drain_to_spool()  # an event enqueued while close() ran: kept, never lost unseen
            self._transport.close()
            left = len(self._spool)
            if left and isinstance(self._spool, MemorySpool):
                self._spool.ack(left)
                self._drop(left, "undelivered at close (no disk spool)")
            self._spool.close()
        st = self.stats()
        if st.dropped:
            reasons = ", ".join(f"{n} {r}" for r, n in st.dropped_by_reason)
            log.warning("mamori.applog: %d audit event(s) of %s were dropped: %s", st.dropped,
                        self.service["name"], reasons)
        if st.spool_events and isinstance(self._spool, DiskSpool):
            log.warning("mamori.applog: %d audit event(s) stay in %s and are sent on the next start",
                        st.spool_events, self._spool.dir)
        return st

    def _at_exit(self) -> None:
        self.close(5.0)

    def __enter__(self) -> AuditLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the sender thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                if self._stop.is_set():
                    self._drain_to_spool()
                    return
                if len(self._spool):
                    self._drain_to_spool()
                    wait = max(self._soft_until, self._hard_until) - time.monotonic()
                    if wait > 0:
                        self._wake.wait(min(wait, 0.2))
                        self._wake.clear()
                        continue
                    self._replay()
                    continue
                batch = self._collect()
                if batch:
                    self._deliver(batch)
            except Exception as exc:  # noqa: BLE001 - the sender must survive anything (a full disk, say)
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.error("mamori.applog: sender error: %s", self._last_error)
                self._stop.wait(1.0)

    def _collect(self) -> list[bytes]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch, used = [first], len(first)
        while len(batch) < self._batch_size and used < self._batch_bytes:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            batch.append(line)
            used += len(line)
        return batch

    def _drain_to_spool(self) -> None:
        lines: list[bytes] = []
        while True:
            try:
                lines.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if lines:
            self._to_spool(lines)

    def _to_spool(self, lines: list[bytes]) -> None:
        refused, failed = self._spool.append(lines)
        with self._cond:
            self._counts["spooled"] += len(lines) - refused - failed
        self._drop(refused, "spool full")
        if failed:
            self._last_error = getattr(self._spool, "last_error", None) or "spool write failed"
            self._drop(failed, "spool write failed")

    def _post(self, lines: list[bytes]) -> Answer:
        body = b'{"entries":[' + b",".join(line.rstrip(b"\n") for line in lines) + b"]}"
        ans = self._transport.post(body)
        if ans.outcome is Sent.OK:
            if self._offline:
                log.info("mamori.applog: collector reachable again")
            self._failures, self._offline, self._soft_until = 0, False, 0.0
        elif ans.outcome is Sent.RETRY:
            self._failures += 1
            self._last_error = ans.message
            now = time.monotonic()
            if ans.retry_after is not None:
                self._hard_until = now + ans.retry_after
            else:
                delay = min(self._max_backoff, 0.1 * 2 ** min(self._failures, 20))
                self._soft_until = now + delay * random.uniform(0.5, 1.0)
            if not self._offline:
                log.warning("mamori.applog: %s; events are kept in the spool until it answers", ans.message)
            self._offline = True
        else:
            self._last_error = ans.message
        return ans

    def _deliver(self, batch: list[bytes]) -> None:
        try:
            ans = self._post(batch)
        except Exception as exc:
            self._drop(len(batch), f"sender error: {type(exc).__name__}")  # counted, then logged by _run
            raise
        if ans.outcome is Sent.OK:
            self._done(len(batch), "sent")
        elif ans.outcome is Sent.REJECT and len(batch) == 1:
            self._drop(1, f"refused by the collector ({ans.status}): {ans.message[:200]}")
        else:
            if ans.outcome is Sent.REJECT:
                self._isolate = len(batch)
            self._to_spool(batch)

    def _replay(self) -> None:
        lines, used, bad = self._spool.peek(1 if self._isolate else self._batch_size, self._batch_bytes)
        if not lines:
            self._spool.ack(used)
            self._drop(bad, "unreadable spool line")
            return
        ans = self._post(lines)
        if ans.outcome is Sent.OK:
            self._spool.ack(used)
            self._drop(bad, "unreadable spool line")
            self._isolate = max(0, self._isolate - len(lines))
            self._done(len(lines), "replayed")
        elif ans.outcome is Sent.REJECT:
            if len(lines) == 1:
                self._spool.ack(used)
                self._drop(1 + bad, f"refused by the collector ({ans.status}): {ans.message[:200]}")
                self._isolate = max(0, self._isolate - 1)
            else:
                self._isolate = len(lines)
