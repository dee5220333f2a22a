"""JSON read the way the Docker daemon's Go decoder reads it, so a check sees what the daemon sees.

Go's ``encoding/json`` matches a struct field to *any* key equal to the field name under
Unicode case folding (``privileged``, ``PRIVILEGED`` and ``priv\u0131leged`` (dotless i)
all set ``Privileged``), a later key for the same field overwrites or merges into the
earlier one, and map keys are exact. A check that reads ``body["HostConfig"]["Privileged"]``
from a Python dict is walked around by ``{"hostconfig": {"privileged": true}}``.

:func:`loads` therefore keeps every key of every object (:class:`Obj`), :func:`field`
finds a struct field as Go would and refuses a field that two keys set (the merge rules
are not worth imitating: no client sends that), and :func:`entries` reads a Go map.
Parsing is strict where Go is: UTF-8 only, no ``NaN``/``Infinity``, one value per body.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 200  # for plain(); parsing itself is bounded by the interpreter's recursion limit


class JsonError(ValueError):
    """A body that cannot be read exactly as the daemon reads it; the message is for the user."""


class Obj:
    """A JSON object: its (key, value) pairs in document order, duplicate keys kept."""

    __slots__ = ("_folded", "pairs")

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs
        self._folded: dict[str, list[tuple[str, Any]]] | None = None

    def folded(self) -> dict[str, list[tuple[str, Any]]]:
        if self._folded is None:
            index: dict[str, list[tuple[str, Any]]] = {}
            for k, v in self.pairs:
                index.setdefault(fold(k), []).append((k, v))
            self._folded = index
        return self._folded

    def __repr__(self) -> str:
        return f"Obj({self.pairs!r})"


# Non-ASCII letters that Go folds onto ASCII ones (unicode.ToUpper(unicode.ToLower(r))).
_SPECIAL = {"\u017f": "S", "\u212a": "K", "\u0131": "I", "\u0130": "I"}


def fold(name: str) -> str:
    """The key as Go compares struct field names: upper case after lower case, rune by rune."""
    if name.isascii():
        return name.upper()
    out = []
    for ch in name:
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
            continue
        low = ch.lower()
        up = low.upper() if len(low) == 1 else ch
        out.append(up if len(up) == 1 else ch)
    return "".join(out)


def _no_constants(name: str) -> Any:
    raise JsonError(f"{name} is not JSON")


def loads(data: bytes) -> Any:
    """Parse a request body; objects become :class:`Obj`. Raises JsonError with a short reason."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonError("the body is not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=Obj, parse_constant=_no_constants)
    except JsonError:
        raise
    except RecursionError:
        raise JsonError("the body nests too deeply") from None
    except ValueError as exc:
        raise JsonError(f"the body is not valid JSON: {exc}") from None


def as_obj(value: Any) -> Obj | None:
    """An object as :class:`Obj` (plain dicts, such as ``docker inspect`` output, are accepted)."""
    if isinstance(value, Obj):
        return value
    if isinstance(value, dict):
        return Obj(list(value.items()))
    return None


def field(obj: Obj, name: str, where: str = "") -> tuple[str, Any] | None:
    """``(key, value)`` of the key that sets struct field ``name``, or None.

    Raises JsonError when two keys set the field (``Privileged`` and ``privileged``), since
    the daemon would combine them in ways a reader easily gets wrong.
    """
    hits = obj.folded().get(fold(name))
    if not hits:
        return None
    if len(hits) > 1:
        keys = ", ".join(repr(k) for k, _ in hits[:4])
        raise JsonError(f"`{where}{name}` is set {len(hits)} times (keys {keys}); refusing an ambiguous request")
    return hits[0]


def fields_present(obj: Obj, names: frozenset[str]) -> list[str]:
    """Keys of ``obj`` that Go would decode into one of the struct fields ``names`` (folded)."""
    return [k for k, _ in obj.pairs if fold(k) in names]


def entries(value: Any) -> list[tuple[str, Any]]:
    """A Go map: exact keys, the last duplicate wins (as Go assigns them in order)."""
    obj = as_obj(value)
    if obj is None:
        return []
    merged: dict[str, Any] = {}
    for k, v in obj.pairs:
        merged[k] = v
    return list(merged.items())


def plain(value: Any, depth: int = 0) -> Any:
    """Obj trees back to plain dicts (last duplicate wins), for values kept in ``extra``."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, Obj):
        return {k: plain(v, depth + 1) for k, v in value.pairs}
    if isinstance(value, list):
        return [plain(v, depth + 1) for v in value]
    return value
