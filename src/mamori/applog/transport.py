"""One HTTP(S) POST of a batch to the collector, classified into what the sender does next.

Standard library only (``http.client`` + ``ssl``) so that an application gets audit delivery
without an HTTP client dependency. The collector's answers map to:

* 200 -> ``OK`` (durable: the collector answers after commit);
* 429 / 503 / other 5xx -> ``RETRY`` after ``Retry-After`` (seconds or an HTTP date), else backoff;
* 400 / 413 / 415 / 422 -> ``REJECT``: this batch will never be taken as it is;
* 401 / 403 and connection errors -> ``RETRY`` with backoff (the credential or network may be fixed).
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum
from urllib.parse import urlsplit

MAX_ANSWER = 64 * 1024
MAX_RETRY_AFTER = 300.0


class Outcome(Enum):
    OK = "ok"
    RETRY = "retry"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    status: int | None = None
    retry_after: float | None = None
    message: str = ""


class ConfigError(ValueError):
    """A collector URL, CA or certificate that cannot work; raised when the logger is created."""


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, bounded; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, min(when - (now if now is not None else time.time()), MAX_RETRY_AFTER))


class Transport:
    """A keep-alive connection to ``<collector>/v1/logs``; reconnects after any error."""

    def __init__(self, url: str, token: str | None, *, ca: str | None = None,
                 cert: tuple[str, str] | None = None, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"collector URL must be http(s)://host[:port][/path], not {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        path = parts.path.rstrip("/")
        self.path = path if path.endswith("/v1/logs") else f"{path}/v1/logs"
        self.context: ssl.SSLContext | None = None
        if parts.scheme == "https":
            try:
                self.context = ssl.create_default_context(cafile=ca)
                if cert is not None:
                    self.context.load_cert_chain(cert[0], cert[1])
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot load the collector CA or client certificate: {exc}") from None
        elif token and self.host not in ("127.0.0.1", "::1", "localhost"):
            raise ConfigError("refusing to send a bearer token over plain http; use an https collector URL")
        self.headers = {"Content-Type": "application/json", "User-Agent": "mamori-applog/1"}
        if token:
            if any(ch in token for ch in "\r\n") or not token.strip():
                raise ConfigError("the collector token is empty or holds a line break")
            self.headers["Authorization"] = f"Bearer {token.strip()}"
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.context is not None:
                self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                         context=self.context)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, body: bytes) -> Answer:
        try:
            conn = self._connect()
            conn.request("POST", self.path, body=body, headers=self.headers)
            resp = conn.getresponse()
            data = resp.read(MAX_ANSWER + 1)
            status, wait = resp.status, retry_after(resp.getheader("Retry-After"))
            if resp.getheader("Connection", "").lower() == "close" or len(data) > MAX_ANSWER:
                self.close()
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            self.close()
            return Answer(Outcome.RETRY, None, None, f"collector unreachable: {type(exc).__name__}: {exc}")
        message = _error_text(data)
        if status == 200:
            return Answer(Outcome.OK, status)
        if status in (400, 413, 415, 422):
            return Answer(Outcome.REJECT, status, None, message)
        return Answer(Outcome.RETRY, status, wait, message or f"HTTP {status}")


def _error_text(data: bytes) -> str:
    try:
        doc = json.loads(data)
    except ValueError:
        return data[:200].decode("utf-8", "replace")
    return str(doc.get("error", ""))[:500] if isinstance(doc, dict) else ""
