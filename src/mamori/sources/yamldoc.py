"""YAML/JSON documents with the line of every value, read with libyaml.

PyYAML's C parser builds the node graph; we convert nodes ourselves so that each value's
JSON pointer maps to its line span. Sizes and alias expansion are bounded because the
input is hostile (a billion-laughs document must not exhaust memory).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from mamori.model import InputError, Loc

MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_NODES = 2_000_000

_BaseLoader: type[Any] = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """libyaml parser; every node keeps its default tag and ``scalar`` types plain scalars.

    PyYAML's resolver runs Python regexes per scalar; ``_plain`` does the same job faster.
    """

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP
_HELM_SOURCE = re.compile(r"^# Source: (.+)$", re.M)

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_SEQ = "tag:yaml.org,2002:seq"
_PLAIN = "!mamori-plain"  # an untagged plain scalar, typed by ``_plain``
_MAP = "tag:yaml.org,2002:map"


class YamlError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True, slots=True)
class Doc:
    """One YAML document: plain data plus pointer -> (first line, last line), 1-based."""

    file: str
    index: int
    data: Any
    spans: dict[str, tuple[int, int]]
    helm_source: str | None = None

    @property
    def line(self) -> int:
        return self.spans.get("", (0, 0))[0]

    def line_of(self, pointer: str) -> int:
        """Line of ``pointer``, or of its nearest ancestor that exists in the document."""
        if not self.spans:  # parsed JSON (an admission request): no lines to point at
            return 0
        p = pointer
        while True:
            span = self.spans.get(p)
            if span is not None:
                return span[0]
            if not p:
                return 0
            p = p.rsplit("/", 1)[0]

    def loc(self, pointer: str) -> Loc:
        return Loc(self.file, self.line_of(pointer), pointer)

    def span(self, pointer: str) -> tuple[int, int]:
        return self.spans.get(pointer, (self.line_of(pointer), self.line_of(pointer)))


class _Converter:
    """Turns a node graph into Python data, recording spans; bounded in node count."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.count = 0

    def convert(self, node: yaml.Node, pointer: str, spans: dict[str, tuple[int, int]]) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlError(node.start_mark.line + 1, f"document too large (over {MAX_NODES} nodes, alias bomb?)")
        start = node.start_mark.line + 1
        end_mark = node.end_mark
        if isinstance(node, yaml.CollectionNode) and not node.flow_style:
            # A block collection ends where the next token starts: the line before it is its last.
            end = max(start, end_mark.line)
        elif end_mark.column == 0 and end_mark.line > node.start_mark.line:
            end = end_mark.line
        else:
            end = end_mark.line + 1
        spans[pointer] = (start, end)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, f"{pointer}/{i}", spans) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE or (key_node.tag == _PLAIN and key_node.value == "<<"):
                    merged = self.convert(value_node, pointer, {})
                    for item in merged if isinstance(merged, list) else [merged]:
                        if isinstance(item, dict):
                            for k, v in item.items():
                                result.setdefault(k, v)
                    continue
                key = self.scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
                if not isinstance(key, str | int | float | bool) and key is not None:
                    key = str(key)
                child = f"{pointer}/{escape(str(key))}"
                value = self.convert(value_node, child, spans)
                # The key's line is where a person looks for the setting.
                vs = spans[child]
                spans[child] = (key_node.start_mark.line + 1, max(vs[1], key_node.start_mark.line + 1))
                result[key] = value
            return result
        raise YamlError(start, f"unsupported YAML node {type(node).__name__}")

    def scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag == _PLAIN:
            return _plain(node.value)
        if tag == _STR:
            return node.value
        if tag in (_INT, _FLOAT) and ":" in node.value:
            return node.value  # YAML 1.1 base-60 (`22:22`): Compose and kubectl read a string
        if tag.startswith("tag:yaml.org,2002:"):
            try:
                value = _SAFE.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError):
                return node.value
            return value if isinstance(value, str | int | float | bool) or value is None else str(value)
        return node.value  # custom tags (!Ref, !reset ...) keep their text


# YAML 1.1 implicit types of plain scalars, as PyYAML's SafeLoader and go-yaml v2 resolve them.
# The C parser hands every scalar over untyped (BaseResolver); resolving here with a table and
# two patterns is several times faster than PyYAML's per-scalar Python resolver.
_BOOL_NULL: dict[str, Any] = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
}
_NUMERIC_START = frozenset("-+.0123456789")
_INT_RE = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)$|[-+]?0b[0-1_]+$|[-+]?0x[0-9a-fA-F_]+$|[-+]?0[0-7_]+$")
_FLOAT_RE = re.compile(r"[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?$|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?$"
                       r"|[-+]?\.(?:inf|Inf|INF)$|\.(?:nan|NaN|NAN)$")
_SAFE = yaml.SafeLoader("")


def _plain(value: str) -> Any:
    """The value of an untagged plain scalar under YAML 1.1 rules."""
    if value in _BOOL_NULL:
        return _BOOL_NULL[value]
    if not value or value[0] not in _NUMERIC_START:
        return value
    if _INT_RE.match(value):
        text = value.replace("_", "")
        sign = -1 if text[0] == "-" else 1
        body = text.lstrip("+-")
        if body.startswith("0b"):
            return sign * int(body[2:], 2)
        if body.startswith("0x"):
            return sign * int(body[2:], 16)
        if len(body) > 1 and body[0] == "0":
            return sign * int(body, 8)
        return sign * int(body)
    if _FLOAT_RE.match(value):
        low = value.replace("_", "").lower()
        if low.endswith("inf"):
            return float("-inf") if low.startswith("-") else float("inf")
        if low.endswith("nan"):
            return float("nan")
        try:
            return float(low)
        except ValueError:
            return value
    return value


def _helm_sources(text: str) -> list[tuple[int, str]]:
    out = []
    for m in _HELM_SOURCE.finditer(text):
        out.append((text.count("\n", 0, m.start()) + 1, m.group(1).strip()))
    return out


def load_docs(file: str, text: str) -> tuple[list[Doc], list[InputError]]:
    """Parse every document of ``text``; a syntax error ends the file with an InputError."""
    docs: list[Doc] = []
    errors: list[InputError] = []
    if len(text) > MAX_FILE_BYTES:
        return docs, [InputError(file, 0, f"file larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, not read")]
    helm = _helm_sources(text) if "# Source:" in text else []
    loader = _Loader(text)
    conv = _Converter(loader)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            spans: dict[str, tuple[int, int]] = {}
            data = conv.convert(node, "", spans)
            line = node.start_mark.line + 1
            source = None
            for hl, name in helm:
                if hl <= line:
                    source = name
            docs.append(Doc(file, index, data, spans, source))
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        errors.append(InputError(file, line, f"invalid YAML: {problem}"))
    except yaml.YAMLError as exc:
        errors.append(InputError(file, 0, f"invalid YAML: {exc}"))
    except YamlError as exc:
        errors.append(InputError(file, exc.line, exc.message))
    except RecursionError:
        errors.append(InputError(file, 0, "document nested too deeply"))
    finally:
        loader.dispose()
    return docs, errors


def iter_items(value: Any) -> Iterator[tuple[int, Any]]:
    """Enumerate a list, or nothing when the value is not a list (tolerant reading)."""
    if isinstance(value, list):
        yield from enumerate(value)
