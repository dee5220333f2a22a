"""The ambassador: an asyncio mTLS proxy, server mode (TLS in, plaintext out) or client mode (the reverse).

Every connection is one coroutine (handshake, authorisation, target) on one event loop, no
thread per connection; once both sides are up, bytes flow inside the protocol callbacks
(conn.Splice). Authorisation happens right after the handshake, on the verified leaf; a
denied peer gets close_notify and nothing from the application. Each connection produces
flow records (see flows.py) and metrics; SIGTERM stops accepting and lets open connections
finish up to a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mamori.ambassador.addr import Address
from mamori.ambassador.conn import Conn, PlainConn, Splice, TlsConn
from mamori.ambassador.flows import Flow, FlowSink
from mamori.ambassador.identity import AllowList, IdentityError, peer_from_der
from mamori.ambassador.metrics import Metrics
from mamori.ambassador.tls import CertStore, Files

log = logging.getLogger("mamori.ambassador")


class ConfigError(ValueError):
    """Options that cannot work together; the message says which."""


@dataclass(frozen=True, slots=True)
class Options:
    mode: str  # "server" | "client"
    listen: Address
    target: Address
    files: Files
    allow: AllowList = field(default_factory=AllowList)
    server_name: str | None = None
    handshake_timeout: float = 10.0
    connect_timeout: float = 10.0
    idle_timeout: float = 300.0
    max_connections: int = 1024
    max_buffer: int = 256 * 1024
    shutdown_timeout: float = 30.0
    reload_interval: float = 5.0
    unsafe_target: bool = False
    unsafe_listen: bool = False

    def check(self) -> None:
        if self.mode not in ("server", "client"):
            raise ConfigError(f"unknown mode {self.mode!r}")
        if self.mode == "server":
            if self.allow.empty:
                raise ConfigError("server mode needs at least one --allow-uri/--allow-dns/--allow-subject/"
                                  "--allow-cn (or --allow-all): fail closed")
            if not self.target.loopback and not self.unsafe_target:
                raise ConfigError(f"--target {self.target} is not on this host (loopback or unix socket); "
                                  "plaintext would leave the machine (--unsafe-target to insist)")
            if self.listen.path is not None:
                raise ConfigError("--listen must be HOST:PORT")
        else:
            if self.target.path is not None:
                raise ConfigError("client mode --target must be HOST:PORT")
            if not self.listen.loopback and not self.unsafe_listen:
                raise ConfigError(f"--listen {self.listen} is not loopback: the plaintext side would be "
                                  "reachable from other hosts (--unsafe-listen to insist)")
        for name, v in (("handshake timeout", self.handshake_timeout), ("connect timeout", self.connect_timeout),
                        ("idle timeout", self.idle_timeout), ("shutdown timeout", self.shutdown_timeout),
                        ("reload interval", self.reload_interval)):
            if not 0 < v <= 86400:
                raise ConfigError(f"{name} {v} must be in (0, 86400] seconds")
        if not 1 <= self.max_connections <= 1_000_000:
            raise ConfigError("max connections must be 1..1000000")
        if not 16 * 1024 <= self.max_buffer <= 64 * 1024 * 1024:
            raise ConfigError("max buffer must be 16 KiB..64 MiB")


@dataclass(slots=True)
class _Active:
    flow: Flow
    conns: list[Conn] = field(default_factory=list)
    last: float = field(default_factory=time.monotonic)
    forced: str | None = None

    def abort(self, reason: str) -> None:
        self.forced = reason
        for c in self.conns:
            c.abort()


def _classify(exc: BaseException) -> tuple[str, str]:
    """(result, reason) for a failed handshake: certificate problems are denials, the rest errors."""
    if isinstance(exc, TimeoutError):
        return "error", "handshake timeout"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "denied", f"certificate verification failed: {exc.verify_message}"
    text = str(exc)
    for marker in ("CERTIFICATE_VERIFY_FAILED", "PEER_DID_NOT_RETURN_A_CERTIFICATE", "CERTIFICATE_REQUIRED",
                   "UNKNOWN_CA", "CERTIFICATE_EXPIRED", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN"):
        if marker in text.upper().replace(" ", "_"):
            return "denied", f"handshake refused: {text[:300]}"
    return "error", f"handshake failed: {text[:300] or type(exc).__name__}"


class Ambassador:
    def __init__(self, opts: Options, sink: FlowSink, metrics: Metrics | None = None) -> None:
        opts.check()
        self.opts = opts
        self.sink = sink
        self.metrics = metrics or Metrics()
        check_hostname = opts.mode == "client" and (opts.server_name is not None or opts.allow.empty)
        self.store = CertStore(opts.files, server_side=opts.mode == "server", check_hostname=check_hostname)
        self.active: dict[str, _Active] = {}
        self.totals: dict[str, int] = {"allowed": 0, "denied": 0, "error": 0}
        self.server: asyncio.Server | None = None
        self.bound: Address | None = None
        self.draining = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bg: list[asyncio.Task[Any]] = []
        self._closed = asyncio.Event()
        self._warned_at = 0.0
        self.started = datetime.now(UTC)
        self._done_bytes = [0, 0]  # in, out: of the connections that have ended
        self.metrics.bytes.add(self.byte_totals)
        self._update_expiry()

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> Address:
        loop = asyncio.get_running_loop()
        host, port = self.opts.listen.host, self.opts.listen.port or 0
        if self.opts.mode == "server":
            self.server = await loop.create_server(self._tls_protocol, host, port, backlog=1024)
        else:
            self.server = await loop.create_server(self._plain_protocol, host, port, backlog=1024)
        sock = self.server.sockets[0].getsockname()
        self.bound = Address(host=str(sock[0]), port=int(sock[1]))
        self._bg = [asyncio.create_task(self._reaper()), asyncio.create_task(self._reloader())]
        log.info("ambassador %s listening on %s, target %s", self.opts.mode, self.bound, self.opts.target)
        return self.bound

    async def shutdown(self, deadline: float | None = None) -> None:
        """Stop accepting; let open connections finish for up to ``deadline`` seconds; then cut them."""
        if self.draining:
            await self._closed.wait()
            return
        self.draining = True
        if self.server is not None:
            self.server.close()
        limit = time.monotonic() + (self.opts.shutdown_timeout if deadline is None else deadline)
        log.info("draining %d connections", len(self.active))
        while self.active and time.monotonic() < limit:
            await asyncio.sleep(0.05)
        for act in list(self.active.values()):
            act.abort("shutdown deadline")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        for t in self._bg:
            t.cancel()
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- background ----------------------------------------------------------------------------
    async def _reaper(self) -> None:
        step = min(1.0, self.opts.idle_timeout / 4)
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            for act in list(self.active.values()):
                if now - act.last > self.opts.idle_timeout and act.forced is None:
                    act.abort("idle timeout")

    def _update_expiry(self) -> None:
        self.metrics.expiry.labels(self.opts.mode).set(self.store.expiry_seconds())
        warning = self.store.expiry_warning()
        if warning and (self._warned_at == 0.0 or time.monotonic() - self._warned_at > 3600):
            self._warned_at = time.monotonic()
            log.warning("%s", warning)

    async def _reloader(self) -> None:
        while True:
            await asyncio.sleep(self.opts.reload_interval)
            self.reload()

    def reload(self, force: bool = False) -> bool | None:
        res = self.store.force() if force else self.store.poll()
        if res is not None:
            self.metrics.reloads.labels(self.opts.mode, "ok" if res else "failed").inc()
            if res:
                self._warned_at = 0.0
        self._update_expiry()
        return res

    # -- connections -----------------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _new_flow(self, source: object, destination: object) -> Flow:
        return Flow(secrets.token_hex(8), self.opts.mode, str(self.bound or self.opts.listen), str(self.opts.target),
                    source, destination)

    def _finish(self, flow: Flow, act: _Active | None = None) -> None:
        flow.end = datetime.now(UTC)
        if act is not None:
            self.active.pop(flow.id, None)
            self._done_bytes[0] += flow.bytes_from_source
            self._done_bytes[1] += flow.bytes_to_source
            self.metrics.active.labels(self.opts.mode).dec()
            if act.forced and not flow.reason:
                flow.reason = act.forced
        self.totals[flow.result] = self.totals.get(flow.result, 0) + 1
        self.metrics.connections.labels(self.opts.mode, flow.result).inc()
        self.sink.emit(flow.record("denied" if flow.result == "denied" else "end"))

    def _unexpected(self, flow: Flow, act: _Active, exc: Exception) -> None:
        flow.result, flow.reason = "error", f"internal error: {type(exc).__name__}: {str(exc)[:200]}"
        log.error("connection %s: unexpected %s", flow.id, type(exc).__name__, exc_info=exc)
        for c in act.conns:
            c.abort()

    def _admit(self, flow: Flow) -> _Active | None:
        if self.draining or len(self.active) >= self.opts.max_connections:
            flow.result, flow.reason = "error", ("shutting down" if self.draining else
                                                 f"max connections ({self.opts.max_connections}) reached")
            self._finish(flow)
            return None
        act = _Active(flow)
        self.active[flow.id] = act
        self.metrics.active.labels(self.opts.mode).inc()
        return act

    def _tls_protocol(self) -> TlsConn:
        conn = TlsConn(self.store.current.context, server_side=True, max_buffer=self.opts.max_buffer)
        self._spawn(self._serve_tls(conn))
        return conn

    async def _handshake(self, flow: Flow, conn: TlsConn) -> bool:
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.shield(conn.handshake), self.opts.handshake_timeout)
        except (TimeoutError, ssl.SSLError, OSError) as exc:
            flow.result, flow.reason = _classify(exc)
            if not conn.handshake.done():
                conn.handshake.cancel()
            conn.abort()
            return False
        elapsed = time.perf_counter() - t0
        flow.handshake_ms = elapsed * 1000
        self.metrics.handshake.labels(self.opts.mode).observe(elapsed)
        flow.tls_version, flow.cipher = conn.version(), conn.cipher()
        der = conn.peer_der()
        if der is None:
            flow.result, flow.reason = "denied", "the peer sent no certificate"
            conn.close()
            return False
        try:
            flow.peer = peer_from_der(der)
        except IdentityError as exc:
            flow.result, flow.reason = "denied", str(exc)
            conn.close()
            return False
        if self.opts.mode == "client" and self.opts.allow.empty:
            flow.reason = "server name verified"
            return True
        ok, why = self.opts.allow.check(flow.peer)
        flow.reason = why
        if not ok:
            flow.result = "denied"
            conn.close()
            log.warning("denied %s from %s: %s", flow.id, flow.source, why)
        return ok

    async def _serve_tls(self, conn: TlsConn) -> None:
        try:
            await conn.connected
        except OSError:
            return
        assert conn.transport is not None
        flow = self._new_flow(conn.transport.get_extra_info("peername"), conn.transport.get_extra_info("sockname"))
        act = self._admit(flow)
        if act is None:
            conn.abort()
            return
        act.conns.append(conn)
        try:
            if not await self._handshake(flow, conn):
                return
            try:
                plain = await asyncio.wait_for(self._open_target(), self.opts.connect_timeout)
            except (OSError, TimeoutError) as exc:
                flow.result, flow.reason = "error", f"target {self.opts.target} unreachable: {exc or 'timeout'}"
                conn.close()
                return
            act.conns.append(plain)
            await self._relay(act, conn, plain)
        except Exception as exc:  # noqa: BLE001 - one connection's bug must not go unrecorded or kill others
            self._unexpected(flow, act, exc)
        finally:
            self._finish(flow, act)

    async def _open_target(self) -> PlainConn:
        loop = asyncio.get_running_loop()
        t = self.opts.target
        conn: PlainConn
        if t.path is not None:
            _, conn = await loop.create_unix_connection(lambda: PlainConn(self.opts.max_buffer), t.path)
        else:
            assert t.host is not None and t.port is not None  # parse(): HOST:PORT when not unix:
            _, conn = await loop.create_connection(lambda: PlainConn(self.opts.max_buffer), t.host, t.port)
        return conn

    def _plain_protocol(self) -> PlainConn:
        conn = PlainConn(self.opts.max_buffer)
        self._spawn(self._accept_plain(conn))
        return conn

    async def _accept_plain(self, plain: PlainConn) -> None:
        try:
            await plain.connected
        except OSError:
            return
        assert plain.transport is not None
        flow = self._new_flow(plain.transport.get_extra_info("peername"), plain.transport.get_extra_info("sockname"))
        act = self._admit(flow)
        if act is None:
            plain.abort()
            return
        act.conns.append(plain)
        try:
            loop = asyncio.get_running_loop()
            t = self.opts.target
            assert t.host is not None and t.port is not None  # Options.check: client targets are HOST:PORT
            sni = self.opts.server_name or t.host
            ctx = self.store.current.context
            try:
                _, tls = await asyncio.wait_for(loop.create_connection(
                    lambda: TlsConn(ctx, server_side=False, server_hostname=sni, max_buffer=self.opts.max_buffer),
                    t.host, t.port), self.opts.connect_timeout)
            except (OSError, TimeoutError) as exc:
                flow.result, flow.reason = "error", f"target {t} unreachable: {exc or 'timeout'}"
                plain.abort()
                return
            act.conns.append(tls)
            flow.destination = tls.transport.get_extra_info("peername") if tls.transport else flow.destination
            if not await self._handshake(flow, tls):
                plain.abort()
                return
            await self._relay(act, plain, tls)
        except Exception as exc:  # noqa: BLE001 - one connection's bug must not go unrecorded or kill others
            self._unexpected(flow, act, exc)
        finally:
            self._finish(flow, act)

    async def _relay(self, act: _Active, source: Conn, other: Conn) -> None:
        """Forward both ways until both sides have sent EOF; an error on either side ends both."""
        flow = act.flow
        flow.result = "allowed"
        self.sink.emit(flow.record("start"))

        def inbound(n: int) -> None:  # per chunk: keep it to two stores (metrics read the flows at scrape time)
            flow.bytes_from_source += n
            act.last = time.monotonic()

        def outbound(n: int) -> None:
            flow.bytes_to_source += n
            act.last = time.monotonic()

        plain, tls = (source, other) if isinstance(source, PlainConn) else (other, source)
        assert isinstance(plain, PlainConn) and isinstance(tls, TlsConn)
        splice = Splice(plain, tls, *((inbound, outbound) if plain is source else (outbound, inbound)))
        try:
            await splice.done
        except (ssl.SSLError, OSError) as exc:
            if act.forced is None:
                # TLS 1.3: the server's verdict on our certificate arrives as an alert after our handshake
                if isinstance(exc, ssl.SSLError) and _classify(exc)[0] == "denied":
                    flow.result, flow.reason = "denied", f"refused by the peer: {str(exc)[:300]}"
                else:
                    flow.result, flow.reason = "error", f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            for c in (source, other):
                if isinstance(c, TlsConn) and c.unclean_eof:
                    flow.unclean_eof = True
                c.close()
            if act.forced:
                flow.reason = act.forced

    def byte_totals(self) -> dict[tuple[str, str], int]:
        """Bytes each way so far: ended connections plus what the open ones have moved."""
        live = list(self.active.values())
        mode = self.opts.mode
        return {(mode, "in"): self._done_bytes[0] + sum(a.flow.bytes_from_source for a in live),
                (mode, "out"): self._done_bytes[1] + sum(a.flow.bytes_to_source for a in live)}

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        cur = self.store.current
        now = datetime.now(UTC)
        return {
            "mode": self.opts.mode, "listen": str(self.bound or self.opts.listen), "target": str(self.opts.target),
            "draining": self.draining, "started": self.started.isoformat(),
            "certificate": {"subject": cur.subject, "not_after": cur.not_after.isoformat(),
                            "expires_in_seconds": int((cur.not_after - now).total_seconds()),
                            "generation": cur.generation, "reloads": self.store.reloads,
                            "reload_errors": self.store.reload_errors, "last_error": self.store.last_error},
            "totals": dict(self.totals),
            "active_connections": len(self.active),
            "connections": [{"id": a.flow.id, "peer": a.flow.peer.summary() if a.flow.peer else None,
                             "source": a.flow.record("start")["source"].get("address"),
                             "start": a.flow.start.isoformat(), "bytes_in": a.flow.bytes_from_source,
                             "bytes_out": a.flow.bytes_to_source} for a in list(self.active.values())[:1000]],
        }

    def healthy(self) -> bool:
        return not self.draining and self.store.expiry_seconds() > 0

