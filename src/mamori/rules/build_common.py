"""Helpers shared by the Dockerfile build-step rules (no rules here).

They answer the questions every build rule asks: which stages end up in the image, which
program a command really runs (``sudo -E pip`` runs pip), which options and operands it
was given, and how to show a command in a message without leaking a credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mamori.model import Build, Command, Instruction, Stage
from mamori.sources.shell import unwrap

MAX_SHOWN = 160
_SECRET_NAME = re.compile(r"(?i)(pass|pwd|secret|token|key|auth|cred|cookie|session|private)")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s:]+(?::[^/@\s]*)?@")
_SECRET_OPTS = frozenset({"-u", "--user", "-H", "--header", "--password", "--http-password", "--proxy-user",
                          "-U", "--token", "--oauth2-bearer", "--cookie", "-b", "--pass", "--proxy-password",
                          "--ftp-password", "--key", "--secret", "--api-key"})
_SECRET_INLINE = re.compile(r"(?i)^(--?[\w-]*(?:pass|token|secret|key|auth|user)[\w-]*=).+$")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:[\w-]*(?:token|key|secret|sig|signature|password|auth)[\w-]*)=)[^&\s]+")


@dataclass(frozen=True, slots=True)
class Step:
    """A command with the instruction and stage it belongs to."""

    command: Command
    instruction: Instruction
    argv: tuple[str, ...]  # after wrappers (sudo, env, xargs ...)
    prog: str  # base name of argv[0]


def basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def image_stages(build: Build) -> set[int]:
    """Indexes of the final stage and the stages it is built FROM (their layers are in the image)."""
    out: set[int] = set()
    final = build.final
    cur = final
    while cur is not None and cur.index not in out:
        out.add(cur.index)
        cur = build.stages[cur.base_stage] if cur.base_stage is not None else None
    return out


def runs(build: Build, stages: set[int] | None = None, onbuild: bool = False) -> Iterator[Instruction]:
    """RUN instructions (and, with ``onbuild``, ``ONBUILD RUN`` triggers) of the given stages."""
    for ins in build.instructions:
        if stages is not None and ins.stage not in stages:
            continue
        if ins.keyword == "RUN" or (onbuild and ins.keyword == "ONBUILD" and ins.argv[:1] == ("RUN",)):
            yield ins


def steps(build: Build, stages: set[int] | None = None, onbuild: bool = False) -> Iterator[Step]:
    for ins in runs(build, stages, onbuild):
        yield from steps_of(ins)


_STEPS: dict[int, tuple[Instruction, tuple[Step, ...]]] = {}


def steps_of(ins: Instruction) -> tuple[Step, ...]:
    """The unwrapped commands of a RUN, computed once per instruction (every build rule reads them)."""
    cached = _STEPS.get(id(ins))
    if cached is not None and cached[0] is ins:
        return cached[1]
    out = []
    for cmd in ins.commands:
        argv = unwrap(cmd.argv)
        if argv:
            out.append(Step(cmd, ins, argv, basename(argv[0])))
    if len(_STEPS) > 50_000:
        _STEPS.clear()
    _STEPS[id(ins)] = (ins, tuple(out))
    return _STEPS[id(ins)][1]


def stage_of(build: Build, ins: Instruction) -> Stage | None:
    return build.stages[ins.stage] if 0 <= ins.stage < len(build.stages) else None


def operands(args: Sequence[str], with_arg: frozenset[str] = frozenset()) -> list[str]:
    """Non-option words of ``args`` (``args`` excludes the program); option values are skipped.

    ``with_arg`` lists options that take a separate value (``-o``, ``--target``). A long
    option written ``--opt=value`` carries its value.
    """
    out: list[str] = []
    i = 0
    only_operands = False
    while i < len(args):
        a = args[i]
        if only_operands:
            out.append(a)
        elif a == "--":
            only_operands = True
        elif a.startswith("--"):
            if "=" not in a and a in with_arg:
                i += 1
        elif a.startswith("-") and len(a) > 1:
            # a short cluster (-yq, -o value): the last letter may take the next word
            if f"-{a[-1]}" in with_arg and len(a) >= 2:
                i += 1
        else:
            out.append(a)
        i += 1
    return out


def has_option(args: Sequence[str], *names: str) -> bool:
    """Whether any of ``names`` (``--no-cache``, ``-y``) is given; short ones also inside clusters."""
    longs = {n for n in names if n.startswith("--")}
    shorts = {n[1] for n in names if not n.startswith("--") and len(n) == 2}
    for a in args:
        if a == "--":
            return False
        if a.startswith("--"):
            if a.split("=", 1)[0] in longs:
                return True
        elif a.startswith("-") and len(a) > 1 and not a[1:2].isdigit() and shorts & set(a[1:]):
            return True
    return False


def option_values(args: Sequence[str], *names: str) -> list[str]:
    """Values of options ``--name=value`` / ``--name value`` / ``-o value``."""
    out: list[str] = []
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                out.append(args[i + 1])
            elif n.startswith("--") and a.startswith(n + "="):
                out.append(a[len(n) + 1 :])
            elif not n.startswith("--") and a.startswith(n) and len(a) > len(n) and len(n) == 2:
                out.append(a[len(n) :])
    return out


def short_cluster_has(args: Sequence[str], letter: str, with_arg: frozenset[str]) -> bool:
    """Whether short option ``letter`` appears, reading clusters like curl/getopt do."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return False
        if a.startswith("--"):
            if "=" not in a and a in with_arg:
                i += 1
        elif a.startswith("-") and len(a) > 1:
            for k, ch in enumerate(a[1:], 1):
                if ch == letter:
                    return True
                if f"-{ch}" in with_arg:
                    if k == len(a) - 1:
                        i += 1
                    break
        i += 1
    return False


def has_cache_mount(ins: Instruction, *targets: str) -> bool:
    """Whether the RUN has ``--mount=type=cache`` on one of ``targets`` (or below it)."""
    for flag in ins.flags:
        if not flag.startswith("--mount="):
            continue
        opts: dict[str, str] = {}
        for part in flag[len("--mount="):].split(","):
            key, _, value = part.partition("=")
            opts[key.strip()] = value.strip()
        if opts.get("type") != "cache":
            continue
        target = opts.get("target") or opts.get("dst") or opts.get("destination") or ""
        if any(target.rstrip("/") == t.rstrip("/") or target.startswith(t.rstrip("/") + "/") or
               t.startswith(target.rstrip("/") + "/") for t in targets if target):
            return True
    return False


def redact(word: str) -> str:
    word = _USERINFO.sub(r"\1***@", word)
    word = _SECRET_QUERY.sub(r"\1***", word)
    m = _SECRET_INLINE.match(word)
    if m:
        return m.group(1) + "***"
    if "=" in word and not word.startswith("-"):
        name = word.split("=", 1)[0]
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and _SECRET_NAME.search(name):
            return f"{name}=***"
    if re.match(r"(?i)\s*(authorization|x-api-key|private-token|cookie)\s*:", word):
        return word.split(":", 1)[0] + ": ***"
    return word


def show(argv: Sequence[str]) -> str:
    """A command for a message: quoted where needed, credentials masked, bounded in length."""
    out: list[str] = []
    mask_next = False
    for a in argv:
        if mask_next:
            out.append("***")
            mask_next = False
            continue
        if a in _SECRET_OPTS:
            out.append(a)
            mask_next = True
            continue
        w = redact(a)
        out.append(w if w and not re.search(r"[\s'\"]", w) else "'" + w.replace("'", "'\\''") + "'")
    text = " ".join(out)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."
