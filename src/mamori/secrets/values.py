"""Is a VALUE a literal that could be a credential, and does it look random?

The name-based rules (a secret-looking name with a literal value) need to tell a real
hard-coded value from the things that only sit in its place:

* references and templates: ``$VAR``, ``${VAR}``, ``$(cmd)``, ``{{ .Values.x }}``, secret
  store URIs (``vault:...``, ``arn:aws:secretsmanager:...``, ``op://...``);
* placeholders: ``<your-token>``, ``xxx``, ``****``, ``REPLACE_ME``, ``your_password_here``,
  a value that just repeats the slot's name (``password``), empty values;
* settings that are not secrets: booleans, small numbers, file paths, plain URLs;
* vendors' documentation examples (random-looking values spelling ``EXAMPLE``).

A weak literal (``changeme``, ``example``, ``wordpress``) is NOT a placeholder: it works as
a password wherever the file is deployed unchanged, which is exactly the hard-coded
default credential CSA 3.1.10.1 is about. It is reported with lower confidence.
"""

from __future__ import annotations

import math
import re
from collections import Counter

_QUOTES = "\"'`"
_REFERENCE = re.compile(r"\$\{|\$\(|\{\{|\{%|<%|#\{|%\{|@@|^\$[A-Za-z_]")
_STORE_PREFIXES = (
    "vault:", "vault://", "ref+", "arn:aws:", "sm://", "secret://", "secretsmanager:", "ssm:", "awssm:",
    "gcpsm://", "gcp:secretmanager", "projects/", "azure-keyvault://", "akv://", "keyvault:", "op://",
    "doppler://", "env:", "file:", "k8s://", "kms:", "bitwarden://", "infisical://", "secret:",
)
_PLACEHOLDER = re.compile(
    r"""^(?:
        replace[-_ ]?me|replace[-_ ]?this|to[-_ ]?be[-_ ]?replaced|todo|tbd|fixme|none|null|nil|undefined|n/?a|
        unset|redacted|removed|hidden|masked|dummy|placeholder|sample|your[-_ .a-z0-9]*|
        insert[-_ .a-z0-9]*|enter[-_ .a-z0-9]*|put[-_ .a-z0-9]*here|[-_ .a-z0-9]*[-_ ]here|
        password|passwd|pass|pwd|secret|token|apikey|api[-_]key|key|value|string|
        true|false|yes|no|on|off|y|n|enabled?|disabled?
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_BRACKETED = re.compile(r"^(?:<[^<>]*>|\[[^\[\]]*\]|\([^()]*\))$")
_SMALL_NUMBER = re.compile(r"^[+-]?\d{1,5}(?:\.\d+)?$")
_PATH = re.compile(r"^(?:~?/|\.{1,2}/|[A-Za-z]:[\\/])[\w.@%+~:/\\ -]*$")
_PLAIN_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^@\s]*$", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s")
_LETTER_RUN = re.compile(r"[a-z]+|[A-Z]+")
_HEX = frozenset("0123456789abcdefABCDEF")
_FILLER = frozenset("xX*#.-_?0 •")


def unquote(value: str) -> str:
    """Strip surrounding whitespace, one pair of matching quotes and a trailing comma."""
    v = value.strip()
    if v.endswith(",") and len(v) > 1 and v[-2] in _QUOTES:
        v = v[:-1]
    if len(v) >= 2 and v[0] == v[-1] and v[0] in _QUOTES:
        v = v[1:-1].strip()
    return v


def is_reference(value: str) -> bool:
    """A variable reference, template expression or secret-store URI, not a literal."""
    v = value.strip()
    if _REFERENCE.search(v):
        return True
    low = v.lower()
    return low.startswith(_STORE_PREFIXES)


def is_placeholder(value: str) -> bool:
    """An obvious stand-in: empty, bracketed, all filler characters, or a placeholder word."""
    v = value.strip()
    if not v or _BRACKETED.match(v) or _PLACEHOLDER.match(v):
        return True
    distinct = set(v)
    return distinct <= _FILLER or len(distinct - {"-", "_", ".", " "}) <= 1


def is_path(value: str) -> bool:
    """A file system path (kubescape's ``is_not_file_path`` idea, but not fooled by base64 ``/``)."""
    v = value.strip()
    if not _PATH.match(v) or "+" in v or v.endswith("="):
        return False
    return v.count("/") + v.count("\\") >= 2 or "." in v.rsplit("/", 1)[-1] or len(v) < 12


def literal(value: str | None) -> str | None:
    """The value as a literal that could be a credential, or None when it cannot be one."""
    if value is None:
        return None
    v = unquote(value)
    if (not v or is_reference(v) or is_placeholder(v) or _SMALL_NUMBER.match(v) or is_path(v)
            or _PLAIN_URL.match(v) or is_documentation_example(v)):
        return None
    return v


def is_documentation_example(value: str) -> bool:
    """A vendor's published example key (AWS: ``wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY``)."""
    return "EXAMPLE" in value and value != "EXAMPLE" and looks_random(value)


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` over its own character distribution."""
    if not text:
        return 0.0
    n = len(text)
    return -sum((c / n) * math.log2(c / n) for c in Counter(text).values())


def looks_random(value: str, min_length: int = 12) -> bool:
    """True when ``value`` looks like a random token rather than a word or phrase.

    The entropy threshold depends on the character set and the length: a random string
    cannot reach log2(alphabet) bits when it is shorter than the alphabet, so the bar is
    ``log2(len) - margin`` capped per charset (about the 2nd percentile of random strings
    of that length, measured). Words and phrases are further kept out by requiring mixed
    character classes, no whitespace, no long single-case letter run and no repeated pattern.
    Short complex passwords (``Summer2024!!``) do pass: they are real secrets all the same.
    """
    n = len(value)
    if n < min_length or _WHITESPACE.search(value):
        return False
    if max((len(r) for r in _LETTER_RUN.findall(value)), default=0) >= max(7, n // 2):
        return False  # mostly one word: ``nextcloud123``, ``Passwordpassword1``
    if any(n % k == 0 and value == value[:k] * (n // k) for k in range(1, min(n // 2, 64) + 1)):
        return False  # a repeated pattern: ``abc123abc123``
    entropy = shannon_entropy(value)
    if set(value) <= _HEX:
        has_digit = any(c.isdigit() for c in value)
        has_alpha = any(c.isalpha() for c in value)
        return has_digit and has_alpha and entropy >= min(math.log2(n) - 1.15, 3.0)
    classes = sum((
        any(c.islower() for c in value),
        any(c.isupper() for c in value),
        any(c.isdigit() for c in value),
        any(not c.isalnum() for c in value),
    ))
    return classes >= 2 and entropy >= min(math.log2(n) - 0.8, 4.2)
