"""Run several listeners (HTTPS for Kubernetes, a unix socket for Docker) in one process.

uvicorn's per-server signal capture is replaced by one handler set for the whole process:
SIGTERM/SIGINT drain every listener, SIGHUP reloads the policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Protocol

import uvicorn
from starlette.types import ASGIApp

from mamori.server.http import AccessLog, TlsScopeProtocol
from mamori.server.state import ServerState

log = logging.getLogger("mamori.server")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # signals are handled once for all listeners by serve_all


@dataclass(frozen=True, slots=True)
class Listener:
    """A TCP address (with optional TLS) or a unix socket path, and the app served there."""

    name: str
    app: ASGIApp
    host: str | None = None
    port: int | None = None
    uds: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None


class Service(Protocol):
    """A non-HTTP listener (the syslog collector) that runs until stop() and then drains."""

    async def serve(self) -> None: ...

    def stop(self) -> None: ...


def unix_socket(path: str, mode: int = 0o600) -> socket.socket:
    """A listening unix socket only its owner can use (uvicorn would make it world-writable)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, mode)
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _config(lst: Listener) -> uvicorn.Config:
    kwargs: dict[str, object] = {}
    if lst.tls_cert:
        kwargs.update(ssl_certfile=lst.tls_cert, ssl_keyfile=lst.tls_key)
        if lst.tls_client_ca:
            kwargs.update(ssl_ca_certs=lst.tls_client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    # With client certificates, the protocol hands the verified subject to the app (source identity).
    http = TlsScopeProtocol if lst.tls_client_ca else "httptools"
    return uvicorn.Config(AccessLog(lst.app, lst.name), host=lst.host or "127.0.0.1", port=lst.port or 0,
                          loop="uvloop", http=http, lifespan="off", access_log=False, log_config=None,
                          timeout_graceful_shutdown=10, backlog=2048, **kwargs)  # type: ignore[arg-type]


async def serve_all(listeners: list[Listener], state: ServerState, services: Sequence[Service] = ()) -> None:
    servers = [_Server(_config(lst)) for lst in listeners]
    loop = asyncio.get_running_loop()

    def stop() -> None:
        log.info("shutting down: draining %d listener(s)", len(servers))
        state.ready = False
        for s in servers:
            s.should_exit = True
        for svc in services:
            svc.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    loop.add_signal_handler(signal.SIGHUP, state.reload)
    tasks = []
    for lst, server in zip(listeners, servers, strict=True):
        socks = [unix_socket(lst.uds)] if lst.uds else None
        tasks.append(asyncio.create_task(server.serve(sockets=socks)))
        where = lst.uds or f"{'https' if lst.tls_cert else 'http'}://{lst.host}:{lst.port}"
        log.info("%s listening on %s", lst.name, where)
    tasks.extend(asyncio.create_task(svc.serve()) for svc in services)
    try:
        await asyncio.gather(*tasks)
    finally:
        for lst in listeners:
            if lst.uds:
                with contextlib.suppress(OSError):
                    os.unlink(lst.uds)
