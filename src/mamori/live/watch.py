"""``mamori watch``: follow a daemon's container events, judge new containers, notify, track drift.

Lossless across restarts of either side, within what the daemon keeps: every stored event
moves the daemon's cursor (its ``timeNano``) in the same transaction, and every connection
asks for ``since=cursor``. The daemon's ``since`` is inclusive and replays from an in-memory
buffer (the last 256 events in moby), so the first events of a resumed stream may be ones
already stored: their key says so and they are skipped before anything else is done.

One thread reads the stream into a queue (the daemon drops events for a subscriber that does
not read for 100 ms once its buffer is full, so reading never waits for the store), the main
thread records, one thread per webhook delivers the outbox, and with ``drift_interval`` one
thread compares running containers with their baselines.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete
from sqlalchemy.exc import SQLAlchemyError

from mamori.live import drift as drift_mod
from mamori.live.events import LIFECYCLE, BadEvent, judge_inspect, record_of, since_param, unjudged
from mamori.live.notify import Deliverer, Retry, Webhook
from mamori.policy.config import Policy
from mamori.store import drift as drift_store
from mamori.store import outbox
from mamori.store.events import EventRecord, cursor, store_event
from mamori.store.events import known as _known

log = logging.getLogger("mamori.watch")

MAX_QUEUE = 100_000
DAEMON_BUFFER = 256  # events a moby daemon keeps for ``since`` replays


@dataclass(frozen=True, slots=True)
class WatchOptions:
    target: str | None = None
    actions: tuple[str, ...] = LIFECYCLE
    filters: dict[str, list[str]] = field(default_factory=dict)
    since: int | None = None  # nanoseconds; replay from here on the first connection
    baseline: bool = True
    watch_paths: tuple[str, ...] = ()
    drift_interval: float = 0.0  # 0: no periodic drift checks
    reconnect_max: float = 5.0


@dataclass
class WatchStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    bad: int = 0
    connections: int = 0
    drift_reports: int = 0


class _End:
    """The reader's last word: the stream ended (``error`` None) or failed."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]


def drift_key(container_id: str, when: str, fp: str) -> str:
    return hashlib.sha256(f"drift\0{container_id}\0{when}\0{fp}".encode()).hexdigest()


def record_drift(engine: Engine, report: dict[str, Any], *, daemon: str, container_id: str, name: str | None,
                 source: str, webhooks: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """Store a drift report (and its notifications) unless the same drift was reported last time by ``source``."""
    from mamori.store.decisions import utc_now

    fp = drift_mod.fingerprint(report)
    last = drift_store.last_fingerprint(engine, container_id, source)
    if last == fp or (last is None and report.get("clean")):
        return None
    when = utc_now()
    key = drift_key(container_id, when, fp)
    row = {"key": key, "time": when, "daemon": daemon, "container_id": container_id, "container_name": name,
           "source": source, "fingerprint": fp, "clean": bool(report.get("clean")),
           "report": _json(report)}
    public = {k: v for k, v in row.items() if k != "report"} | {"report": report}
    drift_store.store_report(engine, row, outbox.rows_for(key, "drift", public, webhooks))
    return public


def _json(data: Any) -> str:
    import json

    return json.dumps(data, sort_keys=True)


class Watcher:
    def __init__(self, engine: Engine, policy: Policy, opts: WatchOptions, webhooks: tuple[Webhook, ...] = (),
                 retry: Retry | None = None) -> None:
        self.engine = engine
        self.policy = policy
        self.opts = opts
        self.hooks = webhooks
        self.urls = tuple(h.url for h in webhooks)
        self.deliverers = [Deliverer(engine, h, retry or Retry()) for h in webhooks]
        self.stats = WatchStats()
        self.stopping = threading.Event()
        self.daemon = ""
        self.daemon_name = ""
        self._stream: Any = None
        self._floor: int | None = None
        self._first = True
        self._drift_lock = threading.Lock()  # the die check (main thread) and the periodic one share fingerprints

    # --- lifecycle --------------------------------------------------------------------------
    def stop(self) -> None:
        self.stopping.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):  # closing a broken stream may fail in many ways; we are leaving
                stream.close()

    def run(self) -> WatchStats:
        for d in self.deliverers:
            d.start()
        drift_thread = None
        if self.opts.drift_interval > 0:
            drift_thread = threading.Thread(target=self._drift_loop, name="mamori-drift", daemon=True)
            drift_thread.start()
        try:
            self._loop()
        finally:
            for d in self.deliverers:
                d.stop()
            if drift_thread is not None:
                drift_thread.join(10)
        return self.stats

    def _connect(self) -> Any:
        from mamori.live.connect import connect

        return connect(self.opts.target)

    def _loop(self) -> None:
        from mamori.live.connect import ConnectError

        backoff = 0.2
        while not self.stopping.is_set():
            try:
                client = self._connect()
                info = client.info()
            except ConnectError as exc:
                log.warning("%s; retrying in %.1f s", exc, backoff)
                self.stopping.wait(backoff)
                backoff = min(self.opts.reconnect_max, backoff * 2)
                continue
            except Exception as exc:  # noqa: BLE001 - the SDK raises requests/docker/OS errors alike
                log.warning("docker daemon not ready: %s; retrying in %.1f s", _reason(exc), backoff)
                self.stopping.wait(backoff)
                backoff = min(self.opts.reconnect_max, backoff * 2)
                continue
            self.daemon = str(info.get("ID") or "")[:128] or str(self.opts.target or "default")
            self.daemon_name = str(info.get("Name") or "")[:256]
            self.stats.connections += 1
            got = self._follow(client)
            client.close()
            if got:
                backoff = 0.2
            if not self.stopping.is_set():
                log.warning("event stream from %s ended; reconnecting in %.1f s", self.daemon_name, backoff)
                self.stopping.wait(backoff)
                backoff = min(self.opts.reconnect_max, backoff * 2)

    def _since(self) -> int | None:
        if self._first and self.opts.since is not None:
            return self.opts.since
        last = cursor(self.engine, self.daemon)
        if last is not None:
            return max(last, self.opts.since or 0)
        return self._floor

    def _follow(self, client: Any) -> bool:
        """Read one connection's stream until it ends or we stop; True when any event arrived."""
        since = self._since()
        connected_at = time.time_ns()
        if self._floor is None:
            self._floor = connected_at
        filters: dict[str, Any] = {**self.opts.filters, "type": ["container"]}
        if self.opts.actions:
            filters["event"] = list(self.opts.actions)
        try:
            stream = client.events(decode=True, since=None if since is None else since_param(since), filters=filters)
        except Exception as exc:  # noqa: BLE001
            log.warning("cannot open the event stream: %s", _reason(exc))
            return False
        self._first = False
        self._stream = stream
        log.info("watching %s (%s) since %s", self.daemon_name, self.daemon[:24],
                 "now" if since is None else since_param(since))
        q: queue.Queue[Any] = queue.Queue(MAX_QUEUE)
        reader = threading.Thread(target=self._read, args=(stream, q), name="mamori-events", daemon=True)
        reader.start()
        any_event = False
        replayed = 0
        while True:
            try:
                item = q.get(timeout=0.5)
            except queue.Empty:
                if self.stopping.is_set() and not reader.is_alive():
                    break
                continue
            if isinstance(item, _End):
                if item.error is not None and not self.stopping.is_set():
                    log.warning("event stream failed: %s", _reason(item.error))
                break
            any_event = True
            if isinstance(item, dict) and isinstance(item.get("timeNano"), int) and item["timeNano"] < connected_at:
                replayed += 1
            self._handle(client, item)
        self._stream = None
        if replayed >= DAEMON_BUFFER:
            log.warning("%d events replayed: the daemon keeps only the last %d, older ones may be missing",
                        replayed, DAEMON_BUFFER)
        return any_event

    def _read(self, stream: Any, q: queue.Queue[Any]) -> None:
        try:
            for ev in stream:
                q.put(ev)
            q.put(_End(None))
        except Exception as exc:  # noqa: BLE001 - a dying daemon surfaces as any of several transport errors
            q.put(_End(exc))

    # --- one event ---------------------------------------------------------------------------
    def _handle(self, client: Any, raw: Any) -> None:
        self.stats.received += 1
        try:
            rec = record_of(raw, self.daemon, self.daemon_name)
        except BadEvent as exc:
            self.stats.bad += 1
            log.debug("skipped event: %s", exc)
            return
        if self.opts.actions and rec.action not in self.opts.actions:
            self.stats.skipped += 1
            return
        for attempt in range(30):
            try:
                self._record(client, rec)
                return
            except SQLAlchemyError as exc:  # the store is down or locked: wait, never drop the event
                log.error("store unavailable (%s); retrying", _reason(exc))
                if self.stopping.wait(min(5.0, 0.2 * 2 ** attempt)):
                    return
        log.error("giving up on event %s after repeated store failures", rec.key[:12])

    def _record(self, client: Any, rec: EventRecord) -> None:
        from dataclasses import replace

        with self.engine.connect() as conn:
            if _known(conn, rec.key):
                self.stats.duplicates += 1
                return
        if rec.action == "create":
            rec = replace(rec, **self._judge(client, rec.container_id))
        if not store_event(self.engine, rec, outbox.rows_for(rec.key, "event", rec.public(), self.urls)):
            self.stats.duplicates += 1
            return
        self.stats.stored += 1
        for d in self.deliverers:
            d.wake()
        if rec.action == "start" and self.opts.baseline:
            self._baseline(client, rec)
        elif rec.action == "die" and self.opts.drift_interval > 0:
            self._check(client, rec.container_id, rec.container_name)  # unsaved data before removal: CSA-3.1.15.1
        elif rec.action == "destroy":
            with self.engine.begin() as conn:
                conn.execute(delete(drift_store.BASELINES).where(
                    drift_store.BASELINES.c.container_id == rec.container_id))

    def _judge(self, client: Any, container_id: str) -> dict[str, Any]:
        try:
            doc = client.api.inspect_container(container_id)
        except Exception as exc:  # noqa: BLE001 - removed already, daemon gone: the record says why
            return {"allowed": None, "rules": (), "verdict": unjudged(f"cannot inspect: {_reason(exc)}")}
        allowed, rules, detail = judge_inspect(doc, self.policy)
        return {"allowed": allowed, "rules": rules, "verdict": detail}

    def _baseline(self, client: Any, rec: EventRecord) -> None:
        try:
            ctr = client.containers.get(rec.container_id)
            state = drift_mod.capture(ctr, self.opts.watch_paths)
        except Exception as exc:  # noqa: BLE001 - the container may already be gone
            log.debug("no baseline for %s: %s", rec.container_id[:12], _reason(exc))
            return
        old = drift_store.baseline(self.engine, rec.container_id)
        if old is not None:  # a restart: the configuration and image it first ran with stay the reference
            for k in ("image_id", "image_digests", "image", "config", "config_hash"):
                state[k] = old["data"].get(k)
        drift_store.save_baseline(self.engine, rec.container_id, rec.container_name, self.daemon, state)

    # --- drift -------------------------------------------------------------------------------
    def _check(self, client: Any, container_id: str, name: str | None) -> None:
        base = drift_store.baseline(self.engine, container_id)
        if base is None:
            return
        try:
            now = drift_mod.capture(client.containers.get(container_id), tuple(base["data"].get("watch_paths", [])))
        except Exception as exc:  # noqa: BLE001
            log.debug("drift check of %s failed: %s", container_id[:12], _reason(exc))
            return
        report = drift_mod.compare(base["data"], now)
        with self._drift_lock:
            public = record_drift(self.engine, report, daemon=self.daemon, container_id=container_id, name=name,
                                  source="watch", webhooks=self.urls)
        if public is not None:
            self.stats.drift_reports += 1
            log.info("drift in %s: %s", name or container_id[:12], "; ".join(drift_mod.summary(report))[:500])
            for d in self.deliverers:
                d.wake()

    def _drift_loop(self) -> None:
        client = None
        while not self.stopping.wait(self.opts.drift_interval):
            try:
                client = client or self._connect()
                running = client.containers.list()
            except Exception as exc:  # noqa: BLE001
                log.debug("drift: daemon not reachable: %s", _reason(exc))
                client = None
                continue
            for ctr in running:
                if self.stopping.is_set():
                    break
                try:
                    self._check(client, ctr.id, ctr.name)
                except SQLAlchemyError as exc:
                    log.error("drift: store unavailable: %s", _reason(exc))
        if client is not None:
            client.close()
