"""The tamper-evident audit log: RFC 6962 Merkle leaves, signed checkpoints, offline proofs.

``record()`` is how mamori's own components log a decision or an action; it appends
synchronously (durable on return) to the log set with :func:`use`, or the default store.
"""

from __future__ import annotations

import threading
from typing import Any

from mamori.audit.entry import EntryError, NewEntry, new_entry
from mamori.audit.log import AuditLog, open_log

__all__ = ["AuditLog", "EntryError", "NewEntry", "new_entry", "open_log", "record", "use"]

_default: AuditLog | None = None
_lock = threading.Lock()


def use(log: AuditLog | None) -> None:
    """Make ``log`` the target of :func:`record` (None: open the default store on first use)."""
    global _default
    _default = log


def record(event_type: str, payload: dict[str, Any], *, source: str = "mamori", container: str | None = None,
           image: str | None = None, time: str | None = None) -> int:
    """Append one entry for mamori itself; returns its sequence number once it is committed."""
    global _default
    with _lock:
        if _default is None:
            _default = open_log()
        log = _default
    obj: dict[str, Any] = {"type": event_type, "payload": payload, "container": container, "image": image,
                           "time": time}
    return log.append([new_entry({k: v for k, v in obj.items() if v is not None}, source)])[0]
