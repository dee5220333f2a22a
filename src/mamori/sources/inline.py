"""Inline ``# mamori:ignore=...`` comments in YAML: which node does a comment cover?

Shared by the Kubernetes and Compose sources. A comment on its own line covers the YAML
node that starts on the next line that is neither blank nor a comment (the outermost one
when several start there: a list item rather than its first key). A trailing comment
covers the node that starts on its own line. A comment above the first key of a document,
between ``---`` and the document, or above a top-level ``kind:`` covers the whole
document. ``# mamori:ignore-file=...`` covers the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mamori.model import InputError, Suppression
from mamori.sources.suppress import COMMENT, parse_ids_reason
from mamori.sources.yamldoc import Doc, escape

_DOC_MARK = re.compile(r"^(?:---|\.\.\.)(?:\s|$)")
_WHOLE_DOC = ("", "/kind")
MAX_WALK = 200_000


def _resolve(data: Any, pointer: str) -> tuple[bool, Any]:
    cur = data
    for part in pointer.split("/")[1:] if pointer else []:
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict) and key in cur:
            cur = cur[key]
        elif isinstance(cur, list) and key.isdigit() and int(key) < len(cur):
            cur = cur[int(key)]
        else:
            return False, None
    return True, cur


def node_span(doc: Doc, pointer: str) -> tuple[int, int]:
    """First and last line of the node at ``pointer``, ending at its last scalar.

    A block mapping's end mark lies at the next token, often the key of the next sibling,
    so ``Doc.span`` can reach one line too far; a suppression must not cover that sibling.
    """
    first, last = doc.span(pointer)
    found, node = _resolve(doc.data, pointer)
    if not found:
        return first, last
    end = first
    stack: list[tuple[Any, str]] = [(node, pointer)]
    walked = 0
    while stack:
        value, p = stack.pop()
        walked += 1
        if walked > MAX_WALK:
            return first, last
        span = doc.spans.get(p)
        if isinstance(value, dict):
            end = max(end, span[0]) if span else end
            stack.extend((v, f"{p}/{escape(str(k))}") for k, v in value.items())
        elif isinstance(value, list):
            end = max(end, span[0]) if span else end
            stack.extend((v, f"{p}/{i}") for i, v in enumerate(value))
        elif span:
            end = max(end, span[1])
    return first, min(end, last) if last >= first else end


def _outermost(doc: Doc) -> dict[int, str]:
    """First line -> pointer of the largest node that starts on it."""
    best: dict[int, tuple[int, int, str]] = {}
    for pointer, (first, last) in doc.spans.items():
        key = (last - first, -pointer.count("/"))
        cur = best.get(first)
        if cur is None or key > (cur[0], cur[1]):
            best[first] = (key[0], key[1], pointer)
    return {line: item[2] for line, item in best.items()}


def _doc_range(lines: Sequence[str], doc: Doc) -> tuple[int, int]:
    """Lines owned by ``doc``: from after the previous ``---`` to before the next one."""
    start = doc.line
    if start <= 0:
        return 0, -1
    first = start
    if start <= len(lines) and not _DOC_MARK.match(lines[start - 1]):
        while 1 < first <= len(lines) + 1 and _is_comment_only(lines[first - 2]):
            first -= 1
    last = start
    while last < len(lines) and not _DOC_MARK.match(lines[last]):
        last += 1
    return first, last


def _is_comment_only(line: str) -> bool:
    s = line.lstrip()
    return not s or s.startswith("#")


def inline_suppressions(doc_text_lines: Sequence[str], doc: Doc, file: str,
                        errors: list[InputError] | None = None) -> list[Suppression]:
    """Suppressions written as comments inside ``doc``.

    ``doc_text_lines`` are the lines of the whole file (``text.splitlines()``): a Doc keeps
    file line numbers but not its text. Malformed comments are added to ``errors``.
    """
    lines = doc_text_lines
    first, last = _doc_range(lines, doc)
    if last < first:
        return []
    starts: dict[int, str] | None = None
    root = doc.span("")
    out: list[Suppression] = []
    for n in range(first, last + 1):
        text = lines[n - 1]
        if "mamori:ignore" not in text:
            continue
        m = COMMENT.search(text)
        if m is None or (m.start() > 0 and not text[m.start() - 1].isspace()):
            continue
        ids, reason, expires, problem = parse_ids_reason(m.group(2))
        if problem or not ids:
            if errors is not None:
                errors.append(InputError(file, n, problem or "mamori:ignore without rule ids"))
            continue
        if m.group(1):  # ignore-file
            out.append(Suppression(ids, reason, file, 1, max(len(lines), 1), "inline", expires, None, n))
            continue
        if starts is None:
            starts = _outermost(doc)
        trailing = bool(text[: m.start()].strip())
        target = n
        if not trailing:
            target = n + 1
            while target <= last and _is_comment_only(lines[target - 1]):
                target += 1
            if n < doc.line:
                target = doc.line  # a comment before the document covers all of it
            elif target > last:
                if errors is not None:
                    errors.append(InputError(file, n, "mamori:ignore comment is not followed by a YAML node"))
                continue
        pointer = starts.get(target)
        if pointer is None:
            span = (target, target)
        elif pointer in _WHOLE_DOC:
            span = root
        else:
            span = node_span(doc, pointer)
        out.append(Suppression(ids, reason, file, span[0], span[1], "inline", expires, None, n))
    return out
