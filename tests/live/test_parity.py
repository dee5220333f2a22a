"""A live container and the Compose service with the same settings get the same rule ids.

The weak daemon's containers (conftest.CONTAINERS) written as a Compose file; the live audit
and the static scan must agree per container/service, in both directions. The one
principled difference, the ``label=disable`` dockerd adds to privileged and host-namespace
containers, is removed by the live loader (test_audit checks that it is not reported).
"""

from __future__ import annotations

from mamori.model import SourceKind
from mamori.policy.config import Policy
from mamori.rules.registry import all_rules
from tests.helpers import scan_text
from tests.live.conftest import CONTAINERS, Host
from tests.live.helpers import audit, per_container

COMPOSE = """\
services:
  insecure:
    image: {image}
    command: [sleep, "1000"]
    privileged: true
    cap_add: [NET_ADMIN]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
      - /etc:/host-etc
    network_mode: host
    pid: host
    user: root
  hardened:
    image: {image}
    command: [sleep, "1000"]
    user: "10001:10001"
    cap_drop: [ALL]
    read_only: true
    security_opt: [no-new-privileges]
    mem_limit: 64m
    pids_limit: 100
    cpus: 0.5
    healthcheck:
      test: ["CMD-SHELL", "true"]
    network_mode: none
    labels: {{tenant: shop, data-classification: internal}}
  mixed:
    image: {image}
    command: [sleep, "1000"]
    networks: [appnet]
    ports: ["0.0.0.0:8080:80"]
    volumes: ["data:/data"]
    environment:
      DB_PASSWORD: hunter2secret
      MODE: prod
    restart: always
    labels: {{tenant: shop, data-classification: internal}}
    user: "10001"
    tmpfs: [/tmp]
  namespaces:
    image: {image}
    command: [sleep, "1000"]
    ipc: host
    uts: host
    cap_add: [SYS_ADMIN]
    security_opt: ["seccomp=unconfined", "apparmor=unconfined"]
    devices: ["/dev/null:/dev/xnull"]
    sysctls: {{net.ipv4.ip_forward: "1"}}
  unlabelled:
    image: {image}
    command: [sleep, "1000"]
    security_opt: ["label=disable"]
    user: "10001:10001"
    mem_limit: 32m
networks:
  appnet: {{}}
volumes:
  data: {{}}
"""


def _per_service(text: str) -> dict[str, set[str]]:
    decision = scan_text("compose.yaml", text, Policy())
    assert not decision.errors, decision.errors
    out: dict[str, set[str]] = {}
    for f in decision.findings:
        out.setdefault(f.location.name, set()).add(f.rule_id)
    return out


def test_live_containers_match_their_compose_services(weak: Host) -> None:
    static = _per_service(COMPOSE.format(image=weak.image))
    live = per_container(audit(weak))
    assert set(static) == set(live) == set(CONTAINERS)
    for name in CONTAINERS:
        assert live[name] == static[name], (name, "live only", sorted(live[name] - static[name]),
                                            "static only", sorted(static[name] - live[name]))


def test_no_rule_is_written_for_live_containers_only() -> None:
    """Every rule a live container can meet also runs on Compose services (the same rule, not a copy)."""
    docker_only = [r.id for r in all_rules() if r.sources is not None and SourceKind.DOCKER in r.sources
                   and SourceKind.COMPOSE not in r.sources]
    assert docker_only == []
