"""Dockerfile syntax below the instruction level: lines, directives, heredocs, words, variables.

Follows BuildKit's parser: parser directives only at the very top, the escape character
ends a line to continue it (trailing blanks allowed), comment and empty lines inside a
continuation are dropped, ``<<EOF`` here-documents in RUN/COPY/ADD read the following lines,
and ``$VAR`` / ``${VAR:-default}`` are substituted with Docker's shell-word rules (single
quotes protect, the escape character escapes). Everything is bounded by the file size.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mamori.model import InputError

_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
KNOWN_DIRECTIVES = ("syntax", "escape", "check")
HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
_HEREDOC_WORD = re.compile(r"(-?)([\"']?)([A-Za-z_][A-Za-z0-9_.-]*)\2")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

MAX_NESTING = 16
Vars = Mapping[str, str | None]  # None: declared (ARG NAME) but without a value


@dataclass(slots=True)
class Heredoc:
    delimiter: str
    body: str
    first_line: int  # line of the body's first line
    strip_tabs: bool
    quoted: bool


@dataclass(slots=True)
class RawInstruction:
    """One instruction after continuation lines are joined, before it is interpreted."""

    keyword: str
    text: str  # everything after the keyword, continuations joined
    line: int
    last_line: int
    offsets: list[tuple[int, int]]  # (offset in text, physical line) where each physical part starts
    heredocs: list[Heredoc] = field(default_factory=list)
    comments: list[tuple[int, str]] = field(default_factory=list)  # comments inside the continuation
    comments_above: list[tuple[int, str]] = field(default_factory=list)

    def line_of(self, offset: int) -> int:
        line = self.line
        for off, ln in self.offsets:
            if off > offset:
                break
            line = ln
        return line


@dataclass(slots=True)
class Lexed:
    escape: str
    directives: dict[str, str]
    instructions: list[RawInstruction]
    errors: list[InputError]
    file_comments: list[tuple[int, str]]  # every comment line, for file-wide suppressions
    line_count: int


def _directives(file: str, lines: list[str], errors: list[InputError]) -> tuple[dict[str, str], int]:
    found: dict[str, str] = {}
    for n, line in enumerate(lines):
        m = _DIRECTIVE.match(line.strip()) if line.strip().startswith("#") else None
        if not m or m.group(1).lower() not in KNOWN_DIRECTIVES:
            return found, n
        name = m.group(1).lower()
        if name in found:
            errors.append(InputError(file, n + 1, f"parser directive {name!r} given twice"))
            return found, n
        found[name] = m.group(2)
    return found, len(lines)


def _continues(line: str, escape: str) -> bool:
    stripped = line.rstrip(" \t")
    return stripped.endswith(escape)


def _heredoc_markers(text: str) -> list[tuple[str, bool, bool]]:
    """``<<EOF`` / ``<<-EOF`` / ``<<"EOF"`` markers outside quotes, in order."""
    out: list[tuple[str, bool, bool]] = []
    if "<<" not in text:
        return out  # nearly every instruction: skip the character walk
    i, n = 0, len(text)
    quote: str | None = None
    while i < n:
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
            continue
        if c in "'\"":
            quote = c
            i += 1
            continue
        if c == "\\":
            i += 2
            continue
        if text.startswith("<<", i) and not text.startswith("<<<", i) and (i == 0 or text[i - 1] != "<"):
            m = _HEREDOC_WORD.match(text, i + 2)
            if m:
                out.append((m.group(3), m.group(1) == "-", bool(m.group(2))))
                i = m.end()
                continue
        i += 1
    return out


def lex(file: str, text: str) -> Lexed:
    """Split Dockerfile text into raw instructions; syntax problems become InputErrors."""
    errors: list[InputError] = []
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    directives, i = _directives(file, lines, errors)
    escape = "\\"
    if "escape" in directives:
        value = directives["escape"]
        if value in ("\\", "`"):
            escape = value
        else:
            line = next((n + 1 for n, ln in enumerate(lines) if "escape" in ln.lower()), 1)
            errors.append(InputError(file, line, f"invalid escape directive {value!r}: must be ` or \\"))
    file_comments = [(n + 1, ln.strip()) for n, ln in enumerate(lines) if ln.strip().startswith("#")]
    out: list[RawInstruction] = []
    above: list[tuple[int, str]] = []
    n_lines = len(lines)
    while i < n_lines:
        stripped = lines[i].strip()
        if not stripped:
            above = []
            i += 1
            continue
        if stripped.startswith("#"):
            above.append((i + 1, stripped))
            i += 1
            continue
        raw = _read_instruction(lines, i, escape)
        raw.comments_above = above
        above = []
        i = raw.last_line  # index of the line after the instruction
        if raw.keyword.upper() in HEREDOC_KEYWORDS:
            i = _read_heredocs(file, lines, i, raw, errors)
        out.append(raw)
    return Lexed(escape, directives, out, errors, file_comments, n_lines)


def _read_instruction(lines: list[str], i: int, escape: str) -> RawInstruction:
    start = i
    parts: list[str] = []
    offsets: list[tuple[int, int]] = []
    comments: list[tuple[int, str]] = []
    size = 0
    line = lines[i].lstrip()
    while True:
        offsets.append((size, i + 1))
        if _continues(line, escape):
            part = line.rstrip(" \t")[: -len(escape)]
            parts.append(part)
            size += len(part)
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                if lines[i].strip():
                    comments.append((i + 1, lines[i].strip()))
                i += 1
            if i >= len(lines):
                break
            line = lines[i]
            continue
        parts.append(line)
        i += 1
        break
    joined = "".join(parts)
    m = re.match(r"(\S+)\s*", joined)
    keyword = m.group(1) if m else ""
    cut = m.end() if m else 0
    body = joined[cut:]
    shifted = [(max(0, off - cut), ln) for off, ln in offsets]
    return RawInstruction(keyword, body, start + 1, i, shifted, [], comments)


def _read_heredocs(file: str, lines: list[str], i: int, raw: RawInstruction, errors: list[InputError]) -> int:
    for delim, strip_tabs, quoted in _heredoc_markers(raw.text):
        first = i + 1
        body: list[str] = []
        closed = False
        while i < len(lines):
            ln = lines[i]
            i += 1
            candidate = ln.lstrip("\t") if strip_tabs else ln
            if candidate == delim:
                closed = True
                break
            body.append(candidate)
        if not closed:
            errors.append(InputError(file, raw.line, f"unterminated heredoc <<{delim}: no closing {delim!r} line"))
        raw.heredocs.append(Heredoc(delim, "\n".join(body) + ("\n" if body else ""), first, strip_tabs, quoted))
        raw.last_line = i
    return i


# --- words and variables -------------------------------------------------------------------------------------------


class _Walker:
    """Docker's shell-word processing: quotes, escapes and ``$VAR`` substitution."""

    def __init__(self, text: str, lookup: Callable[[str], str | None], escape: str, keep_quotes: bool,
                 depth: int = 0) -> None:
        self.s = text
        self.lookup = lookup
        self.escape = escape
        self.keep_quotes = keep_quotes
        self.depth = depth
        self.unresolved: set[str] = set()

    def words(self, split: bool) -> list[str]:
        s, n, esc = self.s, len(self.s), self.escape
        words: list[str] = []
        cur: list[str] = []
        started = False
        i = 0
        while i < n:
            c = s[i]
            if split and c in " \t\r\n":
                if started:
                    words.append("".join(cur))
                    cur, started = [], False
                i += 1
                continue
            started = True
            if c == esc:
                if i + 1 < n:
                    cur.append(s[i : i + 2] if self.keep_quotes else s[i + 1])
                elif self.keep_quotes:
                    cur.append(c)
                i += 2
            elif c == "'":
                k = s.find("'", i + 1)
                k = n if k < 0 else k
                cur.append(s[i : k + 1] if self.keep_quotes else s[i + 1 : k])
                i = k + 1
            elif c == '"':
                i = self._dquote(i + 1, cur)
            elif c == "$":
                i = self._dollar(i, cur)
            else:
                cur.append(c)
                i += 1
        if started:
            words.append("".join(cur))
        return words

    def _dquote(self, i: int, cur: list[str]) -> int:
        s, n, esc = self.s, len(self.s), self.escape
        if self.keep_quotes:
            cur.append('"')
        while i < n:
            c = s[i]
            if c == '"':
                if self.keep_quotes:
                    cur.append('"')
                return i + 1
            if c == esc and i + 1 < n and s[i + 1] in ('"', "$", esc):
                cur.append(s[i : i + 2] if self.keep_quotes else s[i + 1])
                i += 2
            elif c == "$":
                i = self._dollar(i, cur)
            else:
                cur.append(c)
                i += 1
        return n

    def _dollar(self, i: int, cur: list[str]) -> int:
        s, n = self.s, len(self.s)
        if i + 1 < n and s[i + 1] == "{":
            end = _closing_brace(s, i + 2)
            inner = s[i + 2 : end]
            cur.append(self._braced(inner, s[i : end + 1]))
            return end + 1
        m = _NAME.match(s, i + 1)
        if not m:
            cur.append("$")
            return i + 1
        name = m.group(0)
        value = self.lookup(name)
        if value is None:
            self.unresolved.add(name)
            cur.append(s[i : m.end()])
        else:
            cur.append(value)
        return m.end()

    def _sub(self, word: str) -> str:
        if self.depth >= MAX_NESTING:
            return word  # `${A:-${B:-${C...` nested beyond any real use: left as written
        inner = _Walker(word, self.lookup, self.escape, False, self.depth + 1)
        result = "".join(inner.words(split=False))
        self.unresolved |= inner.unresolved
        return result

    def _braced(self, inner: str, original: str) -> str:
        m = _NAME.match(inner)
        if not m:
            return original
        name, rest = m.group(0), inner[m.end() :]
        value = self.lookup(name)
        if not rest:
            if value is None:
                self.unresolved.add(name)
                return original
            return value
        for op in (":-", ":+", ":?", "-", "+", "?"):
            if rest.startswith(op):
                word = rest[len(op) :]
                unset = value is None
                empty = unset or value == ""
                if op == ":-":
                    return self._sub(word) if empty else str(value)
                if op == "-":
                    return self._sub(word) if unset else str(value)
                if op == ":+":
                    return "" if empty else self._sub(word)
                if op == "+":
                    return "" if unset else self._sub(word)
                if unset or (op == ":?" and empty):
                    self.unresolved.add(name)
                    return original
                return str(value)
        if value is None:
            self.unresolved.add(name)
            return original
        return _pattern_op(value, rest, self._sub)


def _closing_brace(s: str, i: int) -> int:
    depth = 1
    n = len(s)
    while i < n:
        if s.startswith("${", i):
            depth += 1
            i += 2
            continue
        if s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


def _pattern_op(value: str, rest: str, sub: Callable[[str], str]) -> str:
    """``#``, ``##``, ``%``, ``%%`` and ``/`` operations of ``${VAR...}`` (glob ``*`` and ``?``)."""
    import fnmatch

    for op in ("##", "#", "%%", "%"):
        if rest.startswith(op):
            pattern = sub(rest[len(op) :])
            cuts = range(len(value) + 1)
            if op.startswith("#"):
                order = reversed(cuts) if op == "##" else cuts
                for k in order:
                    if fnmatch.fnmatchcase(value[:k], pattern):
                        return value[k:]
            else:
                order = cuts if op == "%%" else reversed(cuts)
                for k in order:
                    if fnmatch.fnmatchcase(value[k:], pattern):
                        return value[:k]
            return value
    if rest.startswith("/"):
        pattern, _, repl = rest[1:].partition("/")
        every = pattern.startswith("/")
        pattern = sub(pattern[1:] if every else pattern)
        return value.replace(pattern, sub(repl)) if every else value.replace(pattern, sub(repl), 1)
    return value


def _lookup(variables: Vars) -> Callable[[str], str | None]:
    def get(name: str) -> str | None:
        return variables.get(name)

    return get


def expand(text: str, variables: Vars, escape: str) -> tuple[str, set[str]]:
    """Substitute variables but keep quotes and escapes (for display and re-parsing)."""
    w = _Walker(text, _lookup(variables), escape, keep_quotes=True)
    return "".join(w.words(split=False)), w.unresolved


def expand_value(text: str, variables: Vars, escape: str) -> tuple[str, set[str]]:
    """One shell word: quotes removed, escapes applied, variables substituted; spaces kept."""
    w = _Walker(text, _lookup(variables), escape, keep_quotes=False)
    return "".join(w.words(split=False)), w.unresolved


def split_words(text: str, variables: Vars, escape: str) -> tuple[list[str], set[str]]:
    """Whitespace-separated shell words, each processed like :func:`expand_value`."""
    w = _Walker(text, _lookup(variables), escape, keep_quotes=False)
    return w.words(split=True), w.unresolved


def key_values(text: str, variables: Vars, escape: str,
               legacy: bool) -> tuple[list[tuple[str, str | None]], set[str], str | None]:
    """Pairs of ``ENV``/``LABEL``/``ARG`` text: ``k=v k2="v 2"`` or, with ``legacy``, ``k v w``.

    Returns (pairs, unresolved variable names, problem). A pair's value is None for a bare
    ``ARG NAME``.
    """
    unresolved: set[str] = set()
    stripped = text.strip()
    if not stripped:
        return [], unresolved, "no arguments"
    words = _raw_words_keep(stripped, escape)
    first = words[0] if words else ""
    if legacy and "=" not in first:
        parts = re.split(r"[ \t]+", stripped, maxsplit=1)
        name = parts[0]
        if len(parts) < 2:
            return [], unresolved, f"{name[:40]!r} needs a value"
        value, unresolved = expand_value(parts[1].strip(), variables, escape)
        return [(name, value)], unresolved, None
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        key, eq, raw_value = word.partition("=")
        if not eq:
            pairs.append((key, None))
            continue
        value, names = expand_value(raw_value, variables, escape)
        unresolved |= names
        key_text, _ = expand_value(key, {}, escape)
        pairs.append((key_text, value))
    return pairs, unresolved, None


def _raw_words_keep(text: str, escape: str) -> list[str]:
    """Split on unquoted, unescaped whitespace; quotes and escapes are kept in each word."""
    words: list[str] = []
    cur: list[str] = []
    i, n = 0, len(text)
    quote: str | None = None
    while i < n:
        c = text[i]
        if quote:
            cur.append(c)
            if c == escape and quote == '"' and i + 1 < n:
                cur.append(text[i + 1])
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
            continue
        if c in " \t\r\n":
            if cur:
                words.append("".join(cur))
                cur = []
            i += 1
            continue
        if c == escape and i + 1 < n:
            cur.append(text[i : i + 2])
            i += 2
            continue
        if c in "'\"":
            quote = c
        cur.append(c)
        i += 1
    if cur:
        words.append("".join(cur))
    return words
