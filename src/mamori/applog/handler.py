"""``AuditHandler``: the standard ``logging`` module as a way into the audit log.

Existing applications (CSA-3.1.7.2) often already log logins and failures with ``logging``;
attaching this handler sends those records to the collector in the same ECS schema without
touching each call site. A record carrying ``extra={"audit": {"event": "authentication",
"outcome": "failure", "user": "alice"}}`` becomes that event kind with those fields; any other
record becomes an ``applog.log`` event (``log.level``, ``log.logger``, ``message`` and, with
``exc_info``, ``error.*``). The message is formatted and redacted before it leaves the process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from mamori.applog.logger import AuditLogger
from mamori.applog.schema import Outcome

_KINDS = ("authentication", "authorization", "action", "failure")


class AuditHandler(logging.Handler):
    """Forward records at or above ``level`` to ``audit`` (never blocks beyond its bounded enqueue)."""

    def __init__(self, audit: AuditLogger, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.audit = audit
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        # the logger's own warnings (collector down, drops) must not feed back into it
        if record.name.startswith("mamori.applog") or getattr(self._busy, "on", False):
            return
        self._busy.on = True
        try:
            self._emit(record)
        except Exception:  # noqa: BLE001 - logging's contract: report through handleError, never raise
            self.handleError(record)
        finally:
            self._busy.on = False

    def _emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep the template
            message = str(record.msg)
        error = record.exc_info[1] if record.exc_info and record.exc_info[1] is not None else None
        audit: Any = getattr(record, "audit", None)
        if isinstance(audit, dict) and audit.get("event") in _KINDS:
            fields = {k: v for k, v in audit.items() if k != "event"}
            fields.setdefault("message", message)
            kind = audit["event"]
            if kind == "failure":
                self.audit.failure(fields.pop("error", None) or error or message, **fields)
            else:
                getattr(self.audit, kind)(**fields)
            return
        outcome: Outcome = "failure" if record.levelno >= logging.ERROR else "unknown"
        self.audit.record(record.levelname.lower(), logger=record.name, error=error, outcome=outcome,
                          message=message)
