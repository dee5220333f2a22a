"""Shared pieces of the ambassador tests: a throw-away trust domain, backends, TLS clients."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamori.ambassador import svid
from mamori.ambassador.addr import parse
from mamori.ambassador.flows import FlowSink
from mamori.ambassador.identity import AllowList
from mamori.ambassador.proxy import Ambassador, Options
from mamori.ambassador.tls import Files

TD = "example.org"


@dataclass
class Pki:
    """A CA and named leaves written as PEM files under ``root``."""

    root: Path
    ca: svid.Pem = field(default_factory=lambda: svid.new_ca(TD))

    def __post_init__(self) -> None:
        (self.root / "ca.crt").write_bytes(self.ca.cert)

    @property
    def ca_file(self) -> str:
        return str(self.root / "ca.crt")

    def leaf(self, name: str, *, ca: svid.Pem | None = None, **kw: Any) -> Files:
        pem = svid.issue(ca or self.ca, **kw)
        (self.root / f"{name}.crt").write_bytes(pem.cert)
        (self.root / f"{name}.key").write_bytes(pem.key)
        return Files(str(self.root / f"{name}.crt"), str(self.root / f"{name}.key"), self.ca_file)

    def client_ctx(self, files: Files | None, *, server_name_check: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.check_hostname = server_name_check
        if files is not None:
            ctx.load_cert_chain(files.cert, files.key)
        return ctx


def server_leaf(pki: Pki, name: str = "server") -> Files:
    return pki.leaf(name, spiffe=f"spiffe://{TD}/ns/web/sa/server", dns=("localhost",))


def expired_kw() -> dict[str, Any]:
    return {"not_before": dt.datetime.now(dt.UTC) - dt.timedelta(hours=3), "lifetime": dt.timedelta(hours=1)}


class Backend:
    """A plaintext app: reads the request to EOF, answers ``sha256 length``, counts connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        h = hashlib.sha256()
        n = 0
        try:
            first = await r.read(65536)
            want = None
            if first.startswith(b"LEN "):  # a length-prefixed request: no half-close needed
                head, _, first = first.partition(b"\n")
                want = int(head[4:])
            h.update(first)
            n += len(first)
            while (want is None or n < want) and (chunk := await r.read(65536)):
                h.update(chunk)
                n += len(chunk)
            w.write(f"{h.hexdigest()} {n}".encode())
            await w.drain()
        except OSError:
            pass
        finally:
            w.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def answer(payload: bytes) -> bytes:
    return f"{hashlib.sha256(payload).hexdigest()} {len(payload)}".encode()


async def request(port: int, payload: bytes, ctx: ssl.SSLContext | None = None, server_hostname: str | None = None,
                  timeout: float = 20) -> bytes:
    """Send ``payload``, half-close, read the answer to EOF (over TLS when ``ctx`` is given)."""
    async def go() -> bytes:
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                             server_hostname=server_hostname if ctx else None)
        if ctx is None:
            w.write(payload)
            await w.drain()
            w.write_eof()
        else:
            # asyncio's own TLS cannot half-close: tell the backend the length instead
            w.write(b"LEN %d\n" % len(payload) + payload)
            await w.drain()
        out = await r.read()
        w.close()
        return out

    return await asyncio.wait_for(go(), timeout)


async def tls_halfclose_request(port: int, payload: bytes, ctx: ssl.SSLContext, timeout: float = 60) -> bytes:
    """Like :func:`request` over TLS with a real half-close (close_notify + FIN, then read the answer)."""
    from mamori.ambassador.conn import TlsConn

    async def go() -> bytes:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: TlsConn(ctx, False, "localhost"), "127.0.0.1", port)
        await conn.handshake
        view = memoryview(payload)
        for i in range(0, len(view), 1 << 20):
            conn.write(bytes(view[i:i + (1 << 20)]))
            await conn.drain()
        conn.write_eof()
        out = bytearray()
        while chunk := await conn.read():
            out += chunk
        conn.close()
        return bytes(out)

    return await asyncio.wait_for(go(), timeout)


class Records:
    def __init__(self) -> None:
        self.buf = io.StringIO()
        self.sink = FlowSink(stream=self.buf)

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buf.getvalue().splitlines()]

    def ends(self) -> list[dict[str, Any]]:
        return [r for r in self.all() if r["event"]["type"][1] in ("end", "denied")]


@asynccontextmanager
async def ambassador(mode: str, files: Files, target: str, allow: AllowList, records: Records,
                     **kw: Any) -> AsyncIterator[Ambassador]:
    amb = Ambassador(Options(mode, parse("127.0.0.1:0"), parse(target), files, allow, **kw), records.sink)
    await amb.start()
    try:
        yield amb
    finally:
        await amb.shutdown(1)
    reasons = [d["event"].get("reason", "") for d in records.all()]
    internal = [r for r in reasons if r.startswith("internal error")]
    assert not internal, internal  # an exception escaped the connection handling


async def settle(amb: Ambassador, timeout: float = 5) -> None:
    """Wait until the ambassador has no open connection (records are written at close)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while amb.active and loop.time() < end:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.02)
