"""``RedactingFilter``: no secret value in a log record, whatever the code logged.

Two kinds of value are replaced by ``[REDACTED sha256:1a2b… (12 chars)]``:

* every open :class:`~mamori.secrets.Secret` read through the library (its value, not its
  repr - the repr is already safe), and
* strings the scan detectors recognise (PEM keys, cloud keys, tokens, JWTs, URL passwords)
  and ``password=...``-style pairs under a secret-looking name.

The message is formatted with its args, redacted, and stored back with no args; exception
and stack text are formatted and redacted too, so a handler's formatter only sees safe text.
Attach the filter to handlers (filters on a logger do not see records propagated from
child loggers): :func:`install` does that for the root logger's handlers.
"""

from __future__ import annotations

import logging
import re

from mamori.secrets.detectors import DETECTORS
from mamori.secrets.names import is_secret_name
from mamori.secrets.redact import fingerprint
from mamori.secrets.value import live_secrets

MIN_KNOWN = 4  # shorter known values are not replaced: "abc" would redact half the log
MAX_TEXT = 256 * 1024  # longer messages are cut before matching (bounded work per record)
_SCANNERS = tuple(d for d in DETECTORS if d.name_check is None)
_PAIR = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_.\-]{0,63})[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"',;&]{4,512})")


def _mark(value: str) -> str:
    return f"[REDACTED {fingerprint(value)}]"


def redact(text: str) -> str:
    """``text`` with known secret values and secret-looking strings replaced by their fingerprint."""
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "…[truncated]"
    known = sorted({s.reveal() for s in live_secrets() if len(s) >= MIN_KNOWN}, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, _mark(value))
    spans: list[tuple[int, int, str]] = []
    for det in _SCANNERS:
        for secret, start, end in det.spans(None, text):
            if not secret.startswith("[REDACTED"):
                spans.append((start, end, secret))
    pos, found = 0, 0
    while found < 1000 and (m := _PAIR.search(text, pos)):  # overlapping: "config: password=x" holds a pair
        found += 1
        if is_secret_name(m.group("name")) and not m.group("value").startswith("[REDACTED"):
            spans.append((m.start("value"), m.end("value"), m.group("value")))
            pos = m.end()
        else:
            pos = m.start("value")
    for start, end, secret in sorted(_outermost(spans), reverse=True):
        text = text[:start] + _mark(secret) + text[end:]
    return text


def _outermost(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for span in sorted(spans, key=lambda s: (s[0], -s[1])):
        if out and span[0] < out[-1][1]:
            continue  # overlaps one already kept (a URL password inside a PEM, say)
        out.append(span)
    return out


class RedactingFilter(logging.Filter):
    """Rewrites each record so that message, args, exception and stack text hold no secret value."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep the template, drop the args
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add one RedactingFilter to every handler of ``logger`` (default: the root logger)."""
    target = logger or logging.getLogger()
    filt = RedactingFilter()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(filt)
    return filt
