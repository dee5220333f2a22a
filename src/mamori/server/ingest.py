"""The audit collector: ``POST /v1/logs`` takes one entry or ``{"entries": [...]}`` and answers after commit.

Who sent an entry is never taken from the entry: it is the identity of the bearer token
(the token file holds only ``sha256:<hex> <identity>`` lines) or, on an mTLS listener, the
client certificate subject. Answers: 200 with the sequence numbers once the entries are
durable; 400 naming the first bad entry; 401 without valid credentials; 413 over the size
limits; 429 with Retry-After when the source exceeds its rate (nothing is dropped: the
client retries); 503 with Retry-After when the write queue is full or the store fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mamori.audit.entry import EntryError, NewEntry, new_entry
from mamori.audit.log import AuditLog
from mamori.audit.writer import Busy, GroupWriter
from mamori.server.http import BodyTooLarge, read_body
from mamori.server.state import ServerState
from mamori.store.decisions import DecisionRecord

log = logging.getLogger("mamori.audit")

MAX_REQUEST = 1024 * 1024
MAX_BATCH = 10_000
MAX_TOKENS_FILE = 1024 * 1024
_TOKEN_LINE = re.compile(r"sha256:([0-9a-f]{64})\s+([\x21-\x7e][\x20-\x7e]{0,199})")


class TokenFileError(ValueError):
    pass


def load_tokens(path: str | Path) -> dict[str, str]:
    """``sha256:<hex of SHA-256(token)> <identity>`` per line; ``#`` comments. Plaintext tokens are refused."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(MAX_TOKENS_FILE + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"cannot read token file {path}: {exc}") from None
    if len(text) > MAX_TOKENS_FILE:
        raise TokenFileError(f"token file {path} is larger than {MAX_TOKENS_FILE} bytes")
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _TOKEN_LINE.fullmatch(line)
        if not m:
            raise TokenFileError(f"{path}:{n}: expected 'sha256:<64 hex digits> <identity>' "
                                 "(store token hashes, never tokens)")
        out[m.group(1)] = m.group(2).strip()
    return out


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class RateLimit:
    """A token bucket per source, in entries: ``rate`` per second, up to ``burst`` at once."""

    rate: float = 50_000.0
    burst: float = 100_000.0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, source: str, n: int) -> float:
        """0 when ``n`` entries may pass now, else the seconds to wait before retrying."""
        now = time.monotonic()
        with self._lock:
            level, at = self._buckets.get(source, (self.burst, now))
            level = min(self.burst, level + (now - at) * self.rate)
            if n <= level:
                self._buckets[source] = (level - n, now)
                return 0.0
            self._buckets[source] = (level, now)
            return (min(n, self.burst) - level) / self.rate


def _client_subject(request: Request) -> str | None:
    """The verified client certificate subject, where the server puts it in the ASGI TLS extension."""
    tls = request.scope.get("extensions", {}).get("tls") or {}
    subject = tls.get("client_subject")
    if isinstance(subject, str) and subject:
        return subject
    chain = tls.get("client_cert_chain")
    if isinstance(chain, list) and chain and isinstance(chain[0], str):
        from cryptography import x509

        try:
            return x509.load_pem_x509_certificate(chain[0].encode()).subject.rfc4514_string()
        except ValueError:
            return None
    return None


def _error(status: int, msg: str, retry: float | None = None) -> Response:
    headers = {"Retry-After": str(max(1, math.ceil(retry)))} if retry is not None else None
    return JSONResponse({"error": msg}, status_code=status, headers=headers)


def routes(state: ServerState, log: AuditLog, *, tokens: dict[str, str] | None = None,
           limit: RateLimit | None = None, writer: GroupWriter | None = None) -> list[Route]:
    """The collector routes; ``writer`` defaults to a group-commit writer on ``log``."""
    tokens = tokens or {}
    limit = limit or RateLimit()
    w = writer or GroupWriter(log)
    counted = Counter("mamori_audit_entries", "Audit entries by outcome (stored, refused, limited, busy)",
                      ["result"], registry=state.metrics.registry)

    def identity(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth:
            scheme, _, tok = auth.partition(" ")
            if scheme.lower() != "bearer" or not tok.strip():
                return None
            return tokens.get(token_hash(tok.strip()))
        subject = _client_subject(request)
        return f"cert:{subject}" if subject else None

    async def ingest(request: Request) -> Response:
        source = identity(request)
        if source is None:
            return JSONResponse({"error": "a valid bearer token or client certificate is required"}, 401,
                                headers={"WWW-Authenticate": "Bearer"})
        if "json" not in request.headers.get("content-type", "application/json"):
            return _error(415, "send application/json")
        try:
            body = await read_body(request, MAX_REQUEST)
        except BodyTooLarge as exc:
            return _error(413, str(exc))
        try:
            doc: Any = json.loads(body)
        except (ValueError, RecursionError):
            return _error(400, "the body is not valid JSON")
        items = doc["entries"] if isinstance(doc, dict) and set(doc) == {"entries"} else [doc]
        if not isinstance(items, list) or not items:
            return _error(400, "'entries' must be a non-empty list")
        if len(items) > MAX_BATCH:
            return _error(413, f"{len(items)} entries in one request; at most {MAX_BATCH}")
        entries: list[NewEntry] = []
        for i, item in enumerate(items):
            try:
                entries.append(new_entry(item, source))
            except EntryError as exc:
                counted.labels("refused").inc(len(items))
                return _error(413 if "exceeds the limit" in str(exc) else 400, f"entry {i}: {exc}")
        wait = limit.take(source, len(entries))
        if wait:
            counted.labels("limited").inc(len(entries))
            return _error(429, f"rate limit of {limit.rate:g} entries/s for {source} exceeded", wait)
        try:
            fut = w.submit(entries)
        except Busy as exc:
            counted.labels("busy").inc(len(entries))
            return _error(503, str(exc), 1)
        try:
            seqs = await asyncio.wrap_future(fut)
        except Exception:  # noqa: BLE001 - not acknowledged; the client retries
            counted.labels("failed").inc(len(entries))
            return _error(503, "the audit store could not commit the entries", 1)
        counted.labels("stored").inc(len(seqs))
        return JSONResponse({"accepted": len(seqs), "first": seqs[0], "last": seqs[-1]})

    return [Route("/v1/logs", ingest, methods=["POST"])]


@dataclass
class Collector:
    """Everything ``mamori serve --audit-db`` starts, and how to stop it."""

    routes: list[Route]
    close: Callable[[], None]
    log: AuditLog
    writer: GroupWriter


def setup(state: ServerState, db: str | None, tokens_file: str | None, key_file: str | None,
          interval: float = 60.0, passphrase: bytes | None = None, rate: float = 50_000.0) -> Collector:
    """Open the audit store, the token file and the checkpoint key; raise ValueError with a message."""
    from mamori.audit.keys import load_signer
    from mamori.audit.log import Checkpointer, open_log

    tokens = load_tokens(tokens_file) if tokens_file else {}
    signer = load_signer(key_file, passphrase) if key_file else None
    log = open_log(db)
    writer = GroupWriter(log)
    cp = Checkpointer(log, signer, interval) if signer else None

    def close() -> None:
        writer.close()
        if cp is not None:
            cp.close()

    state.audit = lambda rec: decision_to_log(writer, rec)
    return Collector(routes(state, log, tokens=tokens, limit=RateLimit(rate, 2 * rate), writer=writer), close, log,
                     writer)


DECISION_ENTRY = "mamori.decision"


def decision_to_log(writer: GroupWriter, rec: DecisionRecord) -> None:
    """Append an enforcement decision to the audit log (group commit, off the request path)."""
    payload = {"adapter": rec.adapter, "request_id": rec.request_id, "operation": rec.operation,
               "subject": rec.subject, "namespace": rec.namespace, "user": rec.user, "allowed": rec.allowed,
               "result": rec.result, "rules": list(rec.rules), "message": rec.message[:4000]}
    try:
        writer.submit([new_entry({"type": f"{DECISION_ENTRY}.{rec.adapter}", "time": rec.time, "payload": payload},
                                 f"mamori:{rec.adapter}")])
    except (Busy, EntryError) as exc:
        log.error("decision %s not written to the audit log: %s", rec.request_id, exc)



