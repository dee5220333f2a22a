"""Split the shell text of a RUN step into simple commands.

Rules ask questions such as "does any command install a package without a version?" or
"is a download piped into a shell?"; they need argv lists, not text. This is a POSIX-shell
tokenizer good enough for Dockerfiles: quotes, escapes, ``&& || ; | & newline``, subshells
and braces, ``$(...)``/backticks/process substitution (whose commands are reported too),
redirections (dropped from argv), shell here-documents (their bodies are data), control
words (``if``/``for``/``case``... are stepped over) and ``sh -c "..."`` strings (split
again). Leading ``NAME=value`` assignments are not part of argv; wrappers such as ``sudo``,
``env`` or ``xargs`` are, and :func:`unwrap` finds the program they run.

It is an approximation, never a crash: the input is bounded by the Dockerfile size, nesting
by :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mamori.model import Command, Loc

MAX_DEPTH = 4
MAX_COMMANDS = 20_000

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox-sh"})
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_DROP_ALONE = frozenset({"{", "}", "fi", "done", "esac", "then", "else", "do", "elif"})
_PREFIX_WORDS = frozenset({"!", "if", "then", "else", "elif", "do", "while", "until", "{"})
_SKIP_COMMANDS = frozenset({"for", "select", "case", "function"})
_SEPARATORS = frozenset({";", "&&", "||", "&", "\n", ";;", ";&", ";;&", "(", ")"})
_PIPES = frozenset({"|", "|&"})
_REDIRECTS = ("<<<", "<<-", "<<", ">>", "<>", "<&", ">&", ">|", "&>>", "&>", "<", ">")


# Characters with no special meaning inside a word (everything the loop in _word dispatches on excluded).
_PLAIN_RUN = re.compile(r"[^\s;&|()<>\\'\"$`]+")


@dataclass(slots=True)
class _Word:
    text: str
    raw: str
    start: int
    end: int
    quoted: bool = False
    subs: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class _Op:
    op: str
    start: int


_Token = _Word | _Op


class _Lexer:
    """Turns shell text into words and operators; here-document bodies are skipped."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.tokens: list[_Token] = []
        self.pending_heredocs: list[tuple[str, bool]] = []
        self.expect_heredoc_word: bool | None = None  # strip_tabs flag while waiting for the delimiter

    def run(self) -> list[_Token]:
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c in " \t\r":
                self.i += 1
            elif c == "\\" and self.i + 1 < n and s[self.i + 1] == "\n":
                self.i += 2
            elif c == "\n":
                self.tokens.append(_Op("\n", self.i))
                self.i += 1
                self._heredoc_bodies()
            elif c == "#":
                nl = s.find("\n", self.i)
                self.i = n if nl < 0 else nl
            elif c in "<>" and self.i + 1 < n and s[self.i + 1] == "(":
                self._word()
            elif c in ";&|()<>":
                self._operator()
            else:
                self._word()
        return self.tokens

    def _operator(self) -> None:
        s, i = self.s, self.i
        for op in (";;&", ";;", ";&", "&&", "||", "|&", "&>>", "&>", *_REDIRECTS, ";", "&", "|", "(", ")"):
            if s.startswith(op, i):
                if op in _REDIRECTS or op in ("&>", "&>>"):
                    if op in ("<<", "<<-"):
                        self.expect_heredoc_word = op == "<<-"
                    self.tokens.append(_Op("redir", i))
                else:
                    self.tokens.append(_Op(op, i))
                self.i = i + len(op)
                return
        self.i += 1  # unreachable in practice: every operator char is listed

    def _heredoc_bodies(self) -> None:
        s = self.s
        for delim, strip_tabs in self.pending_heredocs:
            while self.i < self.n:
                nl = s.find("\n", self.i)
                end = self.n if nl < 0 else nl
                line = s[self.i : end]
                self.i = end if nl < 0 else nl + 1
                if (line.lstrip("\t") if strip_tabs else line).rstrip("\r") == delim:
                    break
        self.pending_heredocs = []

    def _balanced(self, j: int) -> int:
        """Index just past the ``)`` that closes the ``(`` before ``j`` (quotes respected)."""
        s, n, depth = self.s, self.n, 1
        while j < n:
            c = s[j]
            if c == "\\":
                j += 2
                continue
            if c == "'":
                k = s.find("'", j + 1)
                j = n if k < 0 else k + 1
                continue
            if c == '"':
                j = self._dquote_end(j + 1)
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        return n

    def _dquote_end(self, j: int) -> int:
        s, n = self.s, self.n
        while j < n:
            c = s[j]
            if c == "\\":
                j += 2
            elif c == '"':
                return j + 1
            elif c == "$" and j + 1 < n and s[j + 1] == "(":
                j = self._balanced(j + 2)
            elif c == "`":
                k = self._backtick_end(j + 1)
                j = k
            else:
                j += 1
        return n

    def _backtick_end(self, j: int) -> int:
        s, n = self.s, self.n
        while j < n:
            if s[j] == "\\":
                j += 2
            elif s[j] == "`":
                return j + 1
            else:
                j += 1
        return n

    def _dollar(self, j: int, out: list[str], subs: list[tuple[str, int]]) -> int:
        """Handle ``$`` at ``j``; returns the next index. Text goes to ``out`` unchanged."""
        s, n = self.s, self.n
        if j + 1 < n and s[j + 1] == "(":
            if j + 2 < n and s[j + 2] == "(":  # $(( arithmetic ))
                end = self._balanced(j + 2)
            else:
                end = self._balanced(j + 2)
                subs.append((s[j + 2 : max(j + 2, end - 1)], j + 2))
            out.append(s[j:end])
            return end
        if j + 1 < n and s[j + 1] == "{":
            k = s.find("}", j + 2)
            end = n if k < 0 else k + 1
            out.append(s[j:end])
            return end
        if j + 1 < n and s[j + 1] == "'":
            k = j + 2
            buf: list[str] = []
            while k < n and s[k] != "'":
                if s[k] == "\\" and k + 1 < n:
                    buf.append(s[k : k + 2])
                    k += 2
                else:
                    buf.append(s[k])
                    k += 1
            out.append("".join(buf))
            return min(n, k + 1)
        out.append("$")
        return j + 1

    def _word(self) -> None:
        s, n = self.s, self.n
        start = j = self.i
        out: list[str] = []
        subs: list[tuple[str, int]] = []
        quoted = False
        while j < n:
            c = s[j]
            if c in " \t\r\n":
                break
            if c in ";&|()" or (c in "<>" and not (j + 1 < n and s[j + 1] == "(")):
                break
            if c in "<>":  # process substitution <( ... )
                end = self._balanced(j + 2)
                subs.append((s[j + 2 : max(j + 2, end - 1)], j + 2))
                out.append(s[j:end])
                j = end
            elif c == "\\":
                if j + 1 < n:
                    if s[j + 1] != "\n":
                        out.append(s[j + 1])
                    quoted = True
                j += 2
            elif c == "'":
                k = s.find("'", j + 1)
                k = n if k < 0 else k
                out.append(s[j + 1 : k])
                quoted = True
                j = k + 1
            elif c == '"':
                quoted = True
                j = self._dquoted(j + 1, out, subs)
            elif c == "$":
                j = self._dollar(j, out, subs)
            elif c == "`":
                j = self._backtick(j, out, subs)
            else:
                m = _PLAIN_RUN.match(s, j)  # a run of ordinary characters in one step
                out.append(m.group() if m else c)
                j = m.end() if m else j + 1
        self.i = max(j, start + 1)
        word = _Word("".join(out), s[start:j], start, j, quoted, subs)
        if self.expect_heredoc_word is not None:
            self.pending_heredocs.append((word.text, self.expect_heredoc_word))
            self.expect_heredoc_word = None
        self.tokens.append(word)

    def _dquoted(self, j: int, out: list[str], subs: list[tuple[str, int]]) -> int:
        s, n = self.s, self.n
        while j < n:
            c = s[j]
            if c == '"':
                return j + 1
            if c == "\\" and j + 1 < n:
                nxt = s[j + 1]
                if nxt in '"\\$`':
                    out.append(nxt)
                elif nxt != "\n":
                    out.append(s[j : j + 2])
                j += 2
            elif c == "$":
                j = self._dollar(j, out, subs)
            elif c == "`":
                j = self._backtick(j, out, subs)
            else:
                out.append(c)
                j += 1
        return n

    def _backtick(self, j: int, out: list[str], subs: list[tuple[str, int]]) -> int:
        """A `command substitution` starting at ``j``: record its text, return the index after it."""
        end = self._backtick_end(j + 1)
        subs.append((self.s[j + 1 : max(j + 1, end - 1)], j + 1))
        out.append(self.s[j:end])
        return end


def _basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _skip_options(argv: Sequence[str], i: int, with_arg: frozenset[str], long_with_arg: frozenset[str]) -> int:
    """Index of the first operand after short/long options; ``--`` ends options."""
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return i + 1
        if a.startswith("--"):
            i += 2 if (a in long_with_arg and "=" not in a) else 1
            continue
        if a.startswith("-") and len(a) > 1:
            i += 2 if (a[-1] in with_arg and len(a) == 2) else 1
            continue
        return i
    return i


def _skip_assignments(argv: Sequence[str], i: int) -> int:
    while i < len(argv) and _ASSIGN.match(argv[i]):
        i += 1
    return i


_SUDO_ARG = frozenset("ugChprtUTD")
_XARGS_ARG = frozenset("adEILnPs")
_ENV_ARG = frozenset("uSC")
_USER_WRAPPERS = frozenset({"gosu", "su-exec", "chpst"})
_PLAIN_WRAPPERS = frozenset({"nohup", "setsid", "stdbuf", "unbuffer", "eatmydata", "chronic", "fakeroot", "tini",
                             "dumb-init", "catatonit"})


def unwrap(argv: Sequence[str]) -> tuple[str, ...]:
    """The argv of the program a wrapper runs: ``sudo -E apt-get x`` -> ``apt-get x``.

    Handles sudo/doas, env, xargs, nohup, time, exec, command, nice, timeout, chroot,
    busybox applets, gosu/su-exec and a few init wrappers; anything else is returned as is.
    """
    cur = tuple(argv)
    for _ in range(8):
        if not cur:
            return cur
        prog = _basename(cur[0])
        if prog in ("sudo", "doas"):
            i = _skip_options(cur, 1, _SUDO_ARG, frozenset({"--user", "--group", "--prompt", "--chdir"}))
            i = _skip_assignments(cur, i)
        elif prog == "env":
            i = _skip_options(cur, 1, _ENV_ARG, frozenset({"--unset", "--chdir", "--split-string"}))
            i = _skip_assignments(cur, i)
        elif prog == "xargs":
            i = _skip_options(cur, 1, _XARGS_ARG, frozenset({"--arg-file", "--delimiter", "--max-args",
                                                              "--max-procs", "--max-lines", "--replace"}))
        elif prog == "command":
            if len(cur) > 1 and cur[1] in ("-v", "-V"):
                return cur
            i = _skip_options(cur, 1, frozenset(), frozenset())
        elif prog in ("time", "exec"):
            i = _skip_options(cur, 1, frozenset("a"), frozenset())
        elif prog in ("nice", "ionice"):
            i = _skip_options(cur, 1, frozenset("ncpt"), frozenset({"--adjustment", "--class", "--classdata"}))
        elif prog == "timeout":
            i = _skip_options(cur, 1, frozenset("sk"), frozenset({"--signal", "--kill-after"})) + 1
        elif prog == "chroot":
            i = _skip_options(cur, 1, frozenset(), frozenset({"--userspec", "--groups"})) + 1
        elif prog in _USER_WRAPPERS:
            i = 2
        elif prog in _PLAIN_WRAPPERS:
            i = _skip_options(cur, 1, frozenset(), frozenset())
        elif prog == "busybox" and len(cur) > 1 and not cur[1].startswith("-"):
            i = 1
        else:
            return cur
        cur = cur[i:]
    return cur


def program(argv: Sequence[str]) -> str:
    """Base name of the program a command runs after wrappers (``/usr/bin/sudo pip3`` -> ``pip3``)."""
    inner = unwrap(argv)
    return _basename(inner[0]) if inner else ""


def shell_script(argv: Sequence[str]) -> str | None:
    """The script of ``sh -c SCRIPT`` / ``bash -ec SCRIPT`` / ``su -c SCRIPT``, else None."""
    inner = unwrap(argv)
    if not inner:
        return None
    prog = _basename(inner[0])
    if prog in ("su", "runuser"):
        for k, a in enumerate(inner[1:], 1):
            if a in ("-c", "--command") and k + 1 < len(inner):
                return inner[k + 1]
            if a.startswith("--command="):
                return a.split("=", 1)[1]
        return None
    if prog not in SHELLS:
        return None
    has_c = False
    i = 1
    while i < len(inner):
        a = inner[i]
        if a in ("-o", "+o", "-O", "+O"):
            i += 2
            continue
        if a == "--":
            i += 1
            break
        if a.startswith("--"):
            i += 1
            continue
        if len(a) > 1 and a[0] in "-+":
            has_c = has_c or (a[0] == "-" and "c" in a[1:])
            i += 1
            continue
        break
    if has_c and i < len(inner):
        return inner[i]
    return None


@dataclass(slots=True)
class _Simple:
    argv: tuple[str, ...]
    start: int
    subs: list[tuple[str, int]]
    piped_to: tuple[str, ...] = ()


class _Splitter:
    def __init__(self, file: str, path: str, line_of: Callable[[int], int]) -> None:
        self.file = file
        self.path = path
        self.line_of = line_of
        self.out: list[Command] = []

    def split(self, text: str, depth: int, fixed_line: int | None) -> None:
        tokens = _Lexer(text).run()
        simples = self._simples(tokens)
        for simple in simples:
            if len(self.out) >= MAX_COMMANDS:
                return
            line = fixed_line if fixed_line is not None else self.line_of(simple.start)
            script = shell_script(simple.argv)
            if depth < MAX_DEPTH:
                for sub_text, sub_off in simple.subs:
                    if script is not None and sub_text in script:
                        continue  # split below, as part of the script
                    sub_line = fixed_line if fixed_line is not None else self.line_of(sub_off)
                    self.split(sub_text, depth + 1, sub_line)
            self.out.append(Command(simple.argv, Loc(self.file, line, self.path), simple.piped_to))
            if script is not None and depth < MAX_DEPTH:
                self.split(script, depth + 1, line)

    def _simples(self, tokens: list[_Token]) -> list[_Simple]:
        result: list[_Simple] = []
        words: list[_Word] = []
        extra_subs: list[tuple[str, int]] = []
        pipe_from: _Simple | None = None
        state = {"case_pattern": False}
        skip_next_word = False

        for tok in tokens:
            if isinstance(tok, _Word):
                if skip_next_word:  # the target of a redirection is not an argument
                    skip_next_word = False
                    extra_subs.extend(tok.subs)
                    continue
                words.append(tok)
                continue
            op = tok.op
            if op == "redir":
                # an fd number written against the operator (2>&1) is not an argument either
                if words and words[-1].text.isdigit() and not words[-1].quoted and words[-1].end == tok.start:
                    words.pop()
                skip_next_word = True
                continue
            if op not in _PIPES and op not in _SEPARATORS:
                continue
            if op == "|" and state["case_pattern"]:
                continue  # `a|b)` alternatives of a case pattern
            simple = self._finish(words, extra_subs, op, state, result)
            words = []
            extra_subs = []
            if pipe_from is not None and simple is not None:
                pipe_from.piped_to = simple.argv
            pipe_from = simple if op in _PIPES else None
            if op in (";;", ";&", ";;&"):
                state["case_pattern"] = True
        simple = self._finish(words, extra_subs, "", state, result)
        if pipe_from is not None and simple is not None:
            pipe_from.piped_to = simple.argv
        return result

    def _finish(self, ws: list[_Word], extra_subs: list[tuple[str, int]], term: str,
                state: dict[str, bool], result: list[_Simple]) -> _Simple | None:
        """Turn the words up to an operator into a simple command, stepping over shell syntax."""
        subs = [s for w in ws for s in w.subs] + extra_subs
        if term == ")" and state["case_pattern"]:
            state["case_pattern"] = False
            self._only_subs(subs, ws, result)
            return None
        ws = list(ws)
        while ws and not ws[0].quoted and ws[0].text in _PREFIX_WORDS:
            ws.pop(0)
        if ws and not ws[0].quoted and ws[0].text in _SKIP_COMMANDS:
            if ws[0].text == "case":
                state["case_pattern"] = term != ")"
            self._only_subs(subs, ws, result)
            return None
        if ws and not ws[0].quoted and ws[0].text == "esac":
            state["case_pattern"] = False
            ws.pop(0)
        if not ws or (len(ws) == 1 and not ws[0].quoted and ws[0].text in _DROP_ALONE):
            self._only_subs(subs, ws, result)
            return None
        k = 0
        while k < len(ws) - 1 and _ASSIGN.match(ws[k].raw):
            k += 1
        argv = tuple(w.text for w in (ws[k:] if not _ASSIGN.match(ws[k].raw) else ws))
        simple = _Simple(argv, ws[0].start, subs)
        result.append(simple)
        return simple

    @staticmethod
    def _only_subs(subs: list[tuple[str, int]], ws: list[_Word], result: list[_Simple]) -> None:
        """Keep the command substitutions of dropped words (``for x in $(curl ...)``)."""
        if subs:
            result.append(_Simple((), ws[0].start if ws else subs[0][1], subs))


def split(text: str, *, file: str, line: int, path: str = "",
          line_of: Callable[[int], int] | None = None) -> tuple[Command, ...]:
    """Simple commands of ``text`` in execution order, each with its line.

    ``line`` is the line of the text's first character; ``line_of`` maps an offset in
    ``text`` to a line when the text was joined from continuation lines.
    """

    newlines = [m.start() for m in re.finditer("\n", text)]

    def default_line_of(offset: int) -> int:
        return line + bisect.bisect_left(newlines, offset)

    splitter = _Splitter(file, path, line_of or default_line_of)
    splitter.split(text, 0, None)
    return tuple(c for c in splitter.out if c.argv)
