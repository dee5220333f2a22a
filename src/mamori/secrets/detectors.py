"""Detectors for hard-coded secrets in configuration values (CSA 3.1.10.1).

``detect(name, value)`` returns :class:`SecretMatch` objects that name the detector and
carry a redacted fingerprint - never the value, nor any prefix of it - so a match can be
printed, logged, put into SARIF or returned by the admission webhook safely.

Three levels of confidence:

* ``HIGH``: the value has a known credential format (PEM private key, AWS/GCP/Azure keys,
  GitHub/GitLab/Slack/Stripe/SendGrid/npm/PyPI tokens, a JWT, a password inside a URL);
  a few formats are only recognised under a matching name (an AWS secret access key is
  40 base64 characters under an ``aws ... secret`` name);
* ``MEDIUM``: a random-looking literal (entropy per character set, length >= 12) under a
  name that says it is a secret (:func:`mamori.secrets.names.is_secret_name`);
* ``LOW``: any other real literal under such a name (``MYSQL_ROOT_PASSWORD=example``).

Values in ``key=value`` form inside a larger value (a ``.properties``/``.env``/YAML file in
a ConfigMap, a ``Server=...;Password=...`` connection string, ``-Dx.password=...`` JVM
options) are split and judged by their own key; the match then names that ``field`` and
its ``line``.

Documentation examples (AWS's ``AKIAIOSFODNN7EXAMPLE``) and filler bodies
(``ghp_xxxxxxxx...``) are not reported. Inputs are bounded: values over ``MAX_VALUE`` are
skipped, at most ``MAX_SCAN`` characters and ``MAX_LINES`` lines of a value are read, and
every pattern has bounded repetition so a hostile value cannot make matching slow.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from mamori.secrets.names import is_aws_secret_name, is_azure_key_name, is_code_filename, is_secret_name
from mamori.secrets.redact import fingerprint
from mamori.secrets.values import is_placeholder, is_reference, literal, looks_random, unquote

MAX_VALUE = 1 << 20  # values larger than 1 MiB are not scanned at all
MAX_SCAN = 256 * 1024  # characters of a value that are scanned
MAX_LINES = 10_000  # lines of a multi-line value that are split into key=value pairs
MAX_PAIRS = 10_000  # key=value parts of one value that are judged
MAX_MATCHES = 64  # matches returned for one value


class Confidence(StrEnum):
    HIGH = "high"  # a known credential format
    MEDIUM = "medium"  # a random-looking literal under a secret name
    LOW = "low"  # a plain literal under a secret name

    @property
    def rank(self) -> int:
        return {"high": 0, "medium": 1, "low": 2}[self.value]


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """One secret found in a value. Holds no part of the value, only a fingerprint."""

    detector: str
    title: str
    fingerprint: str
    confidence: Confidence
    field: str | None = None  # the inner key (``spring.datasource.password``) in a multi-part value
    line: int = 0  # 1-based line inside a multi-line value; 0 for a single-line value

    def describe(self) -> str:
        """``PEM private key (sha256:1a2b… (1675 chars))``, plus the inner key and line when known."""
        where = ""
        if self.field is not None:
            where = f" in `{self.field}`"
        if self.line:
            where += f" (line {self.line} of the value)"
        return f"{self.title}{where} ({self.fingerprint})"

    def __str__(self) -> str:
        return self.describe()


_Extract = Callable[[str, re.Match[str]], tuple[str, int, int] | None]


@dataclass(frozen=True, slots=True)
class Detector:
    """A known credential format: ``pattern`` finds it; the ``secret`` group is fingerprinted.

    ``name_check`` restricts the detector to values under matching names; ``extract``
    replaces the default "group `secret`" with a validating function returning the secret
    and its span; ``min_distinct`` rejects filler bodies (group ``body`` or ``secret``).
    """

    id: str
    title: str
    pattern: re.Pattern[str]
    refs: tuple[str, ...] = ()
    name_check: Callable[[str | None], bool] | None = None
    extract: _Extract | None = None
    min_distinct: int = 8
    confidence: Confidence = Confidence.HIGH
    grade: Callable[[str], Confidence] | None = None  # confidence from the secret itself

    def confidence_of(self, secret: str) -> Confidence:
        return self.grade(secret) if self.grade is not None else self.confidence

    def spans(self, name: str | None, text: str) -> Iterator[tuple[str, int, int]]:
        """Each secret this detector finds in ``text``: (secret, start, end)."""
        if self.name_check is not None and not self.name_check(name):
            return
        for found, m in enumerate(self.pattern.finditer(text)):
            if found >= MAX_MATCHES:
                return
            got = self.extract(text, m) if self.extract is not None else _default_extract(m)
            if got is None:
                continue
            secret = got[0]
            groups = m.groupdict()
            body = groups.get("body") or secret
            if "EXAMPLE" in secret or len(set(body)) < self.min_distinct:
                continue  # AWS documentation examples; ghp_xxxx... and T0000/B0000/XXXX fillers
            yield got

    def detect(self, name: str | None, value: str) -> list[SecretMatch]:
        """Matches of this detector alone in ``value`` (bounded like :func:`detect`)."""
        if len(value) > MAX_VALUE:
            return []
        return [SecretMatch(self.id, self.title, fingerprint(s), self.confidence_of(s))
                for s, _, _ in self.spans(name, value[:MAX_SCAN])]


def _default_extract(m: re.Match[str]) -> tuple[str, int, int] | None:
    if "secret" in m.re.groupindex:
        return m.group("secret"), m.start("secret"), m.end("secret")
    return m.group(0), m.start(), m.end()


# --- validating extractors -----------------------------------------------------------------

_PEM_END = re.compile(r"-----\s*END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?\s*-----")
_PEM_HEADER_LINE = re.compile(r"^[A-Za-z-]{1,40}:.*$", re.MULTILINE)
_B64_RUN = re.compile(r"[A-Za-z0-9+/]{32,}")
_PEM_MAX_BODY = 16 * 1024


def _pem_extract(text: str, m: re.Match[str]) -> tuple[str, int, int] | None:
    """A private key needs a real base64 body after its BEGIN line (not ``...`` or ``<key>``)."""
    window = text[m.end(): m.end() + _PEM_MAX_BODY]
    end = _PEM_END.search(window)
    body = window[: end.start()] if end else window
    cleaned = _PEM_HEADER_LINE.sub("", body.replace("\\n", "\n").replace("\\r", ""))
    cleaned = re.sub(r"\s+", "", cleaned)
    if not _B64_RUN.search(cleaned):
        return None
    stop = m.end() + (end.end() if end else len(body))
    return text[m.start(): stop], m.start(), stop


def _jwt_extract(text: str, m: re.Match[str]) -> tuple[str, int, int] | None:
    """A JWT's header must decode to a JSON object with an ``alg``."""
    header = m.group("header")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(decoded, dict) or "alg" not in decoded:
        return None
    return m.group("secret"), m.start("secret"), m.end("secret")


def _url_password_extract(text: str, m: re.Match[str]) -> tuple[str, int, int] | None:
    """``scheme://user:password@host`` with a literal password (not ``$VAR`` or ``<password>``)."""
    password = m.group("secret")
    if is_reference(password) or is_placeholder(password) or password.startswith("$"):
        return None
    return password, m.start("secret"), m.end("secret")


_GCP_PRIVATE_KEY = re.compile(r'"private_key"\s*:\s*"(?P<key>[^"]{1,8192})"')


def _url_password_grade(password: str) -> Confidence:
    """A random password in a URL is a real secret; ``postgres:postgres@`` is a weak default (like
    ``POSTGRES_PASSWORD=postgres``) and gets the same lower confidence."""
    return Confidence.HIGH if looks_random(password) else Confidence.LOW


def _gcp_sa_extract(text: str, m: re.Match[str]) -> tuple[str, int, int] | None:
    """A service account JSON counts only with its ``private_key``; that key is the secret."""
    key = _GCP_PRIVATE_KEY.search(text)
    if key is None or "PRIVATE KEY" not in key.group("key"):
        return None
    return key.group("key"), min(m.start(), key.start()), max(m.end(), key.end())


def _aws_secret_extract(text: str, m: re.Match[str]) -> tuple[str, int, int] | None:
    secret = m.group("secret")
    return (secret, m.start("secret"), m.end("secret")) if looks_random(secret) else None


# --- the detectors ---------------------------------------------------------------------------

_B = r"(?<![A-Za-z0-9_])"  # token boundary before
_E = r"(?![A-Za-z0-9_])"  # token boundary after

DETECTORS: tuple[Detector, ...] = (
    Detector(
        "private-key", "PEM private key",
        re.compile(r"-----\s*BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?\s*-----"),
        ("checkov:CKV_SECRET_13", "trivy:private-key"), extract=_pem_extract, min_distinct=0,
    ),
    Detector(
        "gcp-service-account", "GCP service account key",
        re.compile(r'"type"\s{0,8}:\s{0,8}"service_account"'),
        ("trivy:gcp-service-account",), extract=_gcp_sa_extract, min_distinct=0,
    ),
    Detector(
        "aws-access-key-id", "AWS access key ID",
        re.compile(rf"(?<![A-Za-z0-9])(?P<secret>(?:AKIA|ASIA|ABIA|ACCA)(?P<body>[A-Z2-7]{{16}})){_E}"),
        ("checkov:CKV_SECRET_2", "trivy:aws-access-key-id"),
    ),
    Detector(
        "aws-secret-access-key", "AWS secret access key",
        re.compile(r"^\s*[\"']?(?P<secret>[A-Za-z0-9/+]{40})[\"']?\s*$"),
        ("checkov:CKV_SECRET_2", "trivy:aws-secret-access-key"),
        name_check=is_aws_secret_name, extract=_aws_secret_extract,
    ),
    Detector(
        "gcp-api-key", "Google API key",
        re.compile(r"(?<![A-Za-z0-9_-])(?P<secret>AIza(?P<body>[0-9A-Za-z_-]{35}))(?![A-Za-z0-9_-])"),
        ("checkov:CKV_SECRET_45",),
    ),
    Detector(
        "azure-storage-key", "Azure storage account key",
        re.compile(r"(?i:AccountKey|SharedAccessKey)\s{0,4}=\s{0,4}(?P<secret>[A-Za-z0-9+/]{42,86}={0,2})(?![A-Za-z0-9+/=])"),
        ("checkov:CKV_SECRET_3",),
    ),
    Detector(
        "azure-storage-key-named", "Azure storage account key",
        re.compile(r"^\s*[\"']?(?P<secret>[A-Za-z0-9+/]{86}==)[\"']?\s*$"),
        ("checkov:CKV_SECRET_3",), name_check=is_azure_key_name,
    ),
    Detector(
        "azure-ad-client-secret", "Azure AD client secret",
        re.compile(r"(?<![A-Za-z0-9_~.-])(?P<secret>[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])"),
    ),
    Detector(
        "github-token", "GitHub token",
        re.compile(rf"{_B}(?P<secret>gh[pousr]_(?P<body>[A-Za-z0-9]{{36,251}})){_E}"),
        ("checkov:CKV_SECRET_43", "trivy:github-pat", "trivy:github-oauth", "trivy:github-app-token",
         "trivy:github-refresh-token"),
    ),
    Detector(
        "github-fine-grained-pat", "GitHub fine-grained personal access token",
        re.compile(rf"{_B}(?P<secret>github_pat_(?P<body>[A-Za-z0-9]{{22,40}}_[A-Za-z0-9]{{50,120}})){_E}"),
        ("trivy:github-fine-grained-pat",),
    ),
    Detector(
        "gitlab-token", "GitLab token",
        re.compile(r"(?<![A-Za-z0-9_-])(?P<secret>(?:(?:glpat|gldt|glrt|glptt|glft|glsoat|glcbt)-|GR1348941)"
                   r"(?P<body>[A-Za-z0-9_.-]{20,255}))(?![A-Za-z0-9_-])"),
        ("checkov:CKV_SECRET_44", "trivy:gitlab-pat"),
    ),
    Detector(
        "slack-token", "Slack token",
        re.compile(r"(?<![A-Za-z0-9])(?P<secret>xox[baprs]-(?P<body>[A-Za-z0-9-]{10,250}))(?![A-Za-z0-9-])"),
        ("checkov:CKV_SECRET_14", "trivy:slack-access-token"),
    ),
    Detector(
        "slack-webhook", "Slack webhook URL",
        re.compile(r"(?P<secret>https?://hooks\.slack\.com/(?:services|workflows|triggers)/"
                   r"(?P<body>T[A-Za-z0-9_]{6,20}/[A-Za-z0-9_]{6,20}/[A-Za-z0-9_/]{16,80}))"),
        ("checkov:CKV_SECRET_14", "trivy:slack-web-hook"),
    ),
    Detector(
        "stripe-secret-key", "Stripe live secret key",
        re.compile(r"(?<![A-Za-z0-9])(?P<secret>(?:sk|rk)_live_(?P<body>[A-Za-z0-9]{10,247}))(?![A-Za-z0-9])"),
        ("checkov:CKV_SECRET_17", "trivy:stripe-secret-token"),
    ),
    Detector(
        "sendgrid-api-key", "SendGrid API key",
        re.compile(r"(?<![A-Za-z0-9])(?P<secret>SG\.(?P<body>[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}))(?![A-Za-z0-9_-])"),
        ("trivy:sendgrid-api-token",),
    ),
    Detector(
        "npm-token", "npm access token",
        re.compile(r"(?<![A-Za-z0-9])(?P<secret>npm_(?P<body>[A-Za-z0-9]{36}))(?![A-Za-z0-9])"),
        ("trivy:npm-access-token",),
    ),
    Detector(
        "pypi-token", "PyPI upload token",
        # the fixed prefix is the base64 of the token's macaroon header naming the index
        re.compile(r"(?P<secret>pypi-AgEIcHlwaS5vcmc(?P<body>[A-Za-z0-9_-]{50,1000}))"),
        ("checkov:CKV_SECRET_61", "trivy:pypi-upload-token"),
    ),
    Detector(
        "jwt", "JSON Web Token",
        re.compile(r"(?<![A-Za-z0-9_-])(?P<secret>(?P<header>eyJ[A-Za-z0-9_-]{10,2048})\.[A-Za-z0-9_-]{10,8192}"
                   r"\.[A-Za-z0-9_-]{0,2048})(?![A-Za-z0-9_-])"),
        ("checkov:CKV_SECRET_9", "trivy:jwt-token"), extract=_jwt_extract,
    ),
    Detector(
        "url-password", "password in a URL",
        re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://(?P<user>[^:/?#@\s\"'<>]{0,256}):"
                   r"(?P<secret>[^@/?#\s\"'<>]{1,256})@[A-Za-z0-9\[_-]"),
        ("checkov:CKV_SECRET_4",), extract=_url_password_extract, min_distinct=0, grade=_url_password_grade,
    ),
)

_UNNAMED = tuple(d for d in DETECTORS if d.name_check is None)  # formats recognised anywhere
_NAMED = tuple(d for d in DETECTORS if d.name_check is not None)  # formats recognised under a matching name

GENERIC_RANDOM = ("generic-random", "random-looking secret value")
GENERIC_LITERAL = ("generic-literal", "literal secret value")

# --- key=value parts of a larger value -------------------------------------------------------

_PAIR = re.compile(
    r"^\s*(?:export\s+|-D|--|-\s+)?[\"']?(?P<name>[A-Za-z_][A-Za-z0-9_.\-]{0,127})[\"']?"
    r"\s*[:=]\s*(?P<value>.*?)\s*$"
)
_FLAG = re.compile(r"(?:^|\s)(?:-D|--)(?P<name>[A-Za-z_][A-Za-z0-9_.\-]{0,127})=(?P<value>\"[^\"]*\"|'[^']*'|\S+)")
_COMMENT = re.compile(r"\s+#.*$")


@dataclass(frozen=True, slots=True)
class _Pair:
    name: str
    value: str
    line: int  # 1-based line number in the value
    start: int  # span of that line in the value
    end: int


def _pairs(text: str) -> Iterator[_Pair]:
    """Each key=value part of ``text``: config-file lines, ``a=b;c=d`` segments, ``-Dk=v`` flags."""
    offset = 0
    for number, line in enumerate(text.split("\n")[:MAX_LINES], start=1):
        start, end = offset, offset + len(line)
        offset = end + 1
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "//", ";", "<")):
            continue
        if _FLAG.search(line):
            for m in _FLAG.finditer(line):
                yield _Pair(m.group("name"), m.group("value"), number, start, end)
            continue
        segments = line.split(";") if line.count("=") >= 2 and ";" in line else [line]
        for segment in segments:
            pm = _PAIR.match(segment)
            if pm is not None:
                yield _Pair(pm.group("name"), _COMMENT.sub("", pm.group("value")), number, start, end)


def _is_compound(text: str) -> bool:
    """A value that holds several settings (a file, a connection string, JVM options)."""
    if "\n" in text.strip():
        return True
    return (";" in text and text.count("=") >= 2) or bool(_FLAG.search(text))


# --- detection -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Hit:
    confidence: Confidence
    detector: str
    title: str
    secret: str
    field: str | None
    line: int
    start: int
    end: int

    def inside(self, other: _Hit) -> bool:
        """Within ``other``, found by another detector (a PEM key inside a GCP JSON key)."""
        return (self.detector != other.detector and other.start <= self.start and self.end <= other.end
                and (self.start, self.end) != (other.start, other.end))


def _hits(detectors: tuple[Detector, ...], name: str | None, text: str, field: str | None = None, line: int = 0,
          base: int = 0) -> list[_Hit]:
    return [_Hit(d.confidence_of(secret), d.id, d.title, secret, field, line, base + start, base + end)
            for d in detectors for secret, start, end in d.spans(name, text)]


def _generic_hit(name: str | None, value: str, field: str | None, line: int, base: int) -> _Hit | None:
    if not is_secret_name(name):
        return None
    lit = literal(value)
    if lit is None:
        return None
    conf, (det, title) = ((Confidence.MEDIUM, GENERIC_RANDOM) if looks_random(lit)
                          else (Confidence.LOW, GENERIC_LITERAL))
    return _Hit(conf, det, title, lit, field, line, base, base + len(value))


def _judge_single(name: str | None, text: str, known: list[_Hit]) -> list[_Hit]:
    named = _hits(_NAMED, name, text)
    if known or named:
        return named
    g = _generic_hit(name, text, None, 0, 0)
    return [g] if g is not None else []


def _judge_parts(name: str | None, text: str, known: list[_Hit]) -> list[_Hit]:
    multiline = "\n" in text.strip()
    code = is_code_filename(name)
    out: list[_Hit] = []
    for count, p in enumerate(_pairs(text)):
        if count >= MAX_PAIRS or len(out) >= MAX_MATCHES:
            break
        if code and not p.value.lstrip().startswith(("'", '"')):
            continue  # in source code only a string literal is a literal; `token = get_token()` is not
        line = p.line if multiline else 0
        if any(h.start < p.end and h.end > p.start for h in known):
            continue  # this line already holds a known format (or lies inside a PEM block)
        named = _hits(_NAMED, p.name, unquote(p.value), p.name, line, p.start)
        if named:
            out.extend(named)
            continue
        g = _generic_hit(p.name, p.value, p.name, line, p.start)
        if g is not None:
            out.append(g)
    return out


def detect(name: str | None, value: str) -> list[SecretMatch]:
    """Secrets in ``value`` (the value of variable/key ``name``), strongest first.

    Results are memoised: manifests repeat the same variables across many workloads.
    """
    return list(_detect_cached(name, value))


@lru_cache(maxsize=16384)
def _detect_cached(name: str | None, value: str) -> tuple[SecretMatch, ...]:
    return tuple(_detect(name, value))


def _detect(name: str | None, value: str) -> list[SecretMatch]:
    """Secrets in ``value`` (the value of variable/key ``name``), strongest first.

    Known formats are searched in the whole value. A single setting is also judged by
    ``name``; a compound value (a file, a connection string, JVM options) is split into
    ``key=value`` parts judged by their own keys. A generic match is made only where no
    known format was found in the same part.
    """
    if not value or len(value) > MAX_VALUE:
        return []
    text = value[:MAX_SCAN]
    known = _hits(_UNNAMED, name, text)
    extra = _judge_parts(name, text, known) if _is_compound(text) else _judge_single(name, text, known)
    hits = [h for h in known + extra if not any(h.inside(o) for o in known)]
    multiline = "\n" in text.strip()
    seen: set[tuple[str, str, str | None, int]] = set()
    out: list[SecretMatch] = []
    for h in sorted(hits, key=lambda h: (h.confidence.rank, h.start)):
        line = h.line or (text.count("\n", 0, h.start) + 1 if multiline else 0)
        match = SecretMatch(h.detector, h.title, fingerprint(h.secret), h.confidence, h.field, line)
        key = (match.detector, match.fingerprint, match.field, match.line)
        if key not in seen:
            seen.add(key)
            out.append(match)
        if len(out) >= MAX_MATCHES:
            break
    return out


def strongest(matches: list[SecretMatch]) -> Confidence | None:
    """The highest confidence among ``matches`` (None when there are none)."""
    return min((m.confidence for m in matches), key=lambda c: c.rank, default=None)
