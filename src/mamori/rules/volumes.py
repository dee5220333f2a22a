"""CSA-3.1.9.1: volumes are not shared between workloads or tenants."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from mamori.model import Identity, Loc, Severity, SourceKind
from mamori.rules.index import namespace_of
from mamori.rules.registry import Context, Hit, Scope, rule

C = "CSA-3.1.9.1"


@rule(id="MAM-VOL-001", title="Volume shared between workloads", severity=Severity.MEDIUM, controls=[C, "CSA-3.1.3.3"],
      scope=Scope.SET,
      remediation="Give each workload its own volume; exchange data through an API, not a shared filesystem.")
def shared_volume(ctx: Context) -> Iterator[Hit]:
    """A shared volume lets one compromised workload read or poison another's data."""
    users: dict[tuple[str, str, str], list[tuple[Loc, Identity, str]]] = defaultdict(list)
    for w in ctx.scan.workloads:
        if w.ident.source is SourceKind.DOCKERFILE:
            continue
        scope = w.ident.file if w.ident.source is SourceKind.COMPOSE else namespace_of(w.ident.namespace)
        seen: set[str] = set()
        for c in w.containers:
            for m in c.mounts:
                if m.kind == "volume" and m.shared_name and m.shared_name not in seen:
                    seen.add(m.shared_name)
                    users[(w.ident.source.value, scope, m.shared_name)].append((m.loc, w.ident, c.name))
    for (_, _, name), uses in sorted(users.items()):
        if len(uses) < 2:
            continue
        names = ", ".join(sorted({ident.name for _, ident, _ in uses}))
        for loc, ident, container in uses:
            yield Hit(loc, f"volume {name!r} is shared by {names}", ident, container)


