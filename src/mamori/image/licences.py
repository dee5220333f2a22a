"""Licence strings as CycloneDX licences: the same answers as cyclonedx-python-lib's factory, without its cost.

``LicenseFactory.make_from_string`` makes an SPDX id, else a valid SPDX expression (license-
expression's strict validation), else a name. Importing it builds license-expression's whole
licensing model and tokenizer automaton: ~0.1 s, more than the rest of a CycloneDX document of a
Debian image. Here the ids come from the library's bundled SPDX list, and expressions are checked
against ``spdx-symbols.json``: license-expression's SPDX licence and exception keys, generated
from the pinned version (``python -m tests.image.test_licences`` regenerates it; a test fails
when it is stale). Strings the small grammar below cannot settle (blank, naming a key with a
space, or malformed in a way boolean.py may forgive) still go to the factory.
``tests/image/test_licences.py`` checks every answer against the factory: all SPDX ids, their
``+`` forms, Debian copyright names and thousands of generated and mutated expressions.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cyclonedx.model.license import License

_TOKEN = re.compile(r"[()]|[^\s()]+")
_AND_OR = {"and", "or"}
_KEYWORDS = {"and", "or", "with", "(", ")"}


@functools.cache
def _ids() -> dict[str, str]:
    """Lower-case SPDX id → its spelling, from the list cyclonedx-python-lib validates against."""
    from cyclonedx.schema._res import SPDX_JSON

    with open(SPDX_JSON, encoding="utf-8") as fh:
        return {i.lower(): i for i in json.load(fh).get("enum", [])}


@functools.cache
def _symbols() -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    """license-expression's SPDX licence keys, exception keys and keys with spaces (lower case)."""
    doc = json.loads(resources.files("mamori.image").joinpath("spdx-symbols.json").read_text("utf-8"))
    return frozenset(doc["licences"]), frozenset(doc["exceptions"]), tuple(doc["with_spaces"])


def is_expression(value: str) -> bool | None:
    """Whether license-expression accepts ``value`` as a strict SPDX expression; None if not sure.

    False when, without parentheses, a plain word like ``GPL-2+`` is no known key (license-
    expression rejects unknown keys). True
    when it fits ``expr := factor ((AND|OR) factor)*``, ``factor := ( expr ) | licence [WITH
    exception]``, keywords in any case. Anything else is None: boolean.py, under
    license-expression, also accepts some malformed strings ("A or B or", "(A) B"), so only it
    can say.
    """
    licences, exceptions, spaced = _symbols()
    low = value.lower()
    if not value.strip() or any(k in low for k in spaced):
        return None
    tokens = _TOKEN.findall(low)
    unknown = [t for t in tokens if t not in licences and t not in exceptions and t not in _KEYWORDS]
    if unknown:  # a word that is no key is refused (any characters: "MIT/X11", "and/or", "a_b")
        return None if "(" in low or ")" in low else False  # next to parentheses boolean.py may skip it
    pos = 0

    def factor() -> bool:
        nonlocal pos
        if pos >= len(tokens):
            return False
        t = tokens[pos]
        pos += 1
        if t == "(":
            if not expr() or pos >= len(tokens) or tokens[pos] != ")":
                return False
            pos += 1
            return True
        if t not in licences:
            return False
        if pos < len(tokens) and tokens[pos] == "with":
            pos += 1
            if pos >= len(tokens) or tokens[pos] not in exceptions:
                return False
            pos += 1
        return True

    def expr() -> bool:
        nonlocal pos
        if not factor():
            return False
        while pos < len(tokens) and tokens[pos] in _AND_OR:
            pos += 1
            if not factor():
                return False
        return True

    return True if expr() and pos == len(tokens) else None


def prepare() -> None:
    """Load the id and symbol tables now (they are cached)."""
    _ids()
    _symbols()


@functools.cache
def licence(value: str) -> License:
    """The CycloneDX licence ``LicenseFactory().make_from_string(value)`` would make (memoised)."""
    from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression

    spdx_id = _ids().get(value.lower())
    if spdx_id is not None:
        return DisjunctiveLicense(id=spdx_id)
    verdict = is_expression(value)
    if verdict is None:
        from cyclonedx.contrib.license.factories import LicenseFactory

        return LicenseFactory().make_from_string(value)
    return LicenseExpression(value) if verdict else DisjunctiveLicense(name=value)


def named(value: str) -> License:
    """A licence by name only (CycloneDX: several licences may not include an expression)."""
    from cyclonedx.model.license import DisjunctiveLicense

    return DisjunctiveLicense(name=value)
