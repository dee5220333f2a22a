"""Licence strings as CycloneDX licences: the library's own decision, without its import cost where it cannot matter.

cyclonedx-python-lib's ``LicenseFactory`` makes an SPDX id, else a valid SPDX expression, else a
name. Importing it builds the whole SPDX licensing model (~40 ms, a tenth of an SBOM run). Here
the ids come from the library's bundled SPDX list (one JSON read), and only a string that could
be an expression (every licence token a known id, or-later form or ``LicenseRef-``) goes to the
factory. Most of Debian's copyright names ("GPL-2+", "public-domain", "GPL-2+ or Artistic") do not.
``tests/image/test_licences.py`` checks that the answers equal the factory's.
"""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cyclonedx.model.license import License

_OPERATORS = {"and", "or", "with"}
_TOKEN = re.compile(r"[()]|[^\s()]+|\s+")


@functools.cache
def _ids() -> dict[str, str]:
    """Lower-case SPDX id → its spelling, from the list cyclonedx-python-lib validates against."""
    from cyclonedx.schema._res import SPDX_JSON

    with open(SPDX_JSON, encoding="utf-8") as fh:
        return {i.lower(): i for i in json.load(fh).get("enum", [])}


def _tokens(value: str) -> list[str]:
    return [t for t in _TOKEN.findall(value) if not t.isspace()]


def _could_be_expression(value: str, ids: dict[str, str]) -> bool:
    """False when some licence token is certainly unknown (then the factory would make a name)."""
    after_with = False
    for token in _tokens(value):
        low = token.lower()
        if low in _OPERATORS:
            after_with = low == "with"
            continue
        if token in "()":
            continue
        if after_with:  # an exception id: the factory judges it
            after_with = False
            continue
        if low.removesuffix("+") not in ids and not low.startswith(("licenseref-", "documentref-")):
            return False
    return True


@functools.cache
def licence(value: str) -> License:
    """The CycloneDX licence ``LicenseFactory().make_from_string(value)`` would make (memoised)."""
    from cyclonedx.model.license import DisjunctiveLicense

    ids = _ids()
    spdx_id = ids.get(value.lower())
    if spdx_id is not None:
        return DisjunctiveLicense(id=spdx_id)
    if not value.strip() or _could_be_expression(value, ids):
        from cyclonedx.contrib.license.factories import LicenseFactory

        return LicenseFactory().make_from_string(value)
    return DisjunctiveLicense(name=value)


def named(value: str) -> License:
    """A licence by name only (CycloneDX: several licences may not include an expression)."""
    from cyclonedx.model.license import DisjunctiveLicense

    return DisjunctiveLicense(name=value)
