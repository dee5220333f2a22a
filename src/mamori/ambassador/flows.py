"""Flow records: one JSON object per connection event, in Elastic Common Schema (ECS 8.x) fields.

ECS was chosen over OpenTelemetry because it has a settled vocabulary for exactly this
(``event.*``, ``source.*``, ``destination.*``, ``network.*``, ``tls.*`` including the
peer's ``x509`` identity), and SIEMs ingest it as is. mamori-specific facts (the listener,
the proxy target, the allow/deny result and its reason) live under ``mamori.ambassador.*``.
Records go to a JSON-lines file (or stderr) and, with an audit store, to mamori's
tamper-evident audit log as entries of type ``mamori.ambassador.flow``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from mamori.ambassador.identity import Peer

log = logging.getLogger("mamori.ambassador")

ECS_VERSION = "8.11.0"
FLOW_ENTRY = "mamori.ambassador.flow"
MAX_REASON = 500


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _split(addr: object) -> dict[str, Any]:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return {"ip": str(addr[0]), "port": int(addr[1]), "address": f"{addr[0]}:{addr[1]}"}
    if isinstance(addr, str) and addr:
        return {"address": f"unix:{addr}"}
    return {}


@dataclass(slots=True)
class Flow:
    """One connection as it happens (mutable: bytes are counted while it runs)."""

    id: str
    mode: str  # server | client
    listener: str
    target: str
    source: object
    destination: object
    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    end: datetime | None = None
    peer: Peer | None = None
    tls_version: str | None = None
    cipher: str | None = None
    handshake_ms: float | None = None
    bytes_from_source: int = 0  # client -> server direction
    bytes_to_source: int = 0
    result: str = "error"  # allowed | denied | error
    reason: str = ""
    unclean_eof: bool = False

    def record(self, phase: str) -> dict[str, Any]:
        """The ECS document for ``phase`` (start, end or denied)."""
        end = self.end or datetime.now(UTC)
        outcome = "success" if self.result == "allowed" else "failure"
        event: dict[str, Any] = {
            "kind": "event", "category": ["network"], "type": ["connection", phase if phase != "denied" else "denied"],
            "action": f"ambassador-{phase}", "outcome": "unknown" if phase == "start" else outcome,
            "dataset": "mamori.ambassador", "module": "mamori", "start": _ts(self.start), "id": self.id}
        if phase != "start":
            event["end"] = _ts(end)
            event["duration"] = int((end - self.start).total_seconds() * 1e9)
        if self.reason:
            event["reason"] = self.reason[:MAX_REASON]
        src = _split(self.source)
        dst = _split(self.destination)
        if phase != "start":
            src["bytes"] = self.bytes_from_source
            dst["bytes"] = self.bytes_to_source
        doc: dict[str, Any] = {
            "@timestamp": _ts(end if phase != "start" else self.start),
            "ecs": {"version": ECS_VERSION},
            "event": event,
            "source": src, "destination": dst,
            "network": {"transport": "tcp", "protocol": "tls", "type": "ipv6" if ":" in str(src.get("ip", ""))
                        else "ipv4"},
            "service": {"name": "mamori-ambassador", "type": self.mode},
            "mamori": {"ambassador": {"mode": self.mode, "listener": self.listener, "target": self.target,
                                      "result": self.result if phase != "start" else "allowed",
                                      "reason": self.reason[:MAX_REASON],
                                      **({"handshake_ms": round(self.handshake_ms, 3)}
                                         if self.handshake_ms is not None else {}),
                                      **({"unclean_eof": True} if self.unclean_eof else {})}},
        }
        if phase != "start":
            doc["network"]["bytes"] = self.bytes_from_source + self.bytes_to_source
        tls: dict[str, Any] = {"established": self.tls_version is not None}
        if self.tls_version:
            name, _, ver = self.tls_version.partition("v")
            tls.update({"version_protocol": name.lower(), "version": ver, "cipher": self.cipher})
        if self.peer is not None:
            p = self.peer
            side = {"subject": p.subject, "not_after": _ts(p.not_after), "hash": {"sha256": p.sha256.upper()},
                    "x509": {"serial_number": p.serial.upper(), "subject": {"distinguished_name": p.subject,
                                                                            **({"common_name": [p.common_name]}
                                                                               if p.common_name else {})},
                             "alternative_names": list(p.uris) + list(p.dns)}}
            # In server mode the peer is the TLS client; in client mode it is the TLS server.
            tls["client" if self.mode == "server" else "server"] = side
            if p.spiffe_id:
                doc["mamori"]["ambassador"]["peer_spiffe_id"] = p.spiffe_id
        doc["tls"] = tls
        return doc


class FlowSink:
    """Writes records as JSON lines; an audit writer, when given, gets them too (off the event loop)."""

    def __init__(self, path: str | None = None, stream: TextIO | None = None, audit: Any = None) -> None:
        self._lock = threading.Lock()
        self._own = path is not None and path != "-"
        if self._own:
            assert path is not None
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            self.stream: TextIO | None = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        else:
            self.stream = stream if stream is not None else (sys.stderr if path == "-" else None)
        self.audit = audit  # a mamori.audit.writer.GroupWriter
        self.written = 0
        self.audit_errors = 0

    def emit(self, doc: dict[str, Any]) -> None:
        line = json.dumps(doc, separators=(",", ":"), sort_keys=True)
        with self._lock:
            if self.stream is not None:
                try:
                    self.stream.write(line + "\n")
                except (OSError, ValueError) as exc:
                    log.error("flow record not written: %s", exc)
            self.written += 1
        if self.audit is not None:
            self._to_audit(doc)

    def _to_audit(self, doc: dict[str, Any]) -> None:
        from mamori.audit.entry import EntryError, new_entry
        from mamori.audit.writer import Busy

        try:
            self.audit.submit([new_entry({"type": FLOW_ENTRY, "time": doc["@timestamp"], "payload": doc},
                                         "mamori:ambassador")])
        except (Busy, EntryError) as exc:
            self.audit_errors += 1
            log.error("flow record %s not written to the audit log: %s", doc["event"]["id"], exc)

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()
        if self._own and self.stream is not None:
            self.stream.close()
