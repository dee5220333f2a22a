"""The build model: a Dockerfile's stages and the shell commands its RUN steps execute.

Container-level facts of the final image (user, health check, ports, environment) are
also given to the rules as a :class:`~mamori.model.workload.Workload`, so rules about
users or health checks are written once; this model carries what only a build has.
"""

from __future__ import annotations

from dataclasses import dataclass

from mamori.model.core import Loc, Val
from mamori.model.workload import Identity, ImageRef


@dataclass(frozen=True, slots=True)
class Command:
    """One simple shell command of a RUN step, after splitting on ``&&``, ``;``, ``|``.

    ``piped_to`` names the command that receives this one's output (``curl ... | sh``).
    """

    argv: tuple[str, ...]
    loc: Loc
    piped_to: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Instruction:
    """One Dockerfile instruction after continuation lines are joined.

    ``args`` is the instruction's argument text with ARG/ENV references substituted;
    ``flags`` holds ``--from=``, ``--chown=``, ``--mount=`` ... options.
    ``exec_form`` tells whether the arguments were a JSON array.
    """

    keyword: str
    args: str
    loc: Loc
    flags: tuple[str, ...] = ()
    exec_form: bool = False
    argv: tuple[str, ...] = ()
    commands: tuple[Command, ...] = ()  # RUN only
    heredoc: str | None = None
    stage: int = 0


@dataclass(frozen=True, slots=True)
class Stage:
    index: int
    name: str | None
    base: Val[ImageRef | None]  # None for FROM scratch or FROM <earlier stage>
    base_text: str
    base_stage: int | None  # index of the earlier stage this one builds on
    instructions: tuple[Instruction, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Build:
    """A parsed Dockerfile."""

    ident: Identity
    stages: tuple[Stage, ...]
    instructions: tuple[Instruction, ...]  # all, in file order, including those before FROM

    @property
    def final(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    def runs(self, stage: Stage | None = None) -> tuple[Instruction, ...]:
        items = stage.instructions if stage is not None else self.instructions
        return tuple(i for i in items if i.keyword == "RUN")
