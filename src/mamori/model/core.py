"""Values that remember where they came from.

Every field a rule reads is a :class:`Val`: the value plus the :class:`Loc` it was read
from, so that a finding can point at the exact line to change whatever the input format.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class Severity(Enum):
    """Finding severity, ordered so thresholds (``--fail-on``) compare naturally."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of {names})") from None

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.value < other.value

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.value <= other.value


class SourceKind(StrEnum):
    """The input format a model object was normalised from."""

    KUBERNETES = "kubernetes"
    COMPOSE = "compose"
    DOCKERFILE = "dockerfile"
    DOCKER = "docker"  # a live container or an admission request to a Docker host


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a value was read: file, 1-based line (0 when unknown) and a path inside it.

    ``path`` is a JSON pointer for YAML/JSON inputs (``/spec/template/spec/hostPID``)
    and an instruction index for Dockerfiles.
    """

    file: str
    line: int = 0
    path: str = ""


@dataclass(frozen=True, slots=True)
class Val(Generic[T]):
    """A value with its origin.

    ``explicit`` is False when the source did not set the value and it is a default (for
    example a container's ``privileged`` when neither pod nor container says it); ``loc``
    then points at the object where the setting belongs, which is where a fix goes.
    """

    value: T
    loc: Loc
    explicit: bool = True
