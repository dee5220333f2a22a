"""Exact version ordering per ecosystem, ported from each package manager's own algorithm.

A vulnerability matcher is only as good as its ``<``: one wrong comparison turns a fixed package
into a finding or hides a real one. Each ecosystem therefore gets the algorithm of its package
manager (dpkg ``verrevcmp``, apk-tools ``version.c``, rpm ``rpmvercmp``, PEP 440 through
``packaging``, SemVer 2.0.0, Maven ``ComparableVersion``), never a generic "split on dots".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cmp_to_key, lru_cache
from typing import Any

from packaging.version import InvalidVersion, Version

MAX_VERSION_LEN = 256  # longer strings are not versions; refusing them bounds the work per comparison


class VersionError(ValueError):
    """An unknown ecosystem, or a string that is not a version there."""


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def _check(v: str, eco: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise VersionError(f"{eco}: empty version")
    v = v.strip()
    if len(v) > MAX_VERSION_LEN:
        raise VersionError(f"{eco}: version longer than {MAX_VERSION_LEN} characters")
    return v


# ---------------------------------------------------------------- dpkg (Debian Policy 5.6.12)

_DIGITS = frozenset("0123456789")
_DPKG_UPSTREAM = re.compile(r"[0-9][A-Za-z0-9.+~:-]*\Z")
_DPKG_REVISION = re.compile(r"[A-Za-z0-9.+~]+\Z")


def _dpkg_order(c: str) -> int:
    if c in _DIGITS:
        return 0
    if c.isascii() and c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's ``verrevcmp``: alternate non-digit runs (``~`` < end < letters < rest) and numbers."""
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        first_diff = 0
        while (i < la and a[i] not in _DIGITS) or (j < lb and b[j] not in _DIGITS):
            ac = _dpkg_order(a[i]) if i < la else 0
            bc = _dpkg_order(b[j]) if j < lb else 0
            if ac != bc:
                return _sign(ac - bc)
            i += 1
            j += 1
        while i < la and a[i] == "0":
            i += 1
        while j < lb and b[j] == "0":
            j += 1
        while i < la and a[i] in _DIGITS and j < lb and b[j] in _DIGITS:
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < la and a[i] in _DIGITS:
            return 1
        if j < lb and b[j] in _DIGITS:
            return -1
        if first_diff:
            return _sign(first_diff)
    return 0


@lru_cache(maxsize=1 << 16)
def parse_dpkg(v: str) -> tuple[int, str, str]:
    """``[epoch:]upstream[-revision]`` with dpkg's validity rules (errors *and* warnings refused)."""
    v = _check(v, "dpkg")
    epoch = 0
    if ":" in v:
        e, v = v.split(":", 1)
        if not e.isascii() or not e.isdigit():
            raise VersionError(f"dpkg: epoch {e!r} is not a number")
        if not v:
            raise VersionError("dpkg: nothing after the colon")
        epoch = int(e)
        if epoch > 2**31 - 1:
            raise VersionError("dpkg: epoch too large")
    upstream, rev = v, ""
    if "-" in v:
        upstream, rev = v.rsplit("-", 1)
        if not rev:
            raise VersionError("dpkg: revision is empty")
        if not _DPKG_REVISION.match(rev):
            raise VersionError(f"dpkg: invalid character in revision {rev!r}")
    if not upstream:
        raise VersionError("dpkg: upstream version is empty")
    if not _DPKG_UPSTREAM.match(upstream):
        raise VersionError(f"dpkg: upstream version {upstream!r} must start with a digit and use [A-Za-z0-9.+~:-]")
    if ":" in upstream and epoch == 0 and ":" not in v:
        raise VersionError("dpkg: a colon needs an epoch")
    return epoch, upstream, rev


def dpkg_compare(a: str, b: str) -> int:
    ea, ua, ra = parse_dpkg(a)
    eb, ub, rb = parse_dpkg(b)
    if ea != eb:
        return _sign(ea - eb)
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


# ---------------------------------------------------------------- apk (apk-tools src/version.c)

_T_INVALID, _T_DIGIT_OR_ZERO, _T_DIGIT, _T_LETTER, _T_SUFFIX, _T_SUFFIX_NO, _T_REVISION_NO, _T_END = range(-1, 7)
_PRE = ("alpha", "beta", "pre", "rc")
_POST = ("cvs", "svn", "git", "hg", "p")


class _Blob:
    __slots__ = ("p", "s")

    def __init__(self, s: str) -> None:
        self.s, self.p = s, 0

    def left(self) -> int:
        return len(self.s) - self.p


def _apk_next(t: int, b: _Blob) -> int:
    n = _T_INVALID
    c = b.s[b.p] if b.left() > 0 else ""
    if not c:
        n = _T_END
    elif t in (_T_DIGIT, _T_DIGIT_OR_ZERO) and "a" <= c <= "z":
        n = _T_LETTER
    elif t == _T_LETTER and c in _DIGITS:
        n = _T_DIGIT
    elif t == _T_SUFFIX and c in _DIGITS:
        n = _T_SUFFIX_NO
    else:
        if c == ".":
            n = _T_DIGIT_OR_ZERO
        elif c == "_":
            n = _T_SUFFIX
        elif c == "-" and b.left() > 1 and b.s[b.p + 1] == "r":
            n = _T_REVISION_NO
            b.p += 1
        b.p += 1
    if n < t and not (
        (n == _T_DIGIT_OR_ZERO and t == _T_DIGIT)
        or (n == _T_SUFFIX and t == _T_SUFFIX_NO)
        or (n == _T_DIGIT and t == _T_LETTER)
    ):
        n = _T_INVALID
    return n


def _apk_get(t: int, b: _Blob) -> tuple[int, int]:
    """One token's value and the next token type, exactly as apk-tools ``get_token``."""
    if b.left() <= 0:
        return 0, _T_END
    s, p = b.s, b.p
    v = i = 0
    nt = _T_INVALID
    if t == _T_DIGIT_OR_ZERO and s[p] == "0":
        while p + i < len(s) and s[p + i] == "0":
            i += 1
        nt = _T_DIGIT
        v = -i
    elif t in (_T_DIGIT_OR_ZERO, _T_DIGIT, _T_SUFFIX_NO, _T_REVISION_NO):
        while p + i < len(s) and s[p + i] in _DIGITS:
            v = v * 10 + ord(s[p + i]) - 48
            i += 1
    elif t == _T_LETTER:
        v = ord(s[p])
        i = 1
    elif t == _T_SUFFIX:
        rest = s[p:]
        for k, suf in enumerate(_PRE):
            if rest.startswith(suf):
                v, i = k - len(_PRE), len(suf)
                break
        else:
            for k, suf in enumerate(_POST):
                if rest.startswith(suf):
                    v, i = k, len(suf)
                    break
            else:
                return -1, _T_INVALID
    else:
        return -1, _T_INVALID
    b.p += i
    if b.left() == 0:
        return v, _T_END
    if nt != _T_INVALID:
        return v, nt
    return v, _apk_next(t, b)


@lru_cache(maxsize=1 << 16)
def apk_valid(v: str) -> bool:
    t, b = _T_DIGIT, _Blob(v)
    while t not in (_T_END, _T_INVALID):
        _, t = _apk_get(t, b)
    return t == _T_END


def apk_compare_raw(a: str, b: str) -> int:
    """apk-tools ``apk_version_compare`` without validation (invalid strings compare as apk does)."""
    at = bt = _T_DIGIT
    av = bv = 0
    ba, bb = _Blob(a), _Blob(b)
    while at == bt and at not in (_T_END, _T_INVALID) and av == bv:
        av, at = _apk_get(at, ba)
        bv, bt = _apk_get(bt, bb)
    if av != bv:
        return -1 if av < bv else 1
    if at == bt:
        return 0
    if at == _T_SUFFIX and _apk_get(at, ba)[0] < 0:
        return -1
    if bt == _T_SUFFIX and _apk_get(bt, bb)[0] < 0:
        return 1
    if at > bt:
        return -1
    if bt > at:
        return 1
    return 0


def apk_compare(a: str, b: str) -> int:
    a, b = _check(a, "apk"), _check(b, "apk")
    for v in (a, b):
        if not apk_valid(v):
            raise VersionError(f"apk: {v!r} is not an apk version (digits{{.digits}}[letter]{{_suffix[N]}}[-rN])")
    return apk_compare_raw(a, b)


# ---------------------------------------------------------------- rpm (rpmvercmp, rpm >= 4.15)


def _rpm_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def rpmvercmp(a: str, b: str) -> int:
    """rpm's ``rpmvercmp`` including ``~`` (before everything) and ``^`` (after the end only)."""
    if a == b:
        return 0
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        while i < la and not _rpm_alnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < lb and not _rpm_alnum(b[j]) and b[j] not in "~^":
            j += 1
        ca = a[i] if i < la else ""
        cb = b[j] if j < lb else ""
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i += 1
            j += 1
            continue
        if ca == "^" or cb == "^":
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (ca and cb):
            break
        isnum = ca in _DIGITS
        pred: Callable[[str], bool] = (lambda c: c in _DIGITS) if isnum else (lambda c: c.isascii() and c.isalpha())
        si, sj = i, j
        while i < la and pred(a[i]):
            i += 1
        while j < lb and pred(b[j]):
            j += 1
        sa, sb = a[si:i], b[sj:j]
        if not sb:
            return 1 if isnum else -1
        if isnum:
            sa, sb = sa.lstrip("0"), sb.lstrip("0")
            if len(sa) != len(sb):
                return -1 if len(sa) < len(sb) else 1
        if sa != sb:
            return -1 if sa < sb else 1
    if i >= la and j >= lb:
        return 0
    return -1 if i >= la else 1


@lru_cache(maxsize=1 << 16)
def parse_rpm(v: str) -> tuple[int, str, str | None]:
    """``[epoch:]version[-release]``; a missing epoch is 0, a missing release is None."""
    v = _check(v, "rpm")
    epoch = 0
    if ":" in v:
        e, v = v.split(":", 1)
        if not e.isascii() or not e.isdigit():
            raise VersionError(f"rpm: epoch {e!r} is not a number")
        epoch = int(e)
    release: str | None = None
    version = v
    if "-" in v:
        version, release = v.rsplit("-", 1)
    if not version or release == "" or any(c.isspace() for c in v):
        raise VersionError(f"rpm: {v!r} is not [epoch:]version[-release]")
    return epoch, str(version), release


def rpm_compare(a: str, b: str) -> int:
    """EVR comparison; like rpm's dependency check, the release is compared only if both have one."""
    ea, va, ra = parse_rpm(a)
    eb, vb, rb = parse_rpm(b)
    if ea != eb:
        return _sign(ea - eb)
    r = rpmvercmp(va, vb)
    if r or ra is None or rb is None:
        return r
    return rpmvercmp(ra, rb)


# ---------------------------------------------------------------- PEP 440


@lru_cache(maxsize=1 << 16)
def _pep440(v: str) -> Version:
    try:
        return Version(_check(v, "PyPI"))
    except InvalidVersion as e:
        raise VersionError(f"PyPI: {e}") from None


def pep440_compare(a: str, b: str) -> int:
    va, vb = _pep440(a), _pep440(b)
    return (va > vb) - (va < vb)


# ---------------------------------------------------------------- SemVer 2.0.0 (npm, Go, crates.io)

_SEMVER = re.compile(
    r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\Z"
)


@lru_cache(maxsize=1 << 16)
def parse_semver(v: str) -> tuple[int, int, int, tuple[str, ...]]:
    """``[v]MAJOR.MINOR.PATCH[-pre][+build]``; the ``v`` is Go's; build metadata is dropped."""
    m = _SEMVER.match(_check(v, "SemVer"))
    if not m:
        raise VersionError(f"SemVer: {v!r} is not MAJOR.MINOR.PATCH[-prerelease][+build]")
    pre = tuple(m.group(4).split(".")) if m.group(4) else ()
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), pre


def _pre_cmp(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if not a or not b:
        return (not a) - (not b)  # a release sorts after its pre-releases
    for x, y in zip(a, b, strict=False):
        xn, yn = x.isdigit(), y.isdigit()
        if xn and yn:
            c = _sign(int(x) - int(y))
        elif xn != yn:
            c = -1 if xn else 1  # numeric identifiers sort before alphanumeric ones
        else:
            c = (x > y) - (x < y)
        if c:
            return c
    return _sign(len(a) - len(b))


def semver_compare(a: str, b: str) -> int:
    pa, pb = parse_semver(a), parse_semver(b)
    if pa[:3] != pb[:3]:
        return -1 if pa[:3] < pb[:3] else 1
    return _pre_cmp(pa[3], pb[3])


# ---------------------------------------------------------------- Maven ComparableVersion

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_RELEASE_INDEX = str(_QUALIFIERS.index(""))


def _qual(q: str) -> str:
    return str(_QUALIFIERS.index(q)) if q in _QUALIFIERS else f"{len(_QUALIFIERS)}-{q}"


# Items: int, str (a qualifier, already aliased), list (a sub-version).
_Item = Any


def _str_item(s: str, followed_by_digit: bool) -> str:
    if followed_by_digit and len(s) == 1:
        s = {"a": "alpha", "b": "beta", "m": "milestone"}.get(s, s)
    return _ALIASES.get(s, s)


def _is_null(x: _Item) -> bool:
    return x == 0 if isinstance(x, int) else (x == "" if isinstance(x, str) else not x)


def _normalize(lst: list[_Item]) -> None:
    for i in range(len(lst) - 1, -1, -1):
        if _is_null(lst[i]):
            del lst[i]
        elif not isinstance(lst[i], list):
            break


def _mvn_cmp(x: _Item, y: _Item) -> int:
    """``Item.compareTo``; ``y`` None is the absent item past the end of the shorter list."""
    if isinstance(x, int):
        if y is None:
            return 0 if x == 0 else 1
        if isinstance(y, int):
            return _sign(x - y)
        return 1
    if isinstance(x, str):
        if y is None:
            qx = _qual(x)
            return (qx > _RELEASE_INDEX) - (qx < _RELEASE_INDEX)
        if isinstance(y, str):
            qx, qy = _qual(x), _qual(y)
            return (qx > qy) - (qx < qy)
        return -1
    if y is None:
        for item in x:
            c = _mvn_cmp(item, None)
            if c:
                return c
        return 0
    if isinstance(y, int):
        return -1
    if isinstance(y, str):
        return 1
    for k in range(max(len(x), len(y))):
        left = x[k] if k < len(x) else None
        right = y[k] if k < len(y) else None
        c = (0 if right is None else -_mvn_cmp(right, left)) if left is None else _mvn_cmp(left, right)
        if c:
            return c
    return 0


def parse_maven(v: str) -> list[_Item]:
    return _parse_maven(v)


@lru_cache(maxsize=1 << 16)
def _parse_maven(v: str) -> list[_Item]:
    v = _check(v, "Maven").lower()
    if any(c.isspace() for c in v):
        raise VersionError(f"Maven: {v!r} contains white space")
    root: list[_Item] = []
    cur = root
    stack = [root]
    start = 0
    is_digit = False

    def item(s: str, digit: bool) -> _Item:
        return int(s) if digit else _str_item(s, False)

    for i, c in enumerate(v):
        if c in ".-":
            cur.append(0 if i == start else item(v[start:i], is_digit))
            start = i + 1
            if c == "-":
                new: list[_Item] = []
                cur.append(new)
                cur = new
                stack.append(new)
        elif c in _DIGITS:
            if not is_digit and i > start:
                cur.append(_str_item(v[start:i], True))
                start = i
                new = []
                cur.append(new)
                cur = new
                stack.append(new)
            is_digit = True
        else:
            if is_digit and i > start:
                cur.append(int(v[start:i]))
                start = i
                new = []
                cur.append(new)
                cur = new
                stack.append(new)
            is_digit = False
    if len(v) > start:
        if not is_digit and cur:  # 1.0.0.X1 < 1.0.0-X2: treat .X as -X for a string qualifier X
            new = []
            cur.append(new)
            cur = new
            stack.append(new)
        cur.append(item(v[start:], is_digit))
    while stack:
        _normalize(stack.pop())
    return root


def maven_compare(a: str, b: str) -> int:
    return _mvn_cmp(parse_maven(a), parse_maven(b))


# ---------------------------------------------------------------- dispatch

_BY_KIND: dict[str, Callable[[str, str], int]] = {
    "dpkg": dpkg_compare,
    "apk": apk_compare,
    "rpm": rpm_compare,
    "pep440": pep440_compare,
    "semver": semver_compare,
    "maven": maven_compare,
}

_KIND_OF: dict[str, str] = {
    "debian": "dpkg", "ubuntu": "dpkg", "deb": "dpkg", "dpkg": "dpkg",
    "alpine": "apk", "apk": "apk", "wolfi": "apk", "chainguard": "apk",
    "rpm": "rpm", "red hat": "rpm", "rocky linux": "rpm", "almalinux": "rpm", "suse": "rpm",
    "opensuse": "rpm", "photon os": "rpm", "mageia": "rpm",
    "pypi": "pep440", "pep440": "pep440", "python": "pep440",
    "npm": "semver", "go": "semver", "golang": "semver", "crates.io": "semver", "cargo": "semver",
    "semver": "semver",
    "maven": "maven",
}


def kind(ecosystem: str) -> str:
    """The ordering used by an OSV ecosystem (``Debian:12`` → ``dpkg``) or a purl type."""
    base = ecosystem.split(":", 1)[0].strip().lower()
    try:
        return _KIND_OF[base]
    except KeyError:
        raise VersionError(f"no version ordering known for ecosystem {ecosystem!r}") from None


def comparator(ecosystem: str) -> Callable[[str, str], int]:
    return _BY_KIND[kind(ecosystem)]


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b`` in ``ecosystem``.

    Raises :class:`VersionError` for an unknown ecosystem or a string that is not a version there.
    """
    return comparator(ecosystem)(a, b)


def sort_key(ecosystem: str) -> Callable[[str], Any]:
    return cmp_to_key(comparator(ecosystem))
