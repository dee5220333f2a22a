"""Dockerfile -> model: a :class:`Build` for the build-step rules and a :class:`Workload` for
the container rules.

The Workload describes the image the final stage produces: its base image resolved
through stage aliases to the external image, the effective USER, HEALTHCHECK, EXPOSEd
ports, environment (ENV and ARG of every stage: secrets in a builder stage still leak
through the build history) and command. What a Dockerfile cannot say (privileged,
capabilities, resources, read-only root ...) stays None so container rules about those
settings stay quiet here.

Docker semantics that matter for correct findings: ARG before the first FROM is visible
only to FROM lines (and to stages that re-declare it); ENV overrides ARG; a stage built
FROM an earlier stage inherits its ENV, USER, HEALTHCHECK, EXPOSE, LABEL, CMD; variables
are substituted in FROM, USER, ENV, ADD, COPY, EXPOSE, WORKDIR, LABEL, VOLUME, STOPSIGNAL
and ARG but never in RUN/CMD/ENTRYPOINT, whose text the shell sees.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field

from mamori.model import (
    Build,
    Command,
    Container,
    EnvVar,
    Health,
    Identity,
    ImageRef,
    InputError,
    Instruction,
    Loc,
    Mount,
    Port,
    Role,
    ScanSet,
    SourceKind,
    Stage,
    Suppression,
    Val,
    Workload,
)
from mamori.sources import dockerfile_lex as lx
from mamori.sources import shell
from mamori.sources.imageref import parse_image_ref

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_PORTS_PER_RANGE = 1024
MAX_INSTRUCTIONS = 50_000

KEYWORDS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
FLAG_KEYWORDS = frozenset({"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"})
SUBSTITUTED = frozenset({"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME",
                         "WORKDIR", "ARG"})
JSON_KEYWORDS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
DEFAULT_SHELL = ("/bin/sh", "-c")
WINDOWS_SHELL = ("cmd", "/S", "/C")
_WINDOWS = re.compile(r"windows|nanoserver|servercore", re.I)
_FLAG = re.compile(r"--([A-Za-z0-9][A-Za-z0-9-]*)(?:=((?:\"[^\"]*\"|'[^']*'|[^\s\"'])*))?(?:\s+|$)")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")
_PORT = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?(?:/([A-Za-z]+))?$")


@dataclass(slots=True)
class _StageState:
    index: int
    name: str | None
    loc: Loc
    base: Val[ImageRef | None]
    base_text: str
    base_stage: int | None
    instructions: list[Instruction] = field(default_factory=list)
    args: dict[str, str | None] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    shell: tuple[str, ...] = DEFAULT_SHELL
    user: Val[str | None] | None = None
    health: Health | None = None
    ports: list[Port] = field(default_factory=list)
    volumes: list[Mount] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    labels_loc: Loc | None = None
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    entrypoint_shell: bool = False

    def variables(self) -> dict[str, str | None]:
        merged: dict[str, str | None] = dict(self.args)
        merged.update(self.env)
        return merged


class _Loader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[InputError] = []
        self.instructions: list[Instruction] = []
        self.stages: list[_StageState] = []
        self.global_args: dict[str, str | None] = {}
        self.env_vars: list[EnvVar] = []
        self.escape = "\\"
        self.suppressions: list[Suppression] = []

    # --- helpers -------------------------------------------------------------------------------------------------

    def error(self, line: int, message: str) -> None:
        self.errors.append(InputError(self.file, line, message))

    def loc(self, line: int) -> Loc:
        return Loc(self.file, line, f"/instructions/{len(self.instructions)}")

    @property
    def stage(self) -> _StageState | None:
        return self.stages[-1] if self.stages else None

    def variables(self) -> dict[str, str | None]:
        st = self.stage
        return st.variables() if st is not None else dict(self.global_args)

    def split_flags(self, text: str, keyword: str) -> tuple[tuple[str, ...], str, int]:
        """Leading ``--flag[=value]`` options; returns (flags, rest, offset of rest in text)."""
        if keyword not in FLAG_KEYWORDS:
            return (), text, 0
        flags: list[str] = []
        pos = 0
        while True:
            m = _FLAG.match(text, pos)
            if not m:
                break
            flags.append(text[m.start() : m.end()].strip())
            pos = m.end()
        return tuple(flags), text[pos:], pos

    def expand_flags(self, flags: tuple[str, ...]) -> tuple[str, ...]:
        variables = self.variables()
        return tuple(lx.expand(f, variables, self.escape)[0] for f in flags)

    @staticmethod
    def json_array(text: str) -> tuple[list[str] | None, bool]:
        """(argv, looks_like_json): argv when ``text`` is a JSON array of strings."""
        stripped = text.strip()
        if not stripped.startswith("["):
            return None, False
        try:
            value = json.loads(stripped)
        except ValueError:
            return None, stripped.endswith("]")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value), True
        return None, True

    # --- main ----------------------------------------------------------------------------------------------------

    def run(self, text: str) -> None:
        lexed = lx.lex(self.file, text)
        self.escape = lexed.escape
        self.errors.extend(lexed.errors)
        self.file_suppressions(lexed)
        if len(lexed.instructions) > MAX_INSTRUCTIONS:
            extra = lexed.instructions[MAX_INSTRUCTIONS]
            self.error(extra.line, f"more than {MAX_INSTRUCTIONS} instructions: the rest of the file is not read")
            del lexed.instructions[MAX_INSTRUCTIONS:]
        for raw in lexed.instructions:
            start = len(self.instructions)
            self.instruction(raw)
            if len(self.instructions) > start:
                self.inline_suppressions(raw)

    def instruction(self, raw: lx.RawInstruction) -> None:
        keyword = raw.keyword.upper()
        if keyword not in KEYWORDS:
            self.error(raw.line, f"unknown instruction {raw.keyword[:40]!r}")
            return
        if keyword != "FROM" and keyword != "ARG" and self.stage is None:
            self.error(raw.line, f"{keyword} before the first FROM (only ARG may come before FROM)")
        flags, body, cut = self.split_flags(raw.text, keyword)
        handler = getattr(self, f"do_{keyword.lower()}", None)
        if handler is not None:
            handler(raw, keyword, flags, body, cut)
        else:
            self.generic(raw, keyword, flags, body)

    def add(self, raw: lx.RawInstruction, keyword: str, args: str, *, flags: tuple[str, ...] = (),
            exec_form: bool = False, argv: tuple[str, ...] = (), commands: tuple[Command, ...] = ()) -> Instruction:
        heredoc = "\n".join(h.body for h in raw.heredocs) if raw.heredocs else None
        st = self.stage
        ins = Instruction(keyword=keyword, args=args, loc=self.loc(raw.line), flags=flags, exec_form=exec_form,
                          argv=argv, commands=commands, heredoc=heredoc, stage=st.index if st is not None else -1)
        self.instructions.append(ins)
        if st is not None and keyword != "FROM":
            st.instructions.append(ins)
        return ins

    def generic(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str) -> Instruction:
        """WORKDIR, STOPSIGNAL, MAINTAINER, COPY, ADD and anything without special meaning."""
        if keyword in SUBSTITUTED:
            variables = self.variables()
            args = lx.expand(body, variables, self.escape)[0]
            flags = self.expand_flags(flags)
            argv: tuple[str, ...] = ()
            exec_form = False
            if keyword in JSON_KEYWORDS:
                parsed, looks = self.json_array(body)
                if parsed is not None:
                    argv = tuple(lx.expand_value(a, variables, self.escape)[0] for a in parsed)
                    exec_form = True
                elif looks:
                    self.error(raw.line, f"{keyword} argument looks like a JSON array but is not valid JSON")
            if not exec_form:
                argv = tuple(lx.split_words(body, variables, self.escape)[0])
            return self.add(raw, keyword, args, flags=flags, exec_form=exec_form, argv=argv)
        return self.add(raw, keyword, body.strip(), flags=flags)

    # --- instructions --------------------------------------------------------------------------------------------

    def do_from(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str, cut: int) -> None:
        variables: dict[str, str | None] = dict(self.global_args)
        words, unresolved = lx.split_words(body, variables, self.escape)
        flags = tuple(lx.expand(f, variables, self.escape)[0] for f in flags)
        name: str | None = None
        if not words:
            self.error(raw.line, "FROM needs an image")
            words = ["scratch"]
        elif len(words) == 3 and words[1].lower() == "as":
            name = words[2].lower()
            if not _STAGE_NAME.match(name):
                self.error(raw.line, f"invalid stage name {words[2][:40]!r}")
        elif len(words) != 1:
            self.error(raw.line, "FROM takes an image and an optional `AS name`")
        image_text = words[0]
        loc = self.loc(raw.line)
        index = len(self.stages)
        parent = next((s for s in self.stages if s.name is not None and s.name == image_text.lower()), None)
        base: Val[ImageRef | None]
        if parent is not None or image_text.lower() == "scratch":
            base = Val(None, loc)
        elif unresolved or "$" in image_text:
            base = Val(None, loc, explicit=False)  # set by --build-arg at build time: unknown here
        else:
            base = Val(parse_image_ref(image_text), loc)
        st = _StageState(index, name, loc, base, image_text, parent.index if parent is not None else None)
        if base.value is not None and _WINDOWS.search(base.value.repository):
            st.shell = WINDOWS_SHELL  # Windows images run RUN through cmd.exe unless SHELL says otherwise
        if parent is not None:
            st.env = dict(parent.env)
            st.shell = parent.shell
            st.user = parent.user
            st.health = parent.health
            st.ports = list(parent.ports)
            st.volumes = list(parent.volumes)
            st.labels = dict(parent.labels)
            st.labels_loc = parent.labels_loc
            st.cmd = parent.cmd
            st.entrypoint = parent.entrypoint
            st.entrypoint_shell = parent.entrypoint_shell
        self.stages.append(st)
        ins = self.add(raw, "FROM", lx.expand(body, variables, self.escape)[0], flags=flags, argv=tuple(words))
        st.instructions.append(ins)

    def do_arg(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str, cut: int) -> None:
        variables = self.variables()
        pairs, _, problem = lx.key_values(body, variables, self.escape, legacy=False)
        if problem:
            self.error(raw.line, f"ARG: {problem}")
        ins = self.add(raw, "ARG", lx.expand(body, variables, self.escape)[0],
                       argv=tuple(k if v is None else f"{k}={v}" for k, v in pairs))
        st = self.stage
        for key, value in pairs:
            if st is None:
                self.global_args[key] = value
            elif value is None and key in self.global_args:
                st.args[key] = self.global_args[key]
            else:
                st.args[key] = value
            self.env_vars.append(EnvVar(key, value, ins.loc, origin="ARG"))

    def do_env(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str, cut: int) -> None:
        variables = self.variables()
        pairs, _, problem = lx.key_values(body, variables, self.escape, legacy=True)
        if problem:
            self.error(raw.line, f"ENV: {problem}")
        ins = self.add(raw, "ENV", lx.expand(body, variables, self.escape)[0],
                       argv=tuple(f"{k}={v or ''}" for k, v in pairs))
        st = self.stage
        for key, value in pairs:
            if value is None:
                self.error(raw.line, f"ENV {key[:40]!r} has no value (use {key}=value)")
                continue
            if st is not None:
                st.env[key] = value
            self.env_vars.append(EnvVar(key, value, ins.loc, origin="ENV"))

    def do_label(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str, cut: int) -> None:
        variables = self.variables()
        pairs, _, problem = lx.key_values(body, variables, self.escape, legacy=True)
        if problem:
            self.error(raw.line, f"LABEL: {problem}")
        ins = self.add(raw, "LABEL", lx.expand(body, variables, self.escape)[0],
                       argv=tuple(f"{k}={v or ''}" for k, v in pairs))
        st = self.stage
        if st is not None:
            for key, value in pairs:
                st.labels[key] = value or ""
            st.labels_loc = ins.loc

    def do_maintainer(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str,
                      cut: int) -> None:
        self.add(raw, "MAINTAINER", body.strip())

    def do_user(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str, cut: int) -> None:
        variables = self.variables()
        words, _ = lx.split_words(body, variables, self.escape)
        if len(words) != 1:
            self.error(raw.line, "USER takes exactly one user[:group]")
        ins = self.add(raw, "USER", lx.expand(body, variables, self.escape)[0], argv=tuple(words))
        st = self.stage
        if st is not None and words:
            st.user = Val(words[0], ins.loc)

    def do_expose(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str, cut: int) -> None:
        variables = self.variables()
        words, _ = lx.split_words(body, variables, self.escape)
        ins = self.add(raw, "EXPOSE", lx.expand(body, variables, self.escape)[0], argv=tuple(words))
        st = self.stage
        for word in words:
            m = _PORT.match(word)
            if not m:
                if "$" not in word:
                    self.error(raw.line, f"EXPOSE: {word[:40]!r} is not a port, port/protocol or range")
                continue
            first = int(m.group(1))
            last = int(m.group(2)) if m.group(2) else first
            proto = (m.group(3) or "tcp").upper()
            if not (0 < first <= 65535 and 0 < last <= 65535) or last < first:
                self.error(raw.line, f"EXPOSE: invalid port or range {word[:40]!r}")
                continue
            numbers = range(first, last + 1) if last - first < MAX_PORTS_PER_RANGE else (first, last)
            if st is not None:
                st.ports.extend(Port(p, ins.loc, protocol=proto) for p in numbers)

    def do_volume(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str, cut: int) -> None:
        ins = self.generic(raw, keyword, flags, body)
        st = self.stage
        if st is not None:
            st.volumes.extend(Mount(target=t, kind="volume", source=None, read_only=False, loc=ins.loc)
                              for t in ins.argv if t)

    def do_shell(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str, cut: int) -> None:
        parsed, _ = self.json_array(body)
        if not parsed:
            self.error(raw.line, "SHELL requires a JSON array of strings, e.g. SHELL [\"/bin/bash\", \"-c\"]")
        ins = self.add(raw, "SHELL", body.strip(), exec_form=parsed is not None, argv=tuple(parsed or ()))
        st = self.stage
        if st is not None and ins.argv:
            st.shell = ins.argv

    def exec_or_shell(self, raw: lx.RawInstruction, keyword: str, body: str) -> tuple[bool, tuple[str, ...]]:
        parsed, looks = self.json_array(body)
        if parsed is not None:
            return True, tuple(parsed)
        if looks:
            self.error(raw.line, f"{keyword}: invalid JSON exec form; Docker runs it as a shell command instead")
        return False, ()

    def shell_of(self) -> tuple[str, ...]:
        st = self.stage
        return st.shell if st is not None else DEFAULT_SHELL

    def do_cmd(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str, cut: int) -> None:
        exec_form, argv = self.exec_or_shell(raw, keyword, body)
        self.add(raw, keyword, body.strip(), exec_form=exec_form, argv=argv)
        st = self.stage
        if st is not None:
            st.cmd = argv if exec_form else (*self.shell_of(), body.strip())

    def do_entrypoint(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str,
                      cut: int) -> None:
        exec_form, argv = self.exec_or_shell(raw, keyword, body)
        self.add(raw, keyword, body.strip(), exec_form=exec_form, argv=argv)
        st = self.stage
        if st is not None:
            if not any(i.keyword == "CMD" for i in st.instructions):
                st.cmd = None  # ENTRYPOINT resets a CMD inherited from the base
            st.entrypoint = argv if exec_form else (*self.shell_of(), body.strip())
            st.entrypoint_shell = not exec_form

    def do_healthcheck(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str,
                       cut: int) -> None:
        words = body.strip().split(None, 1)
        kind = words[0].upper() if words else ""
        st = self.stage
        if kind == "NONE":
            ins = self.add(raw, keyword, body.strip(), flags=flags, argv=("NONE",))
            if st is not None:
                st.health = Health(liveness=Val(False, ins.loc), disabled=True)
            return
        if kind != "CMD" or len(words) < 2:
            self.error(raw.line, "HEALTHCHECK needs `CMD <command>` or `NONE`")
            self.add(raw, keyword, body.strip(), flags=flags)
            return
        exec_form, argv = self.exec_or_shell(raw, keyword, words[1])
        ins = self.add(raw, keyword, body.strip(), flags=flags, exec_form=exec_form, argv=argv)
        if st is not None:
            st.health = Health(liveness=Val(True, ins.loc))

    def do_onbuild(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str,
                   cut: int) -> None:
        m = re.match(r"(\S+)\s*", body)
        inner = m.group(1).upper() if m else ""
        if inner not in KEYWORDS or inner in ("ONBUILD", "FROM", "MAINTAINER"):
            self.error(raw.line, f"ONBUILD cannot trigger {inner[:40] or 'nothing'!r}")
            self.add(raw, keyword, body.strip())
            return
        commands: tuple[Command, ...] = ()
        inner_text = body[m.end():] if m else ""
        if inner == "RUN":
            _, run_text, run_cut = self.split_flags(inner_text, "RUN")
            offset = cut + (m.end() if m else 0) + run_cut
            commands = self.run_commands(raw, run_text, offset)
        self.add(raw, keyword, body.strip(), argv=(inner,), commands=commands)

    def do_run(self, raw: lx.RawInstruction, keyword: str, flags: tuple[str, ...], body: str, cut: int) -> None:
        flags = self.expand_flags(flags)
        exec_form, argv = self.exec_or_shell(raw, keyword, body)
        commands = self.exec_commands(raw, argv) if exec_form else self.run_commands(raw, body, cut)
        self.add(raw, keyword, body.strip(), flags=flags, exec_form=exec_form, argv=argv, commands=commands)

    # --- RUN commands ----------------------------------------------------------------------------------------------

    def exec_commands(self, raw: lx.RawInstruction, argv: tuple[str, ...]) -> tuple[Command, ...]:
        if not argv:
            return ()
        path = f"/instructions/{len(self.instructions)}"
        return shell.split(shlex.join(argv), file=self.file, line=raw.line, path=path)

    def posix_shell(self) -> bool:
        sh = self.shell_of()
        return bool(sh) and os.path.basename(sh[0]).lower().removesuffix(".exe") in shell.SHELLS

    def run_commands(self, raw: lx.RawInstruction, text: str, offset: int) -> tuple[Command, ...]:
        if not self.posix_shell():
            return ()  # cmd.exe / PowerShell: not parsed
        path = f"/instructions/{len(self.instructions)}"

        def line_of(pos: int) -> int:
            return raw.line_of(pos + offset)

        commands = list(shell.split(text, file=self.file, line=raw.line, path=path, line_of=line_of))
        for k, doc in enumerate(raw.heredocs):
            if self.heredoc_is_script(text, k, doc):
                commands.extend(shell.split(doc.body, file=self.file, line=doc.first_line, path=path))
        return tuple(commands)

    @staticmethod
    def heredoc_is_script(text: str, index: int, doc: lx.Heredoc) -> bool:
        """A RUN heredoc is a shell script when it is the RUN's whole command or a shell's stdin."""
        first_line = doc.body.split("\n", 1)[0]
        if first_line.startswith("#!"):
            words = first_line[2:].split()
            prog = os.path.basename(words[0]) if words else ""
            if prog == "env" and len(words) > 1:
                prog = os.path.basename(words[1])
            return prog in shell.SHELLS
        rest = re.sub(r"<<-?([\"']?)[A-Za-z_][A-Za-z0-9_.-]*\1", " ", text).strip()
        if not rest:
            return index == 0
        try:
            words = shlex.split(rest, comments=False)
        except ValueError:
            return False
        inner = shell.unwrap(words)
        if not inner or os.path.basename(inner[0]) not in shell.SHELLS:
            return False
        return shell.shell_script(inner) is None and not any(not w.startswith("-") for w in inner[1:])

    # --- suppressions ----------------------------------------------------------------------------------------------

    def file_suppressions(self, lexed: lx.Lexed) -> None:
        from mamori.sources.suppress import parse_comment

        for line, comment in lexed.file_comments:
            parsed = parse_comment(comment)
            if parsed is None or not parsed[0]:
                continue
            self.suppression(parsed[1], line, 1, max(1, lexed.line_count), file_wide=True)

    def inline_suppressions(self, raw: lx.RawInstruction) -> None:
        from mamori.sources.suppress import parse_comment

        for line, comment in [*raw.comments_above, *raw.comments]:
            parsed = parse_comment(comment)
            if parsed is None or parsed[0]:
                continue
            self.suppression(parsed[1], line, raw.line, max(raw.line, raw.last_line), file_wide=False)

    def suppression(self, parsed: tuple[tuple[str, ...], str, object, str | None], line: int, first: int,
                    last: int, *, file_wide: bool) -> None:
        from datetime import date

        ids, reason, expires, problem = parsed
        if problem:
            self.error(line, problem)
        if not ids or (problem and "expiry" in problem):
            return  # fail closed: a suppression that cannot be read suppresses nothing
        self.suppressions.append(Suppression(
            rule_ids=ids, reason=reason, file=self.file, first_line=first, last_line=last, via="inline",
            expires=expires if isinstance(expires, date) else None, line=line,
        ))

    # --- results ---------------------------------------------------------------------------------------------------

    def stage_model(self, st: _StageState) -> Stage:
        return Stage(index=st.index, name=st.name, base=st.base, base_text=st.base_text, base_stage=st.base_stage,
                     instructions=tuple(st.instructions), loc=st.loc)

    def root_base(self, st: _StageState) -> Val[ImageRef | None]:
        seen: set[int] = set()
        cur = st
        while cur.base_stage is not None and cur.base_stage not in seen:
            seen.add(cur.index)
            cur = self.stages[cur.base_stage]
        return cur.base

    def workload(self, ident: Identity) -> Workload:
        final = self.stages[-1]
        health = final.health or Health(liveness=Val(False, final.loc, explicit=False))
        user = final.user or Val(None, final.loc, explicit=False)
        entry = final.entrypoint or ()
        # a shell-form ENTRYPOINT ignores CMD; an exec-form one receives CMD as arguments
        command = entry if final.entrypoint_shell else (*entry, *(final.cmd or ()))
        container = Container(
            name=final.name or "image",
            role=Role.IMAGE,
            loc=final.loc,
            image=self.root_base(final),
            user=user,
            mounts=tuple(final.volumes),
            env=tuple(self.env_vars),
            ports=tuple(final.ports),
            health=health,
            command=tuple(command),
        )
        return Workload(ident=ident, loc=final.loc, containers=(container,), labels=dict(final.labels),
                        labels_loc=final.labels_loc)


def load(file: str, text: str) -> ScanSet:
    """Parse one Dockerfile into a ScanSet holding a Build and the final image's Workload."""
    out = ScanSet(files=[file])
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        out.errors.append(InputError(file, 0, f"Dockerfile is {size} bytes, over the "
                                              f"{MAX_FILE_BYTES // (1024 * 1024)} MiB limit; not read"))
        return out
    loader = _Loader(file)
    try:
        loader.run(text)
    except RecursionError:  # pragma: no cover - defensive: nesting is bounded
        loader.error(0, "Dockerfile nested too deeply")
    out.errors.extend(loader.errors)
    out.suppressions.extend(loader.suppressions)
    if not loader.stages:
        if not any(e.message.startswith("no FROM") for e in loader.errors):
            out.errors.append(InputError(file, 0, "no FROM instruction: not a buildable Dockerfile"))
        return out
    final = loader.stages[-1]
    ident = Identity(SourceKind.DOCKERFILE, file, "Dockerfile", final.name or os.path.basename(file) or file,
                     None, final.loc.line)
    out.builds.append(Build(ident=ident, stages=tuple(loader.stage_model(s) for s in loader.stages),
                            instructions=tuple(loader.instructions)))
    out.workloads.append(loader.workload(ident))
    return out
