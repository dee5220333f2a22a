"""Helpers every formatter shares: deterministic order, counts and neutralising hostile text.

Messages, names and paths come from untrusted inputs. Each output format has its own
dangers (terminal escape sequences, characters XML cannot carry, lone surrogates that
cannot be encoded), so the formatters pass every string through one of these functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from mamori.model import Finding, InputError, Severity, Skipped, Suppressed
from mamori.policy.decision import Decision, Notice
from mamori.rules.registry import Rule

MAX_FIELD = 8192
"""Longest string a report carries for one field; longer input is cut with a marker."""

SEVERITIES: tuple[Severity, ...] = tuple(sorted(Severity, key=lambda s: s.value, reverse=True))
"""Severities from the most to the least severe, the order reports list them in."""

_SURROGATE = re.compile("[\ud800-\udfff]")
# Unicode format characters that reorder or hide text on screen (bidi overrides and
# isolates, zero-width characters: "Trojan Source").
_FORMAT = "\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
# C0 controls except TAB and LF (CR can overwrite a line), DEL, C1 controls.
_UNSAFE_TERMINAL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT}]")
# XML 1.0 cannot carry most C0 controls; C1 controls are legal but garble CI logs.
_UNSAFE_XML = re.compile(f"[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[{_FORMAT}]")


def bound(text: str, limit: int = MAX_FIELD) -> str:
    """Cut ``text`` to ``limit`` characters and replace lone surrogates (they cannot be encoded)."""
    if len(text) <= limit and text.isascii():
        return text  # the common case: nothing to replace, nothing to cut
    text = _SURROGATE.sub("\ufffd", text)
    if len(text) > limit:
        cut = len(text) - limit
        text = f"{text[:limit]}... [{cut} more characters]"
    return text


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str, limit: int = MAX_FIELD) -> str:
    """Text that cannot move the cursor, change colours or reorder what a terminal shows.

    Control and bidi characters (CR too) become visible escapes (``\\x1b``); line feeds
    are kept for the caller to indent (or to fold with :func:`one_line`).
    """
    return _UNSAFE_TERMINAL.sub(_escape_char, bound(text, limit)).replace("\t", "    ")


def one_line(text: str, limit: int = MAX_FIELD) -> str:
    """Like :func:`terminal_safe`, with line feeds shown as ``\\n`` so a field stays on one line."""
    return terminal_safe(text, limit).replace("\n", "\\n")


def xml_safe(text: str, limit: int = MAX_FIELD) -> str:
    """Text that XML 1.0 can carry: characters it forbids, and C1/bidi controls, become escapes."""
    return _UNSAFE_XML.sub(_escape_char, bound(text, limit))


def finding_key(f: Finding) -> tuple[str, int, str, str, str, str, str, int]:
    """A total order on findings: :attr:`Finding.sort_key`, then everything else that differs."""
    return (*f.sort_key, f.location.resource, f.location.path, f.message, -f.severity.value)


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=finding_key)


def sorted_suppressed(items: Iterable[Suppressed]) -> list[Suppressed]:
    return sorted(items, key=lambda s: (finding_key(s.finding), s.via, s.reason, s.expires or ""))


def sorted_errors(items: Iterable[InputError]) -> list[InputError]:
    return sorted(items, key=lambda e: (e.file, e.line, e.message))


def sorted_skipped(items: Iterable[Skipped]) -> list[Skipped]:
    return sorted(items, key=lambda s: (s.file, s.line, s.what, s.reason))


def sorted_notices(items: Iterable[Notice]) -> list[Notice]:
    return sorted(items, key=lambda n: (n.file, n.line, n.message))


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per lower-case severity name, every severity present, most severe first."""
    counts = {s.name.lower(): 0 for s in SEVERITIES}
    for f in findings:
        counts[f.severity.name.lower()] += 1
    return counts


def rules_evaluated(decision: Decision, rules: Sequence[Rule]) -> int:
    """The engine's count when it gave one, else the number of rules handed to the formatter."""
    return decision.rules_evaluated or len(rules)


def files_scanned(decision: Decision) -> list[str]:
    return sorted(set(decision.files))
