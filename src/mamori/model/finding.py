"""What a rule reports, and where."""

from __future__ import annotations

from dataclasses import dataclass

from mamori.model.core import Severity


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding points: the file and line to change, and the object it concerns."""

    file: str
    line: int
    resource: str  # "Kind/namespace/name" or "Kind/name"
    kind: str
    name: str
    namespace: str | None = None
    container: str | None = None
    path: str = ""
    template: str | None = None  # the Helm chart template a rendered object came from


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    title: str
    severity: Severity
    controls: tuple[str, ...]
    refs: tuple[str, ...]
    location: Location
    message: str
    remediation: str
    source: str  # kubernetes, compose, dockerfile, docker

    @property
    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.location.file, self.location.line, self.rule_id, self.location.container or "")


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A finding that a waiver, inline comment or annotation accepted, and why."""

    finding: Finding
    reason: str
    via: str  # inline, annotation, waiver
    expires: str | None = None
