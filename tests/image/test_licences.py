"""mamori.image.licences decides exactly as cyclonedx-python-lib's LicenseFactory (without importing it needlessly)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression

from mamori.image.licences import _ids, licence

SYMBOLS = Path(__file__).resolve().parents[2] / "src/mamori/image/spdx-symbols.json"


def symbols_from_license_expression() -> dict[str, object]:
    """What spdx-symbols.json must hold: the SPDX keys license-expression's licensing is built from."""
    import license_expression
    from license_expression import get_license_index

    licences, exceptions = set(), set()
    for entry in get_license_index():
        key = entry.get("spdx_license_key")
        if not key:
            continue
        for k in [key, *entry.get("other_spdx_license_keys", [])]:
            (exceptions if entry.get("is_exception") else licences).add(k.lower())
    version = getattr(license_expression, "__version__", None) or _dist_version("license-expression")
    return {"source": f"license-expression {version}, scancode-licensedb-index.json",
            "licences": sorted(licences), "exceptions": sorted(exceptions),
            "with_spaces": sorted(k for k in licences | exceptions if " " in k)}


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def test_shipped_symbols_match_the_installed_license_expression() -> None:
    assert json.loads(SYMBOLS.read_text()) == symbols_from_license_expression(), \
        "stale: run `.venv/bin/python -m tests.image.test_licences` to regenerate src/mamori/image/spdx-symbols.json"

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
    "ISC and/or LGPL-2.1+", "BSD-tcp_wrappers", "MIT/X11", "MIT OR LicenseRef-a_b", "GPL-2.0-only/MIT",
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


def test_debian_names_and_expressions_do_not_import_the_licensing_model() -> None:
    import subprocess
    import sys

    code = ("import sys; from mamori.image.licences import licence; licence('GPL-2+'); licence('public-domain'); "
            "licence('MIT'); licence('LGPL-2.1+ or BSD-3-clause'); licence('Sleepycat and BSD-3-clause'); "
            "licence('GFDL-1.2+'); licence('ISC and/or LGPL-2.1+'); licence('BSD-tcp_wrappers'); licence('MIT/X11'); "
            "print(json.dumps('cyclonedx.spdx' in sys.modules))")
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


if __name__ == "__main__":  # regenerate the shipped table after a license-expression upgrade
    SYMBOLS.write_text(json.dumps(symbols_from_license_expression(), indent=0) + "\n")
    print(f"wrote {SYMBOLS}")


def test_generated_expressions_and_their_mutations_agree() -> None:
    """Valid-by-construction expressions over license-expression's own keys, then broken one token at a time."""
    import random

    doc = symbols_from_license_expression()
    licences = [k for k in doc["licences"] if " " not in k]  # type: ignore[union-attr]
    exceptions = list(doc["exceptions"])  # type: ignore[call-overload]
    rnd = random.Random(11)

    def case(word: str) -> str:
        return rnd.choice([word, word.upper(), word.capitalize()])

    def expression(depth: int) -> list[str]:
        if depth > 2 or rnd.random() < 0.4:
            out = [rnd.choice(licences)]
            if rnd.random() < 0.2:
                out += [case("with"), rnd.choice(exceptions)]
            return out
        parts = expression(depth + 1)
        for _ in range(rnd.randint(1, 3)):
            parts += [case(rnd.choice(["and", "or"])), *expression(depth + 1)]
        return ["(", *parts, ")"] if rnd.random() < 0.5 else parts

    factory = LicenseFactory()
    valid = 0
    for _ in range(1200):
        tokens = expression(0)
        variants = [tokens]
        i = rnd.randrange(len(tokens))
        variants.append(tokens[:i] + tokens[i + 1:])  # one token dropped
        extra = rnd.choice(["and", "WITH", "(", ")", "Foo-1.0", rnd.choice(exceptions)])
        variants.append([*tokens[:i], extra, *tokens[i:]])  # one token inserted
        variants.append([*tokens[:i], tokens[i] + rnd.choice([",", ";", "/", "+", "-x"]), *tokens[i + 1:]])
        for v in variants:
            value = " ".join(v)
            got, want = _shape(licence(value)), _shape(factory.make_from_string(value))
            assert got == want, value
            valid += want[0] == "expression"
    assert valid > 1000  # the generator does produce valid expressions, not only names


def test_unknown_words_with_any_character_agree() -> None:
    """Without parentheses, a word that is no key makes a name, whatever characters it holds."""
    import string

    factory = LicenseFactory()
    chars = [c for c in string.printable if c not in string.whitespace + "()"]
    chars += ["\u00a9", "\u00e9", "\u2013", "\u00a0x"]
    for c in chars:
        for value in (f"MIT{c}X", f"{c}MIT", f"MIT{c}", f"MIT OR {c}", f"MIT {c} Apache-2.0", f"a{c}b", c, c + c,
                      f"GPL-2.0-only OR MIT{c}", f"MIT AND {c}GPL-2.0-only", f"Apache-2.0 WITH LLVM-exception{c}",
                      f"{c} OR MIT"):
            assert _shape(licence(value)) == _shape(factory.make_from_string(value)), value


def test_flat_strings_with_unknown_words_agree() -> None:
    """Debian-like strings without parentheses: keys, keywords and unknown words in any order."""
    import random

    doc = symbols_from_license_expression()
    known = [k for k in doc["licences"] if " " not in k][:400] + list(doc["exceptions"])[:40]  # type: ignore[index]
    unknown = ["GPL-2+", "public-domain", "Artistic", "Expat", "Foo-1.0", "BSD-3-clause-x", "permissive", "MIT/X11",
               "and/or", "BSD-tcp_wrappers", "a,b", "x;y", "DocumentRef-x:LicenseRef-y", "\u00a92001"]
    words = ["and", "or", "with", "AND", "OR", "WITH"]
    rnd = random.Random(5)
    factory = LicenseFactory()
    for _ in range(2500):
        parts = [rnd.choice(known if rnd.random() < 0.5 else unknown if rnd.random() < 0.5 else words)
                 for _ in range(rnd.randint(1, 7))]
        value = " ".join(parts)
        assert _shape(licence(value)) == _shape(factory.make_from_string(value)), value
