"""Everything read from the inputs of one scan, before any judgement."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from mamori.model.build import Build
from mamori.model.host import DockerHost
from mamori.model.imagefs import ImageContents
from mamori.model.resources import Resource
from mamori.model.workload import Workload


@dataclass(frozen=True, slots=True)
class InputError:
    """An input that could not be read completely: file, line and what is wrong."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """An object that was read but that no rule looks at (an unknown kind, say)."""

    file: str
    line: int
    what: str
    reason: str


@dataclass(frozen=True, slots=True)
class Suppression:
    """An inline ``mamori:ignore`` comment or a ``mamori.io/ignore`` annotation.

    It covers findings of ``rule_ids`` (``*`` for all) in ``file`` whose line is in
    ``first_line..last_line`` (annotation: the whole object, found by ``resource``).
    """

    rule_ids: tuple[str, ...]
    reason: str
    file: str
    first_line: int
    last_line: int
    via: str  # inline or annotation
    expires: date | None = None
    resource: str | None = None
    line: int = 0  # where the suppression itself is written


@dataclass
class ScanSet:
    """Mutable accumulator filled by the sources, then frozen into rules' input."""

    files: list[str] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    resources: list[Resource | DockerHost | ImageContents] = field(default_factory=list)
    builds: list[Build] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    # False when the objects are a part of a larger whole that mamori cannot see (one
    # admission request, one Docker API call): rules about relations across the whole set
    # (a namespace without a NetworkPolicy, say) cannot be judged and do not run.
    complete: bool = True

    def extend(self, other: ScanSet) -> None:
        self.files.extend(other.files)
        self.workloads.extend(other.workloads)
        self.resources.extend(other.resources)
        self.builds.extend(other.builds)
        self.errors.extend(other.errors)
        self.skipped.extend(other.skipped)
        self.suppressions.extend(other.suppressions)
