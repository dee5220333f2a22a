"""The Dockerfile source: syntax (directives, continuations, heredocs, JSON forms, flags,
variables), stages and inheritance, the final image's Workload, suppressions and errors."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from mamori.model import Build, Container, Instruction, Role, ScanSet, SourceKind, Workload
from mamori.sources.dockerfile import MAX_FILE_BYTES, load

# shared/ lies beside the repository (here and in CI's fresh clone)
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "dockerfiles"


def parse(text: str, file: str = "Dockerfile") -> ScanSet:
    return load(file, text)


def build_of(text: str) -> Build:
    scan = parse(text)
    assert not scan.errors, scan.errors
    assert len(scan.builds) == 1
    return scan.builds[0]


def image(text: str) -> tuple[Workload, Container]:
    scan = parse(text)
    assert not scan.errors, scan.errors
    w = scan.workloads[0]
    return w, w.containers[0]


def kw(b: Build, keyword: str) -> list[Instruction]:
    return [i for i in b.instructions if i.keyword == keyword]


# --- syntax ---------------------------------------------------------------------------------------------------------


def test_instruction_lines_paths_and_case_insensitive_keywords() -> None:
    b = build_of("# c\n\nfrom alpine:3.19\n\nrun echo a\nCopy a /b\n")
    assert [(i.keyword, i.loc.line, i.loc.path) for i in b.instructions] == [
        ("FROM", 3, "/instructions/0"), ("RUN", 5, "/instructions/1"), ("COPY", 6, "/instructions/2")]


def test_continuation_comments_and_blank_lines_inside() -> None:
    b = build_of("FROM a\nRUN apt-get update \\\n    # a comment\n\n    && apt-get install -y \\\n      curl\nUSER 1\n")
    run = kw(b, "RUN")[0]
    assert run.loc.line == 2
    assert [(c.argv, c.loc.line) for c in run.commands] == [
        (("apt-get", "update"), 2), (("apt-get", "install", "-y", "curl"), 5)]
    assert kw(b, "USER")[0].loc.line == 7


def test_escape_directive_backtick() -> None:
    b = build_of("# escape=`\nFROM mcr.microsoft.com/powershell:7.4\nENV DIR=C:\\app `\n    MODE=x\n")
    env = kw(b, "ENV")[0]
    assert env.argv == ("DIR=C:\\app", "MODE=x")


def test_directive_only_at_top() -> None:
    b = build_of("FROM a\n# escape=`\nRUN echo a \\\n  b\n")
    assert kw(b, "RUN")[0].commands[0].argv == ("echo", "a", "b")


def test_bad_escape_directive_is_an_error() -> None:
    scan = parse("# escape=x\nFROM a\n")
    assert [(e.line, "escape" in e.message) for e in scan.errors] == [(1, True)]
    assert scan.builds  # parsing goes on with the default escape


def test_syntax_directive_then_instructions() -> None:
    b = build_of("# syntax=docker/dockerfile:1.7\n# escape=\\\nFROM a\n")
    assert len(b.stages) == 1


def test_bom_and_crlf() -> None:
    b = build_of("\ufeffFROM a\r\nRUN echo a \\\r\n  b\r\n")
    assert kw(b, "RUN")[0].commands[0].argv == ("echo", "a", "b")


def test_heredoc_run_is_a_script_with_body_lines() -> None:
    b = build_of("FROM a\nRUN <<EOF\nset -e\napt-get update\nEOF\nUSER 1\n")
    run = kw(b, "RUN")[0]
    assert run.heredoc == "set -e\napt-get update\n"
    assert [(c.argv, c.loc.line) for c in run.commands] == [(("set", "-e"), 3), (("apt-get", "update"), 4)]
    assert kw(b, "USER")[0].loc.line == 6


def test_heredoc_dash_strips_tabs_and_quoted_delimiter() -> None:
    b = build_of('FROM a\nRUN <<-"EOT" bash\n\techo tabbed\n\tEOT\n')
    run = kw(b, "RUN")[0]
    assert run.heredoc == "echo tabbed\n"
    assert [c.argv for c in run.commands] == [("bash",), ("echo", "tabbed")]


def test_heredoc_for_another_interpreter_is_data() -> None:
    b = build_of("FROM a\nRUN python3 <<PY\nimport os\nos.system('sudo x')\nPY\n")
    assert [c.argv for c in kw(b, "RUN")[0].commands] == [("python3",)]


def test_heredoc_shebang_decides() -> None:
    b = build_of("FROM a\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\nRUN <<EOF\n#!/bin/bash\necho hi\nEOF\n")
    runs = kw(b, "RUN")
    assert runs[0].commands == ()
    assert [c.argv for c in runs[1].commands] == [("echo", "hi")]


def test_several_heredocs_and_copy_heredoc() -> None:
    b = build_of("FROM a\nCOPY <<one <<two /dst/\nfirst\none\nsecond\ntwo\nRUN cat /dst/one\n")
    copy = kw(b, "COPY")[0]
    assert copy.heredoc == "first\n\nsecond\n"
    assert copy.argv == ("<<one", "<<two", "/dst/")
    assert kw(b, "RUN")[0].loc.line == 7


def test_heredoc_marker_inside_quotes_is_not_a_heredoc() -> None:
    b = build_of("FROM a\nRUN echo '<<EOF'\nUSER 1\n")
    assert kw(b, "RUN")[0].heredoc is None
    assert kw(b, "USER")[0].loc.line == 3


def test_unterminated_heredoc_is_an_error() -> None:
    scan = parse("FROM a\nRUN <<EOF\necho x\n")
    assert [(e.line, "unterminated heredoc" in e.message) for e in scan.errors] == [(2, True)]


def test_exec_form_and_shell_form() -> None:
    b = build_of('FROM a\nRUN ["sh", "-c", "apt-get update && apt-get install -y x"]\nCMD ["app", "--port", "80"]\n'
                 "ENTRYPOINT exec app\n")
    run = kw(b, "RUN")[0]
    assert run.exec_form and run.argv == ("sh", "-c", "apt-get update && apt-get install -y x")
    assert [c.argv for c in run.commands] == [
        ("sh", "-c", "apt-get update && apt-get install -y x"), ("apt-get", "update"),
        ("apt-get", "install", "-y", "x")]
    assert kw(b, "CMD")[0].argv == ("app", "--port", "80")
    ep = kw(b, "ENTRYPOINT")[0]
    assert not ep.exec_form and ep.args == "exec app"


def test_bad_json_exec_form_is_an_error() -> None:
    scan = parse('FROM a\nCMD ["app", bad]\nSHELL /bin/bash\n')
    assert [e.line for e in scan.errors] == [2, 3]


def test_flags() -> None:
    b = build_of("FROM --platform=linux/amd64 golang:1.22 AS build\n"
                 "RUN --mount=type=cache,target=/root/.cache/go-build --network=none go build ./...\n"
                 "FROM scratch\nCOPY --from=build --chown=10001:10001 --chmod=0755 --link /out/app /app\n")
    assert b.stages[0].instructions[0].flags == ("--platform=linux/amd64",)
    assert kw(b, "RUN")[0].flags == ("--mount=type=cache,target=/root/.cache/go-build", "--network=none")
    copy = kw(b, "COPY")[0]
    assert copy.flags == ("--from=build", "--chown=10001:10001", "--chmod=0755", "--link")
    assert copy.argv == ("/out/app", "/app")


def test_unknown_instruction_is_an_error_and_parsing_continues() -> None:
    scan = parse("FROM a\nFOO bar\nUSER 1\n")
    assert [(e.line, "unknown instruction" in e.message) for e in scan.errors] == [(2, True)]
    assert [i.keyword for i in scan.builds[0].instructions] == ["FROM", "USER"]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "RUN echo x\n"])
def test_missing_from_is_an_error(text: str) -> None:
    scan = parse(text)
    assert any("FROM" in e.message for e in scan.errors)
    assert not scan.builds and not scan.workloads


def test_oversized_file_is_refused() -> None:
    scan = parse("FROM a\n" + "#" * MAX_FILE_BYTES)
    assert len(scan.errors) == 1 and "limit" in scan.errors[0].message
    assert not scan.builds


def test_onbuild_run_commands() -> None:
    b = build_of("FROM a\nONBUILD RUN curl -fsSL https://x | sh\n")
    ob = kw(b, "ONBUILD")[0]
    assert ob.argv == ("RUN",)
    assert [c.argv for c in ob.commands] == [("curl", "-fsSL", "https://x"), ("sh",)]


def test_powershell_shell_is_not_split() -> None:
    b = build_of('FROM mcr.microsoft.com/windows/servercore:ltsc2022\nSHELL ["powershell", "-Command"]\n'
                 "RUN Invoke-WebRequest https://x -OutFile y; sudo x\n")
    assert kw(b, "RUN")[0].commands == ()


# --- variables --------------------------------------------------------------------------------------------------------


def test_global_arg_in_from_and_redeclared_in_stage() -> None:
    b = build_of("ARG BASE=python\nARG VER=3.12\nFROM ${BASE}:${VER}-slim\nARG VER\nLABEL v=$VER other=$BASE\n")
    assert b.stages[0].base.value is not None and b.stages[0].base.value.raw == "python:3.12-slim"
    assert kw(b, "ARG")[0].stage == -1
    # VER re-declared takes the global default; BASE is not visible inside the stage
    assert kw(b, "LABEL")[0].argv == ("v=3.12", "other=$BASE")


def test_substitution_forms() -> None:
    b = build_of("FROM a\nARG EMPTY=\nENV A=x\nENV B=${A}y C=${MISSING:-def} D=${A:+set} E=${EMPTY:-e} F=${A-no} "
                 "G='$A' H=\\$A\nWORKDIR /srv/$A\n")
    assert kw(b, "ENV")[1].argv == ("B=xy", "C=def", "D=set", "E=e", "F=x", "G=$A", "H=$A")
    assert kw(b, "WORKDIR")[0].args == "/srv/x"


def test_env_sees_values_before_the_instruction() -> None:
    b = build_of("FROM a\nENV A=1\nENV A=2 B=$A\n")
    assert kw(b, "ENV")[1].argv == ("A=2", "B=1")


def test_run_text_is_not_substituted() -> None:
    b = build_of("FROM a\nENV V=1\nRUN echo $V ${V}\n")
    assert kw(b, "RUN")[0].args == "echo $V ${V}"


def test_env_legacy_and_quoted_pairs() -> None:
    b = build_of('FROM a\nENV LEGACY some value\nENV K1=v1 K2="v 2" K3=v\\ 3\nLABEL "a b"="c d" e=f\n')
    assert kw(b, "ENV")[0].argv == ("LEGACY=some value",)
    assert kw(b, "ENV")[1].argv == ("K1=v1", "K2=v 2", "K3=v 3")
    assert kw(b, "LABEL")[0].argv == ("a b=c d", "e=f")


def test_unresolved_base_is_unknown() -> None:
    b = build_of("ARG IMAGE\nFROM $IMAGE\n")
    assert b.stages[0].base.value is None
    assert b.stages[0].base_text == "$IMAGE"


# --- stages and the image ---------------------------------------------------------------------------------------------


def test_stages_aliases_and_scratch() -> None:
    b = build_of("FROM golang:1.22 AS Build\nRUN go build\nFROM build AS test\nFROM scratch\nCOPY --from=build /a /a\n")
    assert [(s.index, s.name, s.base_stage) for s in b.stages] == [(0, "build", None), (1, "test", 0), (2, None, None)]
    assert b.stages[1].base.value is None and b.stages[2].base.value is None
    assert [i.stage for i in b.instructions] == [0, 0, 1, 2, 2]
    assert b.stages[0].instructions[0].keyword == "FROM"


def test_workload_identity_and_image_resolved_through_aliases() -> None:
    w, c = image("FROM node:20 AS base\nUSER node\nHEALTHCHECK CMD curl -f localhost\nEXPOSE 3000\n"
                 "FROM base AS runtime\nCMD [\"node\", \"app.js\"]\n")
    assert w.ident.source is SourceKind.DOCKERFILE and w.ident.kind == "Dockerfile"
    assert w.ident.name == "runtime" and w.ident.line == 5
    assert c.role is Role.IMAGE and c.name == "runtime"
    assert c.image.value is not None and c.image.value.repository == "library/node" and c.image.value.tag == "20"
    assert c.image.loc.line == 1
    assert c.user is not None and c.user.value == "node" and c.user.explicit and c.user.loc.line == 2
    assert c.health is not None and c.health.liveness.value is True
    assert [p.container_port for p in c.ports] == [3000]
    assert c.command == ("node", "app.js")
    assert c.privileged is None and c.resources is None and c.read_only_root is None and c.capabilities is None


def test_no_user_is_implicit_at_final_from() -> None:
    _, c = image("FROM a AS build\nUSER builder\nFROM b\nRUN x\n")
    assert c.user is not None and c.user.value is None and not c.user.explicit and c.user.loc.line == 3
    assert c.name == "image"
    assert c.health is not None and c.health.liveness.value is False and not c.health.liveness.explicit


def test_healthcheck_none_disables() -> None:
    _, c = image("FROM a\nHEALTHCHECK CMD true\nFROM a\nHEALTHCHECK NONE\n")
    assert c.health is not None and c.health.disabled and c.health.liveness.value is False
    assert c.health.liveness.explicit


def test_ports_ranges_and_protocols() -> None:
    _, c = image("FROM a\nEXPOSE 80 443/tcp 53/udp 8000-8002\n")
    assert [(p.container_port, p.protocol) for p in c.ports] == [
        (80, "TCP"), (443, "TCP"), (53, "UDP"), (8000, "TCP"), (8001, "TCP"), (8002, "TCP")]


def test_env_and_arg_of_every_stage_are_in_the_image_env() -> None:
    _, c = image("ARG GLOBAL_TOKEN\nFROM a AS build\nARG NPM_TOKEN=abc\nENV BUILD_ONLY=1\nFROM b\nENV APP=1\n")
    assert [(e.name, e.value, e.origin) for e in c.env] == [
        ("GLOBAL_TOKEN", None, "ARG"), ("NPM_TOKEN", "abc", "ARG"), ("BUILD_ONLY", "1", "ENV"), ("APP", "1", "ENV")]
    assert c.env[1].loc.line == 3


def test_entrypoint_and_cmd_combination() -> None:
    _, c = image('FROM a\nCMD ["base"]\nFROM a\nENTRYPOINT ["/entry"]\nCMD ["--flag"]\n')
    assert c.command == ("/entry", "--flag")
    _, c = image("FROM a\nENTRYPOINT run app\nCMD [\"ignored\"]\n")
    assert c.command == ("/bin/sh", "-c", "run app")


def test_labels_and_volumes() -> None:
    w, c = image('FROM a\nLABEL tenant=blue data-classification=internal\nVOLUME ["/data", "/logs"]\n')
    assert w.labels == {"tenant": "blue", "data-classification": "internal"}
    assert w.labels_loc is not None and w.labels_loc.line == 2
    assert [(m.target, m.kind, m.source) for m in c.mounts] == [("/data", "volume", None), ("/logs", "volume", None)]


def test_file_basename_names_an_unnamed_image() -> None:
    scan = load("svc/api/Dockerfile", "FROM a\n")
    assert scan.workloads[0].ident.name == "Dockerfile"
    assert scan.builds[0].ident == scan.workloads[0].ident


# --- suppressions -----------------------------------------------------------------------------------------------------


def test_inline_suppression_covers_the_next_instruction() -> None:
    scan = parse("FROM a\n# mamori:ignore=MAM-BUILD-002,MAM-BUILD-005 build needs it exp:2027-01-31\n"
                 "RUN sudo apt-get install -y \\\n    curl\nRUN other\n")
    assert len(scan.suppressions) == 1
    s = scan.suppressions[0]
    assert s.rule_ids == ("MAM-BUILD-002", "MAM-BUILD-005")
    assert s.reason == "build needs it" and s.expires == date(2027, 1, 31)
    assert (s.first_line, s.last_line, s.line, s.via) == (3, 4, 2, "inline")


def test_suppression_must_be_directly_above() -> None:
    scan = parse("FROM a\n# mamori:ignore=MAM-BUILD-002 why\n\nRUN sudo x\n")
    assert scan.suppressions == []


def test_suppression_covers_heredoc_body() -> None:
    scan = parse("FROM a\n# mamori:ignore=MAM-BUILD-001 vendor script\nRUN <<EOF\ncurl x | sh\nEOF\n")
    assert (scan.suppressions[0].first_line, scan.suppressions[0].last_line) == (3, 5)


def test_suppression_without_reason_is_kept_and_bad_expiry_is_an_error() -> None:
    scan = parse("FROM a\n# mamori:ignore=MAM-BUILD-002\nRUN sudo x\n# mamori:ignore=MAM-BUILD-002 r exp:2026-02-30\n"
                 "RUN sudo y\n")
    assert [(s.reason, s.first_line) for s in scan.suppressions] == [("", 3)]
    assert [e.line for e in scan.errors] == [4]


def test_file_wide_suppression() -> None:
    scan = parse("FROM a\nRUN x\n# mamori:ignore-file=MAM-BUILD-006 base pinned by CI\n")
    s = scan.suppressions[0]
    assert (s.rule_ids, s.first_line, s.last_line) == (("MAM-BUILD-006",), 1, 4)


# --- real-world corpus ------------------------------------------------------------------------------------------------


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not _corpus() and os.environ.get("CI") != "true", reason="shared corpus not present (CI fails)")
def test_corpus_parses_without_errors() -> None:
    files = _corpus()
    assert len(files) >= 70
    for f in files:
        scan = load(str(f), f.read_text(encoding="utf-8"))
        assert not scan.errors, (f.name, scan.errors)
        assert len(scan.builds) == 1 and len(scan.workloads) == 1, f.name
        runs = [i for i in scan.builds[0].instructions if i.keyword == "RUN"]
        posix = not any(s in f.name for s in ("windows",))
        if runs and posix:
            assert any(i.commands for i in runs), f.name


# --- hostile input ----------------------------------------------------------------------------------------------------


def test_windows_base_uses_cmd_shell() -> None:
    b = build_of("FROM mcr.microsoft.com/windows/nanoserver:ltsc2022\nRUN setx /m PATH \"%PATH%;C:\\go\" && sudo x\n")
    assert kw(b, "RUN")[0].commands == ()


def test_nested_substitution_is_bounded() -> None:
    scan = parse("FROM a\nENV A=" + "${B:-" * 5000 + "x" + "}" * 5000 + "\n")
    assert scan.builds  # no RecursionError, no hang


def test_too_many_instructions() -> None:
    from mamori.sources.dockerfile import MAX_INSTRUCTIONS

    scan = parse("FROM a\n" + "USER 1\n" * (MAX_INSTRUCTIONS + 5))
    assert [e.line for e in scan.errors] == [MAX_INSTRUCTIONS + 1]
    assert len(scan.builds[0].instructions) == MAX_INSTRUCTIONS


@pytest.mark.parametrize("text", [
    "FROM a\nRUN \\", "FROM a\nRUN <<", "FROM a\nRUN <<'EOF", "FROM a\nCOPY <<EOF", "FROM a\nENV A=\"unterminated",
    "FROM a\nENV A='x", "FROM a\nLABEL =\n", "FROM a\nARG =x\n", "FROM a\nEXPOSE 5-1\n", "FROM a\nEXPOSE 0\n",
    "FROM a\nUSER\n", "FROM a\nONBUILD\n", "FROM a\nHEALTHCHECK\n", "FROM a\nRUN [\n", "FROM a\nCMD [1, 2]\n",
    "FROM a\nVOLUME [\"/a\", 3]\n", "FROM a AS\n", "FROM a AS B C\n", "FROM ${\n", "ARG A=${B:-${C\nFROM a\n",
    "FROM a\nRUN $((\n", "FROM a\nRUN `echo\n", "FROM a\nRUN echo $'\\x\n", "\x00FROM a\n", "FROM a\n\x00\n",
])
def test_malformed_input_never_crashes(text: str) -> None:
    parse(text)


def test_mutated_corpus_never_crashes() -> None:
    import random

    files = _corpus()[:10] or []
    seed_texts = [f.read_text(encoding="utf-8") for f in files] or ["FROM a\nRUN echo \"$(curl x | sh)\" && \\\n b\n"]
    pieces = ["\\", "`", "'", '"', "$", "(", ")", "{", "}", "[", "]", "<<EOF", "<<-X", "\n", "#", "|", "&", ";",
              "${A:-", "\\\n", "RUN ", "FROM ", "# escape=`\n"]
    rng = random.Random(1234)
    for _ in range(300):
        chars = list(rng.choice(seed_texts))
        for _ in range(rng.randint(1, 20)):
            pos = rng.randint(0, len(chars))
            if rng.random() < 0.6:
                chars[pos:pos] = list(rng.choice(pieces))
            else:
                del chars[pos:pos + rng.randint(1, 10)]
        parse("".join(chars))
