"""CSA-3.1.3.3: monitoring agents are containers too - no privileged or host-wide access.

Peers exempt well-known agents from their checks (Polaris exempts datadog by default);
the CSA document asks the opposite, so mamori looks at them specially.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from mamori.model import Severity, Workload
from mamori.rules.capabilities import DANGEROUS
from mamori.rules.common import cap_name, host_mounts, image_text, is_runtime_socket, sensitive_path
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.3.3"


@lru_cache(maxsize=8)
def _agent_pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(p.lower()) for p in patterns))


def is_monitoring_agent(ctx: Context, w: Workload) -> bool:
    """Recognised by name, labels, container names or image (``monitoring-images`` extends the list)."""
    names = [w.ident.name, *w.labels.values(), *w.template_labels.values()]
    names += [image_text(c) for c in w.containers] + [c.name for c in w.containers]
    return _agent_pattern(ctx.settings.monitoring_patterns).search("\n".join(names).lower()) is not None


@rule(id="MAM-MON-001", title="Monitoring agent with host-level access", severity=Severity.HIGH, controls=[C],
      scope=Scope.WORKLOAD,
      remediation="Run the agent unprivileged: read-only mounts of only the paths it reads, no host "
                  "namespaces, no runtime socket (use the runtime's read-only API or an eBPF agent with narrow "
                  "capabilities); recognised agents are listed under `monitoring-images` in the policy.")
def privileged_agent(ctx: Context, w: Workload) -> Iterator[Hit]:
    """An agent that sees every container is the most valuable target on the host; it must not also own it."""
    if not is_monitoring_agent(ctx, w):
        return
    reasons = []
    for c in w.containers:
        if c.privileged is not None and c.privileged.value:
            reasons.append((c.privileged.loc, f"container {c.name!r} is privileged"))
        for a in c.cap_add:
            if cap_name(a.value) in DANGEROUS:
                reasons.append((a.loc, f"container {c.name!r} adds {cap_name(a.value)}"))
    for field, what in ((w.host_pid, "host PID"), (w.host_network, "host network"), (w.host_ipc, "host IPC")):
        if field is not None and field.value:
            reasons.append((field.loc, f"it shares the {what} namespace"))
    for m in host_mounts(w):
        if is_runtime_socket(m.path):
            reasons.append((m.loc, f"it mounts the runtime socket {m.path}"))
        elif not m.read_only and sensitive_path(m.path):
            reasons.append((m.loc, f"it mounts {m.path} writable"))
    for loc, why in reasons:
        yield hit(loc, f"monitoring agent {w.ident.name!r}: {why}")
