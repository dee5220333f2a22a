"""Parsing of suppression texts shared by every source.

Inline comment: ``# mamori:ignore=MAM-PRIV-001,MAM-CAP-002 reason text exp:2026-12-31``.
Annotation / label value: ``MAM-PRIV-001=reason text; MAM-CAP-002,MAM-CAP-003=other reason``.
A reason is required; a missing one is kept (empty) so the engine can report it.
"""

from __future__ import annotations

import re
from datetime import date

_ID = r"(?:MAM-[A-Z0-9]+-\d{3}|\*)"
_IDS = re.compile(rf"^\s*({_ID}(?:\s*,\s*{_ID})*)\s*(.*)$", re.S)
_EXP = re.compile(r"\bexp(?:ires)?:(\S+)")
COMMENT = re.compile(r"#\s*mamori:ignore(-file)?=(.*)$")

Parsed = tuple[tuple[str, ...], str, date | None, str | None]


def _expiry(reason: str) -> tuple[str, date | None, str | None]:
    m = _EXP.search(reason)
    if not m:
        return reason.strip(), None, None
    text = (reason[: m.start()] + reason[m.end() :]).strip()
    try:
        return text, date.fromisoformat(m.group(1)), None
    except ValueError:
        return text, None, f"suppression expiry {m.group(1)!r} is not a date (YYYY-MM-DD)"


def parse_ids_reason(text: str) -> Parsed:
    """``MAM-X-001,MAM-Y-002 reason exp:DATE`` -> (ids, reason, expiry, problem)."""
    m = _IDS.match(text)
    if not m:
        return (), "", None, f"suppression {text.strip()[:60]!r} does not start with rule ids (MAM-AREA-NNN)"
    ids = tuple(i.strip() for i in m.group(1).split(","))
    reason, expires, problem = _expiry(m.group(2))
    return ids, reason, expires, problem


def parse_annotation(value: str) -> list[Parsed]:
    """Entries ``IDS=reason`` separated by ``;`` or new lines."""
    out: list[Parsed] = []
    for part in re.split(r"[;\n]", value):
        if not part.strip():
            continue
        ids_text, eq, reason = part.partition("=")
        if not eq:
            out.append(((), "", None, f"annotation entry {part.strip()[:60]!r} has no `=reason`"))
            continue
        out.append(parse_ids_reason(f"{ids_text} {reason}"))
    return out


def parse_comment(line: str) -> tuple[bool, Parsed] | None:
    """Parse a ``mamori:ignore`` comment; (file_wide, parsed) or None when there is none."""
    m = COMMENT.search(line)
    if not m:
        return None
    return bool(m.group(1)), parse_ids_reason(m.group(2))
