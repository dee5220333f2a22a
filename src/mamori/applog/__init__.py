"""Application audit logging (CSA-3.1.7.1/3.1.7.2): one ECS schema, delivered to mamori's collector.

::

    from mamori import applog

    log = applog.AuditLogger(service="billing", collector="https://audit.internal:8443",
                             token_file="/run/secrets/audit-token", ca="/etc/mamori/ca.pem")
    with applog.correlation(request.headers.get("X-Request-ID")):
        log.authentication(user="alice", outcome="failure", reason="bad password", source_ip=ip)
        log.authorization(user="alice", action="invoice.read", resource="invoice/42", allowed=False)
        log.action("invoice.delete", user="alice", resource="invoice/42", type="deletion")
        log.failure(exc)

Standard library only at run time (plus mamori's own redaction helpers). See docs/applog.md.
"""

from mamori.applog.handler import AuditHandler
from mamori.applog.logger import (
    ENV_CA,
    ENV_COLLECTOR,
    ENV_SPOOL,
    ENV_TOKEN,
    ENV_TOKEN_FILE,
    AuditLogger,
    Stats,
)
from mamori.applog.redact import redact_text, redact_value
from mamori.applog.schema import ECS_VERSION, SCHEMA, correlation, current_correlation
from mamori.applog.spool import SpoolError
from mamori.applog.transport import ConfigError

__all__ = [
    "ECS_VERSION", "ENV_CA", "ENV_COLLECTOR", "ENV_SPOOL", "ENV_TOKEN", "ENV_TOKEN_FILE", "SCHEMA", "AuditHandler",
    "AuditLogger", "ConfigError", "SpoolError", "Stats", "correlation", "current_correlation", "redact_text",
    "redact_value",
]
