"""The ``enforcement:`` section of the policy: how verdicts turn into deny, warn or record.

Scan and runtime share one policy; this section only says what an enforcement adapter
(admission webhook, Docker AuthZ plugin) does with the findings the decision point
returns. It never changes which findings exist, so CI and runtime cannot disagree on them.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from enum import StrEnum

from mamori.model import Severity


class Mode(StrEnum):
    """``enforce`` denies, ``warn`` admits with a warning, ``audit`` only records."""

    ENFORCE = "enforce"
    WARN = "warn"
    AUDIT = "audit"


@dataclass(frozen=True, slots=True)
class Mutations:
    """Safe defaults the mutating webhook may add; each one can be switched off.

    Only fields the workload left unset are filled; an explicit value is never changed,
    and every applied default is reported back as a warning, so nothing changes silently.
    """

    no_privilege_escalation: bool = True
    drop_capabilities: bool = True
    seccomp_runtime_default: bool = True
    run_as_non_root: bool = False  # off: an image that needs root would fail to start
    read_only_root: bool = False  # off: an application writing to / would fail
    default_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DockerEnforcement:
    """Docker AuthZ choices that are not rules about a container: plugins, volume drivers."""

    allowed_plugins: tuple[str, ...] = ()  # plugin references (globs) that may be installed
    volume_drivers: tuple[str, ...] = ("local",)  # drivers `docker volume create` may use
    allow_root_exec: bool = False  # `docker exec` as root into a container


@dataclass(frozen=True, slots=True)
class Enforcement:
    """Per-rule modes and the severity at which an ``enforce`` finding denies.

    ``deny_on`` None means: the policy's ``fail-on`` when set, else ``high``; the CI gate
    and the admission gate then block on the same findings.
    """

    mode: Mode = Mode.ENFORCE
    rule_modes: tuple[tuple[str, Mode], ...] = ()  # (glob, mode), first match wins
    deny_on: Severity | None = None
    exempt_namespaces: tuple[str, ...] = ("kube-system", "mamori")
    mutate: Mutations = field(default_factory=Mutations)
    docker: DockerEnforcement = field(default_factory=DockerEnforcement)
    # On an UPDATE, a finding the old object had too is not introduced by this change:
    # ``warn`` lets owners scale or relabel a workload admitted before the policy existed.
    existing_on_update: Mode = Mode.WARN

    def mode_of(self, rule_id: str) -> Mode:
        for pattern, mode in self.rule_modes:
            if fnmatch.fnmatchcase(rule_id, pattern):
                return mode
        return self.mode

    def threshold(self, fail_on: Severity | None) -> Severity:
        return self.deny_on or fail_on or Severity.HIGH
