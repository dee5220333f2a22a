"""mamori.image.licences decides exactly as cyclonedx-python-lib's LicenseFactory (without importing it needlessly)."""

from __future__ import annotations

import json

import pytest
from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression

from mamori.image.licences import _ids, licence

# Debian copyright names as found in a bookworm rootfs, SPDX ids in odd spellings, expressions
STRINGS = [
    "GPL-2+", "GPL-2", "GPL-3+", "LGPL-2+", "LGPL-2.1+", "LGPL-3+", "BSD-3-clause", "BSD-3-Clause", "bsd-2-clause",
    "public-domain", "public-domain-s-s-d", "ISC+IBM", "GPL-1+ or Artistic, and Unicode", "Latex2e", "Expat",
    "LGPL-3+ or GPL-2+", "permissive-nowarranty", "GFDL-NIV-1.3+", "GPL with automake exception", "GPL-3.0",
    "GPL-2+ with Texinfo exception", "GPL-2.0", "GPL-3+ and FSFULLR", "GPL-3+ with Autoconf exception",
    "GPL or Artistic", "config-h", "MIT", "mit", "Apache-2.0", "apache-2.0", "MIT OR Apache-2.0",
    "(MIT OR Apache-2.0) AND BSD-3-Clause", "mit or apache-2.0", "GPL-2.0-only WITH Classpath-exception-2.0",
    "GPL-2.0-or-later WITH Nonexistent-exception", "LicenseRef-proprietary", "LicenseRef-x AND MIT",
    "MIT+", "Zlib", "zlib", "", " ", "AND", "MIT AND", "(MIT", "MIT)", "GPL-2.0+", "Artistic", "Artistic-2.0",
    "MIT and Foo", "Foo or MIT", "DocumentRef-a:LicenseRef-b", "MPL-2.0 WITH", "X11", "curl", "OpenSSL",
]


def _shape(lic: object) -> tuple[str, str | None, str | None]:
    if isinstance(lic, LicenseExpression):
        return ("expression", lic.value, None)
    assert isinstance(lic, DisjunctiveLicense)
    return ("licence", lic.id, lic.name)


@pytest.mark.parametrize("value", STRINGS)
def test_same_answer_as_the_factory(value: str) -> None:
    assert _shape(licence(value)) == _shape(LicenseFactory().make_from_string(value))


def test_every_known_id_and_its_or_later_form() -> None:
    factory = LicenseFactory()
    for spelled in list(_ids().values()):
        for value in (spelled, spelled.lower(), spelled + "+"):
            assert _shape(licence(value)) == _shape(factory.make_from_string(value)), value


def test_names_do_not_import_the_licensing_model() -> None:
    import subprocess
    import sys

    code = ("import sys; from mamori.image.licences import licence; licence('GPL-2+'); licence('public-domain'); "
            "licence('MIT'); print(json.dumps('cyclonedx.spdx' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) is False


def test_expressions_of_known_ids_agree() -> None:
    import random

    factory = LicenseFactory()
    ids = sorted(_ids().values())
    rnd = random.Random(7)
    values = [f"{i} AND MIT" for i in ids] + [f"(GPL-2.0-only or {i}+)" for i in ids[::3]]
    ops = ["AND", "OR", "and", "or", "And", "(", ")", "WITH", "+"]
    for _ in range(1500):
        parts = [rnd.choice(ids) if rnd.random() < 0.6 else rnd.choice(ops) for _ in range(rnd.randint(1, 6))]
        values.append(" ".join(parts))
        values.append("".join(p if p in ("(", ")") else f" {p} " for p in parts).strip())
    for value in values:
        assert _shape(licence(value)) == _shape(factory.make_from_string(value)), value
