"""Server-side TLS over a plain asyncio stream (ssl.SSLObject on memory BIOs).

Why not ``start_server(ssl=...)``: under uvloop (what ``mamori serve`` runs on) the TLS transport
discards received data when the peer closes while the application has paused reading (uvloop
PR #385 closes on a TCP EOF without close_notify; PR #661 describes the loss when reading is
paused). The syslog collector pauses reading on purpose (back-pressure), and syslog senders close
whenever they like, so acknowledged-by-TCP messages would vanish. Here the TCP transport is paused
instead: the kernel keeps the bytes and the FIN behind them, and nothing is read past what was
processed.
"""

from __future__ import annotations

import asyncio
import ssl

MAX_READ = 256 * 1024


class TlsStream:
    def __init__(self, ctx: ssl.SSLContext, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self._in, self._out, server_side=True)
        self.reader, self.writer = reader, writer
        self._eof = False

    async def _flush(self) -> None:
        data = self._out.read()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def _fill(self) -> bool:
        data = await self.reader.read(MAX_READ)
        if not data:
            self._in.write_eof()
            return False
        self._in.write(data)
        return True

    async def handshake(self, timeout: float = 10.0) -> None:
        """Complete the server handshake (raises ssl.SSLError, ConnectionError or TimeoutError)."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    self.obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    await self._flush()
                    if not await self._fill():
                        raise ConnectionError("the peer closed the connection during the TLS handshake") from None
                except ssl.SSLError:
                    await self._flush()  # let the peer see the alert
                    raise
            await self._flush()

    def peer_der(self) -> bytes | None:
        return self.obj.getpeercert(binary_form=True)

    async def read(self, n: int = MAX_READ) -> bytes:
        """Up to ``n`` decrypted octets; b"" at the end (close_notify, or TCP EOF without one)."""
        if self._eof:
            return b""
        chunks: list[bytes] = []
        size = 0
        while size < n:
            try:
                data = self.obj.read(n - size)
            except ssl.SSLWantReadError:
                if chunks:
                    break
                await self._flush()  # post-handshake messages (key updates) may need an answer
                if not await self._fill():
                    continue  # the BIO now reports EOF: the next read ends the stream
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self._eof = True
                break
            if not data:
                self._eof = True
                break
            chunks.append(data)
            size += len(data)
        return b"".join(chunks)
