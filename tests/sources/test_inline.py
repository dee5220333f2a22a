"""Which YAML node an inline ``# mamori:ignore`` comment covers (shared by Kubernetes and Compose)."""

from __future__ import annotations

from datetime import date

from mamori.model import InputError, Suppression
from mamori.sources.inline import inline_suppressions, node_span
from mamori.sources.yamldoc import load_docs

K8S = """\
# mamori:ignore=MAM-TEN-001 header of the first document
apiVersion: v1
kind: Pod
metadata:
  name: a
spec:
  containers:
    # mamori:ignore=MAM-PRIV-001 the whole first container
    - name: one
      image: busybox
      securityContext:
        privileged: true
    - name: two  # mamori:ignore=MAM-RES-001 trailing on a list item
      image: busybox
  hostPID: true
---
apiVersion: apps/v1
# mamori:ignore=MAM-IMG-001,MAM-IMG-002 above kind: all of this document
kind: Deployment
metadata:
  name: b
spec:
  replicas: 1
---
# mamori:ignore-file=MAM-LOG-001 logging is central for this file
apiVersion: v1
kind: Service
metadata:
  name: c   # mamori:ignore=MAM-NET-009
spec: {}
# mamori:ignore=MAM-X-001 dangling, nothing follows
"""


def run(text: str) -> tuple[list[list[Suppression]], list[InputError]]:
    docs, errs = load_docs("k.yaml", text)
    assert not errs
    errors: list[InputError] = []
    lines = text.splitlines()
    return [inline_suppressions(lines, d, "k.yaml", errors) for d in docs], errors


def spans(sups: list[Suppression]) -> list[tuple[tuple[str, ...], int, int, int]]:
    return [(s.rule_ids, s.first_line, s.last_line, s.line) for s in sups]


def test_each_document_gets_its_own_comments() -> None:
    per_doc, errors = run(K8S)
    assert spans(per_doc[0]) == [
        (("MAM-TEN-001",), 2, 15, 1),  # before the first key: the whole document
        (("MAM-PRIV-001",), 9, 12, 8),  # list item below: the item, not just its first key
        (("MAM-RES-001",), 13, 14, 13),  # trailing on `- name:`: that list item
    ]
    assert spans(per_doc[1]) == [(("MAM-IMG-001", "MAM-IMG-002"), 17, 23, 18)]
    assert spans(per_doc[2]) == [
        (("MAM-LOG-001",), 1, len(K8S.splitlines()), 25),  # ignore-file: every line of the file
        (("MAM-NET-009",), 29, 29, 29),
    ]
    assert per_doc[2][1].reason == ""  # kept; the engine refuses suppressions without a reason
    assert all(s.via == "inline" and s.file == "k.yaml" for d in per_doc for s in d)
    assert [(e.line, "not followed" in e.message) for e in errors] == [(31, True)]


def test_expiry_and_bad_comments() -> None:
    text = ("a:\n"
            "  # mamori:ignore=MAM-A-001 reason exp:2027-02-03\n"
            "  b: 1\n"
            "  # mamori:ignore=MAM-A-002 reason exp:2027-13-40\n"
            "  c: 2\n"
            "  # mamori:ignore=not-an-id reason\n"
            "  d: 3\n"
            "  e: 'text#mamori:ignore=MAM-A-003 inside a word is no comment'\n")
    per_doc, errors = run(text)
    assert [(s.rule_ids, s.expires, s.reason, s.first_line) for s in per_doc[0]] == [
        (("MAM-A-001",), date(2027, 2, 3), "reason", 3)]
    assert sorted(e.line for e in errors) == [4, 6]


def test_node_span_stops_before_the_next_sibling() -> None:
    text = "services:\n  db:\n    image: x\n    labels:\n      - a\n  other:\n    command: |\n      a\n\n  last: {}\n"
    docs, _ = load_docs("c.yml", text)
    doc = docs[0]
    assert node_span(doc, "/services/db") == (2, 5)
    assert node_span(doc, "/services/other") == (6, 9)  # a block scalar keeps its blank line
    assert node_span(doc, "/services/last") == (10, 10)
    assert node_span(doc, "/nope") == doc.span("/nope")


def test_comment_only_file_part_and_document_marker_on_same_line() -> None:
    text = ("a: 1\n# mamori:ignore=MAM-A-001 trailing comment of doc 0 has no node\n"
            "--- {b: 2}  # mamori:ignore=MAM-B-001 r\n")
    per_doc, errors = run(text)
    assert per_doc[0] == []
    assert spans(per_doc[1]) == [(("MAM-B-001",), 3, 3, 3)]
    assert [e.line for e in errors] == [2]
