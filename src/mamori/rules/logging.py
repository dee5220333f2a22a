"""CSA-3.1.3.2: container logs go to a central, trustworthy store and outlive the container."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Container, Severity, Workload
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
