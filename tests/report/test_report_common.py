"""Neutralising hostile strings and bounding their size."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mamori.report.common import MAX_FIELD, bound, one_line, terminal_safe, xml_safe
from tests.report.report_builders import HOSTILE


def test_terminal_safe_escapes_controls_and_bidi() -> None:
    out = terminal_safe(HOSTILE)
    assert "\x1b" not in out and "\x07" not in out and "\x00" not in out and "\r" not in out
    assert "\u202e" not in out
    assert "\\x1b[31mRED" in out and "\\u202e" in out
    assert out.count("\n") == 1  # line feeds are kept for the caller to indent


def test_one_line_folds_line_feeds() -> None:
    assert "\n" not in one_line(HOSTILE)
    assert "\\n" in one_line("a\nb")


def test_c1_controls_are_escaped() -> None:
    # U+009B is the single-byte CSI: terminals treat it like ESC [.
    assert terminal_safe("a\x9b31mb") == "a\\x9b31mb"


def test_plain_unicode_is_kept() -> None:
    assert terminal_safe("守り café ✓") == "守り café ✓"
    assert xml_safe("守り café ✓") == "守り café ✓"


def test_bound_cuts_long_text_and_lone_surrogates() -> None:
    out = bound("x" * (MAX_FIELD + 10))
    assert out.startswith("x" * MAX_FIELD) and out.endswith("[10 more characters]")
    assert bound("a\ud800b") == "a\ufffdb"
    bound("a\udfffb").encode("utf-8")


def test_xml_safe_makes_any_string_parseable() -> None:
    every_bmp_control = "".join(chr(c) for c in range(0x20)) + "\x7f\x85\x9b\ufffe\uffff\ud800"
    el = ET.Element("x", {"a": xml_safe(every_bmp_control)})
    el.text = xml_safe(every_bmp_control)
    parsed = ET.fromstring(ET.tostring(el, encoding="unicode"))
    assert "\\x1b" in (parsed.text or "")
    assert "\t" in (parsed.text or "") and "\n" in (parsed.text or "")
