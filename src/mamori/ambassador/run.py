"""Running an ambassador as a process: event loop, signals, status endpoint, flow sink, audit log."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from typing import Any

from mamori.ambassador.addr import Address
from mamori.ambassador.flows import FlowSink
from mamori.ambassador.proxy import Ambassador, Options
from mamori.ambassador.status import StatusServer

log = logging.getLogger("mamori.ambassador")


@dataclass(frozen=True, slots=True)
class RunConfig:
    opts: Options
    flow_log: str | None = "-"  # a file, "-" for stderr, None for none
    audit_db: str | None = None
    status: Address | None = None
    ready: str | None = None  # a file written with the bound addresses once listening (tests, scripts)


def open_sink(cfg: RunConfig) -> FlowSink:
    audit: Any = None
    if cfg.audit_db:
        from mamori.ambassador.proxy import ConfigError
        from mamori.audit.log import open_log
        from mamori.audit.writer import GroupWriter

        try:
            audit = GroupWriter(open_log(None if cfg.audit_db == "default" else cfg.audit_db))
        except Exception as exc:  # noqa: BLE001 - any store error: a clear message, not a traceback
            raise ConfigError(f"cannot open the audit store: {type(exc).__name__}: {str(exc)[:300]}") from None
    return FlowSink(cfg.flow_log, audit=audit)


async def serve(cfg: RunConfig, sink: FlowSink) -> None:
    amb = Ambassador(cfg.opts, sink)
    bound = await amb.start()
    status = None
    lines = [f"listen {bound}"]
    if cfg.status is not None:
        status = StatusServer(amb.metrics.registry, amb.status, amb.healthy)
        host, port = await status.start(cfg.status.host or "127.0.0.1", cfg.status.port or 0)
        lines.append(f"status {host}:{port}")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: amb.reload(force=True))
    if cfg.ready:
        with open(cfg.ready + ".tmp", "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        import os

        os.replace(cfg.ready + ".tmp", cfg.ready)
    for line in lines:
        log.info("%s", line)
    await stop.wait()
    log.info("shutting down: no new connections; draining %d for up to %gs", len(amb.active),
             cfg.opts.shutdown_timeout)
    await amb.shutdown()
    if status is not None:
        status.close()
    log.info("stopped (%s)", ", ".join(f"{k} {v}" for k, v in sorted(amb.totals.items())))


def run(cfg: RunConfig) -> None:
    """Blocks until SIGTERM/SIGINT and the drain are done."""
    sink = open_sink(cfg)
    try:
        try:
            import uvloop

            uvloop.run(serve(cfg, sink))
        except ImportError:
            asyncio.run(serve(cfg, sink))
    finally:
        sink.close()
