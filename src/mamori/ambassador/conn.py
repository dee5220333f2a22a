"""Byte streams with one interface for plaintext and TLS: read, write, drain, write_eof, close.

asyncio's own TLS transport cannot half-close (``write_eof`` is not implemented and an EOF
from the peer shuts the whole connection), which breaks request/response protocols that
signal the end of a request with a half-close. ``TlsConn`` therefore drives an
``ssl.SSLObject`` over memory BIOs itself: ``write_eof`` sends close_notify and a TCP FIN
while reading goes on, and the peer's close_notify is an EOF on the read side only.
Both kinds are buffered protocols reading into one per-thread buffer, and both directions are
bounded: reading pauses once ``max_buffer`` bytes wait, and ``drain`` waits while the
transport's write buffer is above its high-water mark.

The relay does not go through ``read``/``write`` coroutines: :class:`Splice` forwards inside
the protocol callbacks (received plaintext is encrypted straight out of the read buffer,
decrypted records go to the other socket in one ``writelines``), and back-pressure is the
destination's ``pause_writing`` pausing the source's reading. That saves a queue, a future
and a task step per chunk (about a tenth of a proxy's CPU per byte; most of the rest is the
TLS record path and the socket copies, see docs/ambassador.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol, cast

CHUNK = 64 * 1024
RECORD = 16 * 1024  # the largest TLS plaintext record: one SSLObject.read never returns more
READ_SIZE = 256 * 1024  # one recv: large reads mean fewer callbacks, TLS writes of 16 records at once

_local = threading.local()


def _read_buffer() -> memoryview:
    """The buffer every recv of this thread's loop lands in.

    A loop fills it (get_buffer) and hands it over (buffer_updated) back to back, and every
    consumer copies or encrypts it before returning, so one buffer serves all connections of
    a loop: memory does not grow with the connection count.
    """
    mv: memoryview | None = getattr(_local, "buf", None)
    if mv is None:
        mv = _local.buf = memoryview(bytearray(READ_SIZE))
    return mv


class Conn(Protocol):
    async def read(self, n: int = CHUNK) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def write_eof(self) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class _Buffered(asyncio.BufferedProtocol):
    """Receive queue, flow control and drain shared by the plaintext and the TLS side."""

    def __init__(self, max_buffer: int) -> None:
        loop = asyncio.get_running_loop()
        self.max_buffer = max_buffer
        self.transport: asyncio.Transport | None = None
        self.connected: asyncio.Future[None] = loop.create_future()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self._lost = False
        self._error: BaseException | None = None
        self._read_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False
        self._splice: Splice | None = None
        self._peer: _Buffered | None = None
        self._buf = _read_buffer()  # protocols are made on their loop's thread

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buf

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.transport.set_write_buffer_limits(high=self.max_buffer)
        if not self.connected.done():
            self.connected.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._eof = True
        if not self.connected.done():
            self.connected.set_exception(exc or ConnectionResetError("connection lost"))
        self._wake_reader()
        self._wake_drain(exc)
        if self._splice is not None:
            # Nothing more comes from this side: an EOF, as for the queue's readers; data still
            # on its way here fails when it is written (a reset after the last answer is not an error).
            self._splice.eof(self)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._peer is not None:
            self._peer._pause_source()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain(None)
        if self._peer is not None:
            self._peer._resume_source()

    def _pause_source(self) -> None:
        if not self._read_paused and self.transport is not None and not self._lost:
            self._read_paused = True
            self.transport.pause_reading()

    def _resume_source(self) -> None:
        if self._read_paused and self.transport is not None and not self._lost:
            self._read_paused = False
            self.transport.resume_reading()

    def _queue(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)

    def _check_pause(self) -> None:
        if self._buffered >= self.max_buffer and not self._read_paused and self.transport is not None \
                and not self._lost:
            self._read_paused = True
            self.transport.pause_reading()

    def _refill(self) -> None:
        """Move data held below the queue (the TLS read BIO) into it; nothing for plaintext."""

    def _wake_reader(self) -> None:
        w, self._read_waiter = self._read_waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    def _wake_drain(self, exc: BaseException | None) -> None:
        w, self._drain_waiter = self._drain_waiter, None
        if w is not None and not w.done():
            if exc is not None:
                w.set_exception(exc)
            else:
                w.set_result(None)

    async def read(self, n: int = CHUNK) -> bytes:
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._eof:
                self._refill()  # records may still sit in the BIO behind a paused read, even after the close
                if not self._chunks:
                    return b""
                break
            self._read_waiter = asyncio.get_running_loop().create_future()
            await self._read_waiter
        data = self._take(n)
        if self._read_paused and self._buffered < self.max_buffer // 2 and self.transport is not None:
            self._read_paused = False
            if not self._lost:
                self.transport.resume_reading()
            self._refill()
        return data

    def _take(self, n: int) -> bytes:
        """Up to ``n`` bytes: whole chunks joined (one copy), a chunk split only when it alone exceeds ``n``."""
        first = self._chunks[0]
        if len(first) >= n or len(self._chunks) == 1:
            if len(first) > n:
                self._chunks[0] = first[n:]
                first = first[:n]
            else:
                self._chunks.popleft()
            self._buffered -= len(first)
            return first
        parts: list[bytes] = []
        size = 0
        while self._chunks and size + len(self._chunks[0]) <= n:
            c = self._chunks.popleft()
            parts.append(c)
            size += len(c)
        self._buffered -= size
        return b"".join(parts)

    async def drain(self) -> None:
        if self._lost:
            raise ConnectionResetError("connection lost")
        if self._write_paused:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class PlainConn(_Buffered):
    """A TCP or unix stream (the local application's side)."""

    def buffer_updated(self, nbytes: int) -> None:
        data = self._buf[:nbytes]
        if self._splice is not None:
            self._splice.from_plain(data)
            return
        self._queue(bytes(data))
        self._check_pause()
        self._wake_reader()

    def eof_received(self) -> bool:
        self._eof = True
        if self._splice is not None:
            self._splice.eof(self)
        self._wake_reader()
        return True  # keep our write side open: a half-close is not the end of the connection

    def write(self, data: bytes) -> None:
        if self._lost or self.transport is None:
            raise ConnectionResetError("connection lost")
        self.transport.write(data)

    def write_many(self, chunks: list[bytes]) -> None:
        """One writev for many chunks (uvloop); no join copy."""
        if self._lost or self.transport is None:
            raise ConnectionResetError("connection lost")
        self.transport.writelines(chunks)

    def write_eof(self) -> None:
        t = self.transport
        if t is not None and not self._lost and t.can_write_eof() and not t.is_closing():
            with contextlib.suppress(OSError):
                t.write_eof()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class TlsConn(_Buffered):
    """TLS over a raw transport; ``handshake`` resolves when the handshake is done (or fails)."""

    def __init__(self, ctx: ssl.SSLContext, server_side: bool, server_hostname: str | None = None,
                 max_buffer: int = 256 * 1024) -> None:
        super().__init__(max_buffer)
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.sslobj = ctx.wrap_bio(self._in, self._out, server_side=server_side, server_hostname=server_hostname)
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # a failure nobody awaits (a connection cut before its handshake) is not an unhandled error
        self.handshake.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._sent_eof = False
        self.unclean_eof = False
        self._session: tuple[bytes | None, str | None, str | None] = (None, None, None)

    # -- protocol callbacks --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._step_handshake()

    def buffer_updated(self, nbytes: int) -> None:
        self._in.write(self._buf[:nbytes])
        if not self.handshake.done():
            self._step_handshake()
        elif self._splice is not None:
            self._forward()
        else:
            self._pull()

    def eof_received(self) -> bool:
        self._in.write_eof()
        if not self.handshake.done():
            self._step_handshake()
            if not self.handshake.done():
                self.handshake.set_exception(ConnectionResetError("the peer closed during the handshake"))
        elif self._splice is not None:
            self._forward(final=True)
            self._eof = True
            self._splice.eof(self)
        else:
            self._pull()
            self._eof = True
            self._wake_reader()
        return True  # keep our write side open: a half-close is not the end of the connection

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionResetError("connection closed during the handshake"))
        super().connection_lost(exc)

    # -- TLS engine -----------------------------------------------------------------------
    def _flush(self) -> None:
        data = self._out.read()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _step_handshake(self) -> None:
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as exc:
            self._flush()  # send the alert so that the peer learns why
            if not self.handshake.done():
                self.handshake.set_exception(exc)
            return
        self._flush()
        # Taken now: an alert read right after (TLS 1.3 refusals) leaves the session unusable for queries.
        c = self.sslobj.cipher()
        self._session = (self.sslobj.getpeercert(binary_form=True), self.sslobj.version(), c[0] if c else None)
        if not self.handshake.done():
            self.handshake.set_result(None)
        self._pull()

    def _refill(self) -> None:
        self._pull()

    def _forward(self, final: bool = False) -> None:
        """Spliced: decrypt every complete record in the BIO and hand them on in one write.

        Reading stops when neither the BIO nor OpenSSL holds anything (OpenSSL does not read
        ahead of the record it decodes), sparing the SSLWantReadError that would end the loop
        otherwise; ``final`` (EOF written to the BIO) reads once more to tell close_notify from
        a bare FIN.
        """
        assert self._splice is not None
        records: list[bytes] = []
        size = 0
        eof = False
        error: BaseException | None = None
        sslobj, bio = self.sslobj, self._in
        read = sslobj.read
        while True:
            if not final and not bio.pending and not sslobj.pending():
                break
            try:
                chunk = read(RECORD)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                eof = True
                break
            except ssl.SSLEOFError:
                eof = self.unclean_eof = True
                break
            except (ssl.SSLError, OSError) as exc:
                error = exc
                break
            if not chunk:
                eof = True
                break
            records.append(chunk)
            size += len(chunk)
        self._flush()  # TLS 1.3 may answer (key update)
        if records:
            self._splice.from_tls(records, size)
        if error is not None:
            self._error = error
            self._splice.fail(error)
        elif eof:
            self._eof = True
            self._splice.eof(self)

    def _pull(self) -> None:
        while self._buffered < self.max_buffer:
            try:
                chunk = self.sslobj.read(RECORD)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self._eof = True
                break
            except ssl.SSLEOFError:
                self._eof = self.unclean_eof = True  # FIN without close_notify: an EOF, noted in the record
                break
            except (ssl.SSLError, OSError) as exc:
                self._error = exc
                break
            if not chunk:
                self._eof = True
                break
            self._queue(chunk)
        self._flush()  # TLS 1.3 may answer (key update, tickets)
        self._check_pause()
        self._wake_reader()

    # -- stream interface -------------------------------------------------------------------
    def write(self, data: bytes | memoryview) -> None:
        if self._error is not None:
            raise self._error  # the reason the session failed (an alert), not a symptom of it
        if self._sent_eof or self._lost:
            raise ConnectionResetError("write after close")
        n = self.sslobj.write(data)  # a memory BIO takes everything in one call
        if n < len(data):
            view = memoryview(data)[n:]
            while view:
                view = view[self.sslobj.write(view):]
        self._flush()

    def write_eof(self) -> None:
        """close_notify and FIN; the read side stays open for the peer's answer."""
        if self._sent_eof or self._lost or self.transport is None:
            return
        self._sent_eof = True
        with contextlib.suppress(ssl.SSLError, OSError):  # WantRead: close_notify queued, the peer's comes later
            self.sslobj.unwrap()
        self._flush()
        if self.transport.can_write_eof() and not self.transport.is_closing():
            with contextlib.suppress(OSError):
                self.transport.write_eof()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if not self._sent_eof and self.handshake.done() and not self.handshake.exception():
                self._sent_eof = True
                with contextlib.suppress(ssl.SSLError, OSError):
                    self.sslobj.unwrap()
                self._flush()
            self.transport.close()

    # -- what the flow record says about the session -------------------------------------------
    def peer_der(self) -> bytes | None:
        return self._session[0]

    def version(self) -> str | None:
        return self._session[1]

    def cipher(self) -> str | None:
        return self._session[2]


class Splice:
    """Both directions of one relay, forwarded inside the protocol callbacks.

    ``done`` resolves when both sides have sent EOF (each EOF is passed on as a half-close)
    and fails with the first error of either side. Counters get the bytes forwarded from
    each side. Back-pressure: a side whose transport cannot take more pauses the other's
    reading (its own ``pause_writing``), so at most one read's worth sits above the
    transport's high-water mark.
    """

    def __init__(self, plain: PlainConn, tls: TlsConn, from_plain: Callable[[int], None],
                 from_tls: Callable[[int], None]) -> None:
        self.plain, self.tls = plain, tls
        self._count_plain, self._count_tls = from_plain, from_tls
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._open: set[int] = {id(plain), id(tls)}  # sides whose EOF has not been seen
        plain._splice, tls._splice = self, self
        plain._peer, tls._peer = tls, plain
        self._start()

    def _start(self) -> None:
        """Hand on what the queues hold from before the splice, then read freely."""
        plain, tls = self.plain, self.tls
        try:
            while plain._chunks:
                chunk = plain._chunks.popleft()
                tls.write(chunk)
                self._count_plain(len(chunk))
            plain._buffered = 0
            if tls._chunks:
                chunks = list(tls._chunks)
                tls._chunks.clear()
                tls._buffered = 0
                plain.write_many(chunks)
                self._count_tls(sum(map(len, chunks)))
        except (ssl.SSLError, OSError) as exc:
            self.fail(exc)
            return
        if tls._error is not None:
            self.fail(tls._error)
            return
        for side, dst in ((plain, tls), (tls, plain)):
            if side._eof:
                self.eof(side)
            elif dst._write_paused:
                side._pause_source()
            else:
                side._resume_source()
        if not tls._eof and not tls._lost:
            tls._forward()  # records left in the BIO when the queue paused reading

    def from_plain(self, data: memoryview) -> None:
        if self.done.done():
            return
        try:
            self.tls.write(data)  # encrypted before returning: the read buffer may be reused
        except (ssl.SSLError, OSError) as exc:
            self.fail(exc)
            return
        self._count_plain(len(data))

    def from_tls(self, records: list[bytes], size: int) -> None:
        if self.done.done():
            return
        try:
            self.plain.write_many(records)
        except OSError as exc:
            self.fail(exc)
            return
        self._count_tls(size)

    def eof(self, side: _Buffered) -> None:
        if id(side) not in self._open or self.done.done():
            return
        self._open.discard(id(side))
        (self.tls if side is self.plain else self.plain).write_eof()
        if not self._open:
            self.done.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
