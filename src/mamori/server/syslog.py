"""Syslog listeners of the audit collector: RFC 5424 over TCP (RFC 6587) and over TLS (RFC 5425).

Every message becomes one audit entry (``type`` "syslog") through the collector's group-commit
writer; a message that cannot be framed or parsed becomes a ``syslog.malformed`` entry holding
the reason and its raw octets (base64, first 8 KiB), so nothing received is silently lost. The
source identity is ``cert:<subject>`` of a verified client certificate on an mTLS listener,
otherwise ``unauthenticated:<peer address>``. Syslog has no application acknowledgement, so
limits never drop: over the source's rate, or while the write queue is full, the connection is
simply not read (TCP flow control pushes back on the sender). Oversized or unframeable input is
recorded and the connection closed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from mamori.audit.entry import MAX_ENTRY, NewEntry, check_source, new_entry
from mamori.audit.syslog5424 import SyslogError, parse
from mamori.audit.writer import Busy, GroupWriter
from mamori.server.ingest import RateLimit
from mamori.server.syslogframe import Framer
from mamori.server.tlsstream import TlsStream

log = logging.getLogger("mamori.syslog")

READ_SIZE = 256 * 1024
MAX_INFLIGHT = 4  # batches per connection handed to the writer and not yet committed
PARTIAL_TIMEOUT = 60.0  # seconds a started frame may wait for its remaining octets
KEEP_RAW = 8192
DEFAULT_MAX_MESSAGE = 32 * 1024
ENTRY_TYPE = "syslog"
MALFORMED_TYPE = "syslog.malformed"


def tls_context(cert: str, key: str, client_ca: str | None) -> ssl.SSLContext:
    """TLS 1.2+ server context (RFC 9662 updates RFC 5425); with ``client_ca`` a client certificate is required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    # No TLS 1.3 session tickets: a sender that never reads (Docker, most syslog clients) would close
    # with unread ticket bytes, which makes the kernel send RST and discard what we had not read yet.
    ctx.num_tickets = 0
    if client_ca:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def cert_identity(der: bytes) -> str:
    """``cert:<RFC 4514 subject>`` (as the HTTPS collector), the first SAN for an empty subject, else a digest."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    name = cert.subject.rfc4514_string()
    if not name:
        with contextlib.suppress(x509.ExtensionNotFound):
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            for gn in san:
                kind = {"DNSName": "DNS", "UniformResourceIdentifier": "URI", "IPAddress": "IP",
                        "RFC822Name": "email"}.get(type(gn).__name__, type(gn).__name__)
                name = f"{kind}:{gn.value}"
                break
    ident = f"cert:{name}"
    if not name or len(ident) > 256 or not all(0x20 <= ord(ch) < 0x7F for ch in ident):
        ident = f"cert:sha256:{hashlib.sha256(der).hexdigest()}"
    return ident


def malformed(reason: str, raw: bytes, size: int, source: str, peer: str, transport: str) -> NewEntry:
    """The record of input that is not a syslog message: why, how big, and the octets (bounded)."""
    kept = raw[:KEEP_RAW]
    return new_entry({"type": MALFORMED_TYPE, "payload": {
        "error": reason[:1000], "size": size, "raw_b64": base64.b64encode(kept).decode(),
        "truncated": size > len(kept), "peer": peer, "transport": transport}}, source)


def to_entry(frame: bytes, source: str, peer: str, transport: str) -> tuple[NewEntry, bool]:
    """One frame as an audit entry; False when it had to be recorded as malformed."""
    try:
        m = parse(frame)
    except SyslogError as exc:
        return malformed(str(exc), frame, len(frame), source, peer, transport), False
    payload = m.payload()
    payload["peer"] = peer
    payload["transport"] = transport
    # Docker's driver writes its tag (default: the short container id; or --log-opt tag={{.Name}}) in both.
    container = m.app_name if m.app_name is not None and m.app_name == m.msgid else None
    # What new_entry would build (a test checks equality), without re-validating what the parser
    # guarantees: a flat payload of str/int, an RFC 3339 UTC time, a printable ASCII container.
    try:
        body = _CANONICAL.encode(payload).encode()  # = entry.canonical(payload), without a new encoder per call
    except ValueError as exc:  # not expected: the parser yields valid Unicode and ints only
        return malformed(f"not loggable: {exc}", frame, len(frame), source, peer, transport), False
    size = len(body) + 2 * (len(source) + len(container or "") + len(peer)) + 200
    if size > MAX_ENTRY - 64:
        return malformed(f"not loggable: the entry would exceed {MAX_ENTRY - 64} bytes", frame, len(frame), source,
                         peer, transport), False
    return NewEntry(ENTRY_TYPE, payload, source, m.timestamp, container, None, body.decode()), True


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        kw: dict[str, Any] = {"registry": registry} if registry is not None else {}
        self.messages = Counter("mamori_syslog_messages", "Syslog messages by outcome (stored: committed, "
                                "including malformed records; malformed: recorded as syslog.malformed; "
                                "failed: the store refused the batch)", ["result"], **kw)
        self.waits = Counter("mamori_syslog_waits", "Times a connection stopped reading (rate: source over its "
                             "rate; busy: write queue full)", ["reason"], **kw)
        self.connections = Counter("mamori_syslog_connections", "Syslog connections (accepted, refused over "
                                   "the limit, closed on a framing error)", ["listener", "result"], **kw)
        self.open = Gauge("mamori_syslog_open_connections", "Open syslog connections", ["listener"], **kw)


@dataclass(frozen=True, slots=True)
class Limits:
    max_message: int = DEFAULT_MAX_MESSAGE
    max_connections: int = 1000


class SyslogServer:
    """One listening address; ``serve()`` runs until ``stop()``, then drains what was read."""

    def __init__(self, name: str, host: str, port: int, writer: GroupWriter, rate: RateLimit, metrics: Metrics,
                 *, tls: ssl.SSLContext | None = None, limits: Limits = Limits()) -> None:
        self.name, self.host, self.port = name, host, port
        self.writer, self.rate, self.m, self.tls, self.limits = writer, rate, metrics, tls, limits
        self.transport = "tls" if tls else "tcp"
        self.started = asyncio.Event()
        self._stop = asyncio.Event()
        self._conns: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    def stop(self) -> None:
        self._stop.set()

    async def serve(self) -> None:
        # TLS is done by TlsStream over the plain stream, not by the event loop (see tlsstream.py).
        srv = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        self.port = int(srv.sockets[0].getsockname()[1])
        self.started.set()
        log.info("%s listening on %s://%s:%d", self.name, self.transport, self.host, self.port)
        try:
            await self._stop.wait()
        finally:
            srv.close()
            for w in list(self._conns.values()):
                w.transport.close()  # the reader still gets what was already received, then EOF
            if self._conns:
                await asyncio.wait(list(self._conns), timeout=15)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._conns) >= self.limits.max_connections or self._stop.is_set() or task is None:
            self.m.connections.labels(self.name, "refused").inc()
            log.warning("%s: refusing a connection from %s: %d connections open", self.name,
                        writer.get_extra_info("peername"), len(self._conns))
            writer.transport.abort()
            return
        self._conns[task] = writer
        self.m.connections.labels(self.name, "accepted").inc()
        self.m.open.labels(self.name).inc()
        try:
            if self.tls is None:
                await self._read(reader.read, None, writer)
            else:
                tls = TlsStream(self.tls, reader, writer)
                try:
                    await tls.handshake()
                except (OSError, ssl.SSLError, TimeoutError) as exc:
                    self.m.connections.labels(self.name, "tls-failed").inc()
                    log.info("%s: TLS handshake with %s failed: %s", self.name, writer.get_extra_info("peername"),
                             exc)
                    return
                await self._read(tls.read, tls.peer_der(), writer)
        finally:
            self._conns.pop(task, None)
            self.m.open.labels(self.name).dec()
            writer.transport.close()

    async def _read(self, read: Callable[[int], Awaitable[bytes]], der: bytes | None,
                    writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername") or ("?", 0)
        peer = f"[{peername[0]}]:{peername[1]}" if ":" in str(peername[0]) else f"{peername[0]}:{peername[1]}"
        source = check_source(cert_identity(der) if der else f"unauthenticated:{peername[0]}")
        framer = Framer(self.limits.max_message, KEEP_RAW)
        inflight: deque[tuple[asyncio.Future[list[int]], int]] = deque()
        ok = True
        while ok:
            try:
                if framer.pending:
                    async with asyncio.timeout(PARTIAL_TIMEOUT):
                        data = await read(READ_SIZE)
                else:
                    data = await read(READ_SIZE)
            except TimeoutError:
                data, why = b"", f"no octet for {PARTIAL_TIMEOUT:g} s inside a frame"
            except (OSError, ssl.SSLError) as exc:
                data, why = b"", f"connection error: {exc}"
            else:
                why = ""
            frames, err = framer.feed(data) if data else framer.finish()
            entries: list[NewEntry] = []
            for f in frames:
                e, good = to_entry(f, source, peer, self.transport)
                entries.append(e)
                if not good:
                    self.m.messages.labels("malformed").inc()
            if err is not None:
                reason = f"{err.reason} ({why})" if why else err.reason
                entries.append(malformed(reason, err.raw, err.size, source, peer, self.transport))
                self.m.messages.labels("malformed").inc()
                self.m.connections.labels(self.name, "framing-error").inc()
                log.warning("%s: closing the connection of %s (%s): %s", self.name, source, peer, reason)
            if entries:
                ok = await self._submit(source, entries, inflight, writer.transport.close)
            if not data or err is not None:
                break
        while inflight and ok:
            ok = await self._settle(inflight)

    async def _submit(self, source: str, entries: list[NewEntry], inflight: deque[tuple[asyncio.Future[list[int]],
                      int]], on_failure: Callable[[], None]) -> bool:
        step = max(1, min(int(self.rate.burst), self.writer.max_pending))  # a chunk that can ever pass
        for k in range(0, len(entries), step):
            chunk = entries[k:k + step]
            while (wait := self.rate.take(source, len(chunk))) > 0:
                self.m.waits.labels("rate").inc()
                await asyncio.sleep(min(wait, 1.0))
            while True:
                try:
                    fut = self.writer.submit(chunk)
                    break
                except Busy:
                    if not self.writer.alive:
                        self.m.messages.labels("failed").inc(len(entries) - k)
                        log.error("%s: the audit writer has stopped; closing %s", self.name, source)
                        return False
                    self.m.waits.labels("busy").inc()
                    await asyncio.sleep(0.02)
            afut = asyncio.wrap_future(fut)
            # A failed commit closes the connection now, not when the sender next writes.
            afut.add_done_callback(lambda f: on_failure() if not f.cancelled() and f.exception() else None)
            inflight.append((afut, len(chunk)))
            while len(inflight) > MAX_INFLIGHT or (inflight and inflight[0][0].done()):
                if not await self._settle(inflight):
                    return False
        return True

    async def _settle(self, inflight: deque[tuple[asyncio.Future[list[int]], int]]) -> bool:
        fut, n = inflight.popleft()
        try:
            await fut
        except Exception as exc:  # noqa: BLE001 - the store failed: close, so the sender sees a broken stream
            self.m.messages.labels("failed").inc(n)
            log.error("%s: %d syslog messages could not be stored (%s); closing the connection", self.name, n, exc)
            return False
        self.m.messages.labels("stored").inc(n)
        return True


def servers(writer: GroupWriter, registry: CollectorRegistry | None, *, tcp: tuple[str, int] | None = None,
            tls: tuple[str, int] | None = None, tls_ctx: ssl.SSLContext | None = None, rate: float = 50_000.0,
            limits: Limits = Limits()) -> list[SyslogServer]:
    """The configured listeners, sharing one metrics set and one per-source rate limit."""
    m = Metrics(registry)
    limit = RateLimit(rate, 2 * rate)
    out = []
    if tls is not None:
        if tls_ctx is None:
            raise ValueError("the syslog TLS listener needs a certificate and key")
        out.append(SyslogServer("syslog-tls", tls[0], tls[1], writer, limit, m, tls=tls_ctx, limits=limits))
    if tcp is not None:
        out.append(SyslogServer("syslog-tcp", tcp[0], tcp[1], writer, limit, m, limits=limits))
    return out
