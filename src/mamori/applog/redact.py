"""Secret redaction for audit events: values under secret-looking keys and credentials in text.

Reuses the scanner's judgement (:func:`mamori.secrets.names.is_secret_name`) and its redacted
fingerprint (:func:`mamori.secrets.redact.fingerprint`), so a value redacted in an audit event
and the same value found by ``mamori scan`` carry the same ``sha256:1a2b… (N chars)`` mark and
can be matched without either showing the value. Free text additionally goes through
:func:`mamori.secrets.logfilter.redact` (PEM keys, cloud keys, JWTs, URL passwords,
``password=…`` pairs and every open :class:`mamori.secrets.Secret`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from mamori.secrets.logfilter import redact as redact_known
from mamori.secrets.names import is_secret_name
from mamori.secrets.redact import fingerprint

MAX_DEPTH = 16
MIN_SECRET_TEXT = 6  # shorter text holds no pattern the detectors or the pair rule could match
# Names is_secret_name leaves alone because they are not credentials in configuration files, but are
# in a request: cookies and session identifiers are bearer credentials.
_EXTRA_KEYS = frozenset({"cookie", "cookies", "setcookie", "session", "sessionid", "sessid", "jsessionid",
                         "phpsessid", "xapikey", "apikey", "xauthtoken", "otp", "totp", "pin", "cvv",
                         "privatekey", "clientsecret"})
# `Authorization: Bearer x`, `Basic dXNl…`, `token x`: the scheme stays, the credential goes.
_SCHEME = re.compile(r"(?i)\b(bearer|basic|digest|negotiate|token|apikey|api-key)\s+([A-Za-z0-9\-._~+/]{6,}=*)")
# Whole header lines whose value is a credential whatever it looks like.
_HEADER = re.compile(r"(?im)\b((?:set-)?cookie|x-api-key|x-auth-token)(\s*[:=]\s*)([^\r\n]+)")


def mark(value: str) -> str:
    return f"[REDACTED {fingerprint(value)}]"


def secret_key(key: str) -> bool:
    """Does a field name say that its value is a credential?"""
    squashed = re.sub(r"[^a-z0-9]", "", key.lower())
    return squashed in _EXTRA_KEYS or is_secret_name(key)


def redact_text(text: str) -> str:
    """``text`` with credentials replaced by their fingerprint; everything else kept."""
    if len(text) < MIN_SECRET_TEXT:
        return text
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{mark(m.group(3))}"
                       if not m.group(3).startswith("[REDACTED") else m.group(0), text)
    text = _SCHEME.sub(lambda m: f"[REDACTED {m.group(1)} {fingerprint(m.group(2))}]", text)
    return redact_known(text)


def redact_value(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of ``value``: secret keys' values fingerprinted, strings redacted, depth bounded."""
    if isinstance(value, str):
        return redact_text(_valid(value))
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if depth >= MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in list(value.items())[:200]:
            key = _valid(str(k)[:128])
            out[key] = _secret(v) if secret_key(key) else redact_value(v, depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, depth + 1) for v in list(value)[:200]]
    return redact_text(_valid(str(value)))


def _valid(text: str) -> str:
    """Lone surrogates (undecodable bytes smuggled into str) replaced: JSON and the collector refuse them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _secret(value: Any) -> Any:
    """The fingerprint of a value under a secret key (structured values by their JSON text)."""
    if value is None or value == "":
        return value
    if isinstance(value, str):
        return value if value.startswith("[REDACTED") else mark(value)
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = str(value)
    return mark(text)
