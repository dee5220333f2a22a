"""CSA-3.1.3.2: container logs go to a central, trustworthy store; CSA-3.1.7.1/2: services declare audit logging."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Container, Severity, SourceKind, Workload
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.3.2"


@rule(id="MAM-LOG-001", title="No central log driver", severity=Severity.LOW, controls=[C, "CSA-3.1.7.2"],
      scope=Scope.CONTAINER,
      remediation="Set `logging.driver` to a forwarding driver (syslog, journald, fluentd, gelf, ...) or run a "
                  "collector that ships the local files; list accepted drivers under `log-drivers` in the policy.",
      refs=["cis-docker:2.13"])
def no_central_logging(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Local json-file logs disappear with the container and can be altered by whoever owns the host."""
    drv = c.logging_driver
    if drv is None:
        return
    if drv.value == "none":
        yield hit(drv, f"service {c.name!r} discards its logs (logging driver `none`)")
    elif drv.value not in ctx.settings.central_log_drivers:
        name = drv.value or "json-file (default)"
        yield hit(drv, f"service {c.name!r} logs to {name}, which is not a central log driver")


AUDIT_KEY = "mamori.io/audit-log"
AUDIT_ENV = "MAMORI_AUDIT_COLLECTOR"  # the variable mamori.applog reads its collector URL from
_AUDIT_WORDS = frozenset({"applog", "stdout", "stderr", "sidecar"})
_AUDIT_SCHEMES = ("https://", "http://", "syslog://", "tcp://", "tcp+tls://", "udp://")


def audit_declaration(w: Workload) -> str | None:
    """How a workload says where its application audit events go (docs/applog.md), or None."""
    for c in w.containers:
        if any(e.name == AUDIT_ENV and (e.value or e.value is None) for e in c.env):
            return f"env {AUDIT_ENV}"
    value = w.annotations.get(AUDIT_KEY, w.labels.get(AUDIT_KEY))
    return None if value is None else value.strip()


@rule(id="MAM-LOG-002", title="Application audit logging not declared", severity=Severity.INFO,
      controls=["CSA-3.1.7.1", "CSA-3.1.7.2"], scope=Scope.WORKLOAD,
      sources=[SourceKind.KUBERNETES, SourceKind.COMPOSE], default_enabled=False,
      remediation=f"Log authentication, authorisation, actions and failures (for Python: `mamori.applog`) and declare "
                  f"where they go: annotation (Kubernetes) or label (Compose) `{AUDIT_KEY}: applog|stdout|stderr|"
                  f"sidecar|<collector URL>`, or set `{AUDIT_ENV}` in a container. A workload with no application "
                  "audit events (a cache, a proxy) is suppressed with a reason.")
def audit_logging_undeclared(ctx: Context, w: Workload) -> Iterator[Hit]:
    """A declared destination for a service's audit events (CSA-3.1.7) makes them reviewable.

    Informational: mamori cannot see inside the code, only whether the service says how it
    logs. Off by default (third-party images cannot declare it): enable it in the policy
    where the coding policy requires audit logging."""
    if not w.containers:
        return
    how = audit_declaration(w)
    where = w.labels_loc if w.ident.source is SourceKind.COMPOSE and w.labels_loc is not None else w.loc
    if how is None:
        yield hit(where, f"{w.ident.display} does not declare its application audit logging ({AUDIT_KEY})")
    elif how not in _AUDIT_WORDS and not how.startswith(_AUDIT_SCHEMES) and not how.startswith("env "):
        yield hit(where, f"{w.ident.display}: {AUDIT_KEY} is {how[:80]!r}, expected applog, stdout, stderr, sidecar "
                         "or a collector URL")
