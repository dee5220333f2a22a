"""Deliver the outbox to webhooks: signed HTTP POSTs, retried with exponential back-off and jitter.

Each webhook has one delivery thread that sends its due rows oldest first. A failure (no
connection, a timeout, any answer but 2xx) reschedules that row at ``base * 2**(attempts-1)``
seconds, capped, times a random factor in [0.5, 1] (jitter, so that many watchers do not
retry in step), and holds the whole webhook back for as long: a receiver that is down gets
one probe per back-off period, not one request per pending row. A row that has been tried
``max_attempts`` times, or is older than ``max_age``, becomes a dead letter.

Headers: ``X-Mamori-Signature: sha256=<hex HMAC-SHA256 of the body with the webhook's
secret>``, ``X-Mamori-Event-Id`` (the record's key: the receiver's idempotency key) and
``X-Mamori-Timestamp`` (when the notification was created; the body's ``created`` holds the
same value under the signature). Secrets are read from a file or the environment and never
printed or stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from mamori.store import outbox
from mamori.util.files import read_bounded

log = logging.getLogger("mamori.watch.notify")

MAX_URL = 2048
MAX_SECRET = 4096
SECRET_ENV = "MAMORI_WEBHOOK_SECRET"


class NotifyConfigError(ValueError):
    """A webhook URL or secret that cannot be used; the message never contains the secret."""


@dataclass(frozen=True, slots=True)
class Retry:
    max_attempts: int = 12
    max_age: float = 24 * 3600.0
    base: float = 1.0
    cap: float = 300.0
    timeout: float = 10.0

    def delay(self, attempts: int, rand: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failure: capped exponential, jittered to [50%, 100%]."""
        r = rand or random
        full = min(self.cap, self.base * float(2 ** max(0, min(attempts - 1, 30))))
        return full * (0.5 + 0.5 * float(r.random()))


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    secret: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"Webhook({self.url!r}, secret=<hidden>)"


def check_url(url: str) -> str:
    if len(url) > MAX_URL:
        raise NotifyConfigError(f"webhook URL is over {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotifyConfigError(f"webhook {url[:200]!r} must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise NotifyConfigError("webhook URL must not carry credentials; use the signing secret")
    return url


def read_secret(path: str | None, env_name: str | None = None) -> bytes:
    """The signing secret from ``path`` (trailing newline dropped) or the environment variable ``env_name``."""
    if path:
        data = read_bounded(path, MAX_SECRET, "webhook secret file", NotifyConfigError)
        secret = data.rstrip(b"\r\n")
        where = f"file {path}"
    else:
        name = env_name or SECRET_ENV
        secret = os.environ.get(name, "").encode()
        where = f"${name}"
    if len(secret) < 16:
        raise NotifyConfigError(f"webhook secret from {where} is missing or shorter than 16 bytes")
    return secret


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str) -> bool:
    """What a receiver does (see docs/watch.md): constant-time comparison of the signature header."""
    return hmac.compare_digest(sign(secret, body), header.strip())


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    dead: int = 0


class Deliverer:
    """One thread per webhook; ``wake()`` after enqueuing, ``stop()`` to end (pending rows stay stored)."""

    def __init__(self, engine: Engine, hook: Webhook, retry: Retry, *, batch: int = 200) -> None:
        self.engine = engine
        self.hook = hook
        self.retry = retry
        self.batch = batch
        self.stats = Stats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._hold_until = 0.0
        self._streak = 0  # consecutive failures: the webhook-wide back-off
        self._rand = random.Random()
        self._thread = threading.Thread(target=self._run, name=f"mamori-notify-{urlsplit(hook.url).hostname}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "mamori-watch"}
        with httpx.Client(timeout=self.retry.timeout, follow_redirects=False, headers=headers) as client:
            while not self._stop.is_set():
                try:
                    wait = self._round(client)
                except SQLAlchemyError as exc:
                    log.error("outbox unavailable: %s", str(exc).splitlines()[0][:300])
                    wait = 1.0
                self._wake.wait(wait)
                self._wake.clear()

    def _round(self, client: httpx.Client) -> float:
        """Send what is due; return how long to sleep."""
        now = time.time()
        if now < self._hold_until:
            return self._hold_until - now
        rows = outbox.due(self.engine, self.hook.url, now, self.batch)
        for row in rows:
            if self._stop.is_set():
                return 0.0
            if self._send(client, row) is False:
                return max(0.0, self._hold_until - time.time())
        if len(rows) == self.batch:
            return 0.0
        nxt = outbox.next_due(self.engine, self.hook.url)
        return 5.0 if nxt is None else min(5.0, max(0.0, nxt - time.time()))

    def _send(self, client: httpx.Client, row: outbox.Pending) -> bool:
        if time.time() - row.created_epoch > self.retry.max_age:
            outbox.expire(self.engine, row.id, f"older than {self.retry.max_age:.0f} s without delivery")
            self.stats.dead += 1
            return True
        body = row.body.encode()
        headers = {"X-Mamori-Signature": sign(self.hook.secret, body), "X-Mamori-Event-Id": row.key,
                   "X-Mamori-Timestamp": row.created}
        status: int | None = None
        try:
            resp = client.post(self.hook.url, content=body, headers=headers)
            status = resp.status_code
            resp.close()
            if 200 <= status < 300:
                outbox.delivered(self.engine, row.id, status)
                self.stats.sent += 1
                self._streak = 0
                return True
            error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
        attempts = row.attempts + 1
        self._streak += 1
        self.stats.failed += 1
        if attempts >= self.retry.max_attempts:
            outbox.failed(self.engine, row.id, error, status, None)
            self.stats.dead += 1
            log.warning("dead letter %s for %s after %d attempts: %s", row.key[:12], self.hook.url, attempts, error)
            self._hold_until = time.time() + self.retry.delay(self._streak, self._rand)
            return False
        delay = self.retry.delay(max(attempts, self._streak), self._rand)
        self._hold_until = time.time() + delay
        outbox.failed(self.engine, row.id, error, status, self._hold_until)
        log.info("delivery to %s failed (%s); retry in %.1f s", self.hook.url, error, delay)
        return False
