"""Compose variable interpolation without reading the environment.

Scans must be reproducible, so no variable is ever looked up: ``${VAR:-default}`` and
``${VAR-default}`` become their default (what Compose uses when the variable is unset),
``$$`` becomes ``$``, and every other reference (``$VAR``, ``${VAR}``, ``${VAR:?err}``,
``${VAR:+alt}``) is kept as written so that a rule sees that the value is not known.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 8
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start``; -1 if unclosed."""
    depth = 1
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == "$" and i + 1 < n and text[i + 1] == "{":
            depth += 1
            i += 2
            continue
        if c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def interpolate_ex(text: str, depth: int = 0) -> tuple[str, bool]:
    """``text`` with defaults substituted, and whether a reference was left unresolved."""
    if "$" not in text:
        return text, False
    out: list[str] = []
    unresolved = False
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            end = _closing(text, i + 2)
            if end < 0:
                out.append(text[i:])
                unresolved = True
                break
            body = text[i + 2 : end]
            m = _NAME.match(body)
            rest = body[m.end() :] if m else body
            if m and depth < MAX_DEPTH and (rest.startswith(":-") or rest.startswith("-")):
                default = rest[2:] if rest.startswith(":-") else rest[1:]
                value, inner = interpolate_ex(default, depth + 1)
                out.append(value)
                unresolved = unresolved or inner
            else:
                out.append(text[i : end + 1])
                unresolved = True
            i = end + 1
            continue
        m = _NAME.match(text, i + 1)
        if m:
            out.append(text[i : m.end()])
            unresolved = True
            i = m.end()
            continue
        out.append(c)
        i += 1
    return "".join(out), unresolved


def interpolate(text: str) -> str:
    return interpolate_ex(text)[0]


def interpolate_tree(data: Any) -> Any:
    """A copy of ``data`` with every string value (not mapping keys) interpolated."""
    if isinstance(data, str):
        return interpolate(data)
    if isinstance(data, list):
        return [interpolate_tree(v) for v in data]
    if isinstance(data, dict):
        return {k: interpolate_tree(v) for k, v in data.items()}
    return data

