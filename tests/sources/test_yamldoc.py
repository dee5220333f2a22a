"""YAML documents with line spans: typing matches PyYAML's SafeLoader, spans are exact."""

from __future__ import annotations

import math

import pytest
import yaml

from mamori.sources.yamldoc import load_docs

SCALARS = ["1", "-5", "+7", "0", "0x1F", "017", "0b101", "1_000", "1.5", "-.5e+3", ".5", ".5e+3", "+.5", "3.",
           ".inf", "-.inf", ".nan", "yes", "No", "ON", "off", "~", "null", "abc", "1.2.3", "v1", "1e5", "1.0e+5",
           "'1'", '"true"', "!!int '7'", "!!str 5", "!!bool yes", "[a, 1]", "{a: 1}", "09", "2026-11-26"]


@pytest.mark.parametrize("text", SCALARS)
def test_scalars_are_typed_like_safe_loader(text: str) -> None:
    docs, errors = load_docs("x.yaml", f"k: {text}\n")
    assert not errors
    got = docs[0].data["k"]
    want = yaml.safe_load(f"k: {text}\n")["k"]
    if text == "2026-11-26":
        assert got == "2026-11-26"  # dates stay text: manifests compare them as strings
        return
    if isinstance(want, float) and math.isnan(want):
        assert isinstance(got, float) and math.isnan(got)
        return
    assert got == want and type(got) is type(want)


def test_base60_stays_a_string() -> None:
    docs, _ = load_docs("x.yaml", "ports:\n  - 22:22\n  - 53:53\n")
    assert docs[0].data["ports"] == ["22:22", "53:53"]


def test_spans_end_on_the_node_own_last_line() -> None:
    docs, _ = load_docs("x.yaml", "a:\n  b:\n    c: 1\n    d: [1, 2]\n  e: x\nf: 2\n")
    d = docs[0]
    assert d.span("/a") == (1, 5)
    assert d.span("/a/b") == (2, 4)
    assert d.span("/a/b/d") == (4, 4)
    assert d.span("/f") == (6, 6)
    assert d.line_of("/a/b/missing/deeper") == 2  # nearest existing ancestor


def test_merge_keys_and_anchors() -> None:
    docs, _ = load_docs("x.yaml", "base: &b {x: 1, y: 2}\nsvc:\n  <<: *b\n  y: 3\nquoted:\n  '<<': 4\n")
    assert docs[0].data["svc"] == {"x": 1, "y": 3}
    assert docs[0].data["quoted"] == {"<<": 4}


def test_multi_document_lines_and_errors() -> None:
    docs, errors = load_docs("x.yaml", "a: 1\n---\nb: 2\n---\nc: [\n")
    assert [d.line for d in docs] == [1, 3]
    assert errors and errors[0].line == 6 and errors[0].file == "x.yaml"


def test_custom_tags_keep_their_text() -> None:
    docs, errors = load_docs("x.yaml", "a: !Ref Bucket\nb: !reset null\n")
    assert not errors and docs[0].data == {"a": "Bucket", "b": "null"}
