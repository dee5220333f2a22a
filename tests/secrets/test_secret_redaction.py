"""A match never carries the secret: not in str, repr, fields or messages, not even a prefix."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import pytest

from mamori.secrets import SecretMatch, detect, fingerprint
from tests.secrets.fakes import B64, BASE32, body, jwt, pem, windows

_SIG = jwt().rsplit(".", 1)[1]
_PEM_ROW = pem().splitlines()[1]

# (name, value, the part of the value that must never be shown)
CASES: list[tuple[str, str, str]] = [
    ("GITHUB_TOKEN", "ghp_" + body(36, seed=11), "ghp_" + body(36, seed=11)),
    ("AWS_ACCESS_KEY_ID", "AKIA" + body(16, BASE32, 11), "AKIA" + body(16, BASE32, 11)),
    ("AWS_SECRET_ACCESS_KEY", body(40, B64, 11), body(40, B64, 11)),
    ("TLS_KEY", pem(), _PEM_ROW),
    ("ID_TOKEN", jwt(), _SIG),
    ("DATABASE_URL", f"postgres://app:{body(16, seed=11)}@db/app", body(16, seed=11)),
    ("DATABASE_URL", "mysql://root:whalehello@db/app", "whalehello"),
    ("DJANGO_SECRET_KEY", body(40, seed=12), body(40, seed=12)),
    ("MYSQL_ROOT_PASSWORD", "example", "example"),
    ("app.properties", f"db.user=app\ndb.password={body(20, seed=13)}\n", body(20, seed=13)),
]


def _rendered(m: SecretMatch) -> list[str]:
    return [str(m), repr(m), m.describe(), *(str(v) for v in dataclasses.astuple(m))]


@pytest.mark.parametrize(("name", "value", "secret"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_match_never_shows_the_secret(name: str, value: str, secret: str) -> None:
    matches = detect(name, value)
    assert matches
    for m in matches:
        for text in _rendered(m):
            assert secret not in text
            leaked = [w for w in windows(secret, 6) if w in text]
            assert not leaked, f"substrings of the secret appear in {text!r}: {leaked}"


def test_known_prefixes_are_not_shown_either() -> None:
    (m,) = detect("T", "ghp_" + body(36))
    assert all("ghp_" not in t for t in _rendered(m))
    (m,) = detect("T", "xoxb-" + body(12, "0123456789") + "-" + body(24))
    assert all("xoxb" not in t for t in _rendered(m))


def test_fingerprint_shape() -> None:
    fp = fingerprint("hunter2")
    assert re.fullmatch(r"sha256:[0-9a-f]{4}\u2026 \(7 chars\)", fp)
    assert fingerprint("hunter2") == fp != fingerprint("hunter3")
    # salted: not the first hex digits of the plain SHA-256 that public tables list
    assert not fp.startswith("sha256:" + hashlib.sha256(b"hunter2").hexdigest()[:4])
