"""Audit a test daemon through the library and group findings per container."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mamori.live.docker_host import LiveOptions, load_docker
from mamori.policy.config import Policy
from mamori.policy.decision import Decision
from mamori.policy.engine import decide
from tests.helpers import TODAY
from tests.live.conftest import Host


def audit(host: Host, target: str | None = None, filters: Mapping[str, list[str]] | None = None,
          env: Mapping[str, str] | None = None, **opts: Any) -> Decision:
    options = LiveOptions(group_file=str(host.group_file), passwd_file=str(host.passwd_file), **opts)
    scan = load_docker(target or host.target, filters, options=options, env=env or {})
    return decide(scan, Policy(), today=TODAY)


def per_container(decision: Decision) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in decision.findings:
        if f.location.kind == "Container":
            out.setdefault(f.location.name, set()).add(f.rule_id)
    return out


def daemon_ids(decision: Decision) -> set[str]:
    return {f.rule_id for f in decision.findings if f.location.kind == "DockerHost"}
