"""Small HTTP pieces every endpoint needs: a bounded body reader and a JSON access log."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

access_log = logging.getLogger("mamori.access")


class BodyTooLarge(ValueError):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes whatever Content-Length claims."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class AccessLog:
    """ASGI middleware: one JSON line per request (time, method, path, status, duration, peer, bytes)."""

    def __init__(self, app: ASGIApp, listener: str) -> None:
        self.app = app
        self.listener = listener

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        sent = 0

        async def wrapped(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            client = scope.get("client")
            access_log.info(json.dumps({
                "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "listener": self.listener,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                "peer": f"{client[0]}:{client[1]}" if client else None,
                "bytes_out": sent,
            }, separators=(",", ":")))


def configure_logging(level: str, access: bool) -> None:
    """JSON lines on stderr: access records as they are, other records wrapped as JSON."""

    class _Json(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            if record.name == "mamori.access":
                return record.getMessage()
            out: dict[str, Any] = {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
            if record.exc_info:
                out["error"] = self.formatException(record.exc_info).splitlines()[-1]
            return json.dumps(out, separators=(",", ":"))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Json())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    access_log.setLevel(logging.INFO if access else logging.WARNING)


class TlsScopeProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, plus the verified client certificate subject in the ASGI TLS extension.

    uvicorn does not show the peer certificate to the app; an mTLS listener created with
    ``uvicorn.Config(..., http=TlsScopeProtocol)`` lets the collector use ``cert:<subject>`` as source.
    """

    _subject: str | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        ssl_obj = transport.get_extra_info("ssl_object")
        der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
        if der:
            from cryptography import x509

            self._subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._subject:
            self.scope["extensions"] = {"tls": {"client_subject": self._subject}}
