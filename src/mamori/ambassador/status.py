"""The status endpoint: ``/healthz``, ``/metrics`` (Prometheus text) and ``/status`` (JSON).

A few lines of HTTP/1.0 on the ambassador's own event loop rather than a web framework:
it serves three GETs to a scraper on loopback, and reads at most one bounded request line
and headers per connection with a timeout, so a slow or hostile client costs nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

MAX_HEAD = 8 * 1024
TIMEOUT = 5.0


def _response(status: str, body: bytes, ctype: str) -> bytes:
    head = (f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class StatusServer:
    def __init__(self, registry: CollectorRegistry, status: Callable[[], dict[str, Any]],
                 healthy: Callable[[], bool]) -> None:
        self.registry, self.status, self.healthy = registry, status, healthy
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._handle, host, port, limit=MAX_HEAD)
        addr = self.server.sockets[0].getsockname()
        return str(addr[0]), int(addr[1])

    def answer(self, path: str) -> bytes:
        path = path.split("?", 1)[0]
        if path == "/healthz":
            ok = self.healthy()
            return _response("200 OK" if ok else "503 Service Unavailable", b"ok\n" if ok else b"unhealthy\n",
                             "text/plain; charset=utf-8")
        if path == "/metrics":
            return _response("200 OK", generate_latest(self.registry), CONTENT_TYPE_LATEST)
        if path == "/status":
            body = json.dumps(self.status(), indent=2, sort_keys=True).encode() + b"\n"
            return _response("200 OK", body, "application/json")
        return _response("404 Not Found", b"not found: try /healthz, /metrics or /status\n", "text/plain")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            if len(parts) != 3 or parts[0] not in (b"GET", b"HEAD"):
                writer.write(_response("405 Method Not Allowed", b"GET only\n", "text/plain"))
            else:
                out = self.answer(parts[1].decode("ascii", "replace"))
                writer.write(out.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" if parts[0] == b"HEAD" else out)
            await asyncio.wait_for(writer.drain(), TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, ValueError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
