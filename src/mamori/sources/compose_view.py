"""Reading a Compose document: top-level declarations and located access to a service.

A service's values are looked up through its ``extends`` chain (same file): the nearest
layer that sets a key wins, nested mappings merge key by key, and lists are joined
(bases first), as Compose merges them. Every value comes back with its JSON pointer so
that the Val built from it points at the line that set it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mamori.model import Identity, InputError, Loc, ScanSet, SourceKind, Val
from mamori.sources.compose_syntax import to_text
from mamori.sources.yamldoc import Doc, escape

T = TypeVar("T")
D = TypeVar("D")

KIND = "ComposeService"
MAX_ITEMS = 5000
MAX_EXTENDS = 10


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Layer:
    """One service mapping in an ``extends`` chain and the pointer it lives at."""

    data: dict[str, Any]
    ptr: str


class Project:
    """The top level of one Compose document: declarations shared by the services."""

    def __init__(self, doc: Doc, data: dict[str, Any], out: ScanSet) -> None:
        self.doc = doc
        self.data = data
        self.out = out
        self._seen_errors: set[tuple[int, str]] = set()
        self.services: dict[str, Any] = data["services"]
        self.volumes = self.section("volumes")
        self.networks = self.section("networks")
        self.secrets = self.section("secrets")
        self.configs = self.section("configs")

    def section(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(f"/{key}", f"top-level `{key}` must be a mapping")
            return {}
        return {str(k): v for k, v in value.items()}

    def error(self, pointer: str, message: str) -> None:
        line = self.doc.line_of(pointer)
        if (line, message) in self._seen_errors:
            return
        self._seen_errors.add((line, message))
        self.out.errors.append(InputError(self.doc.file, line, message))

    def layers(self, name: str, data: dict[str, Any], ptr: str) -> list[Layer]:
        """The service and the services it ``extends`` in this file, nearest first."""
        chain = [Layer(data, ptr)]
        seen = {name}
        cur = data
        cur_ptr = ptr
        while len(chain) <= MAX_EXTENDS:
            ext = cur.get("extends")
            if ext is None:
                break
            base = ext if isinstance(ext, str) else as_dict(ext).get("service")
            if isinstance(ext, dict) and ext.get("file") is not None:
                break  # another file: not read, recorded in extra
            if not isinstance(base, str):
                self.error(f"{cur_ptr}/extends", "`extends` needs a service name")
                break
            if base in seen:
                self.error(f"{cur_ptr}/extends", f"`extends` loops back to service {base!r}")
                break
            target = self.services.get(base)
            if not isinstance(target, dict):
                self.error(f"{cur_ptr}/extends", f"`extends` names unknown service {base!r}")
                break
            seen.add(base)
            cur, cur_ptr = target, f"/services/{escape(base)}"
            chain.append(Layer(cur, cur_ptr))
        return chain


class ServiceView:
    """One service (with its ``extends`` bases): typed access that keeps every value's location."""

    def __init__(self, project: Project, name: str, layers: list[Layer]) -> None:
        self.p = project
        self.doc = project.doc
        self.name = name
        self.layers = layers
        self.ptr = layers[0].ptr
        self.sloc = self.doc.loc(self.ptr)
        self.extra: dict[str, Val[object]] = {}
        self.ident = Identity(SourceKind.COMPOSE, self.doc.file, KIND, name, None, self.sloc.line)

    def loc(self, pointer: str) -> Loc:
        return self.doc.loc(pointer)

    def error(self, pointer: str, message: str) -> None:
        self.p.error(pointer, f"service {self.name!r}: {message}")

    def default(self, value: T) -> Val[T]:
        return Val(value, self.sloc, explicit=False)

    def get(self, *path: str) -> tuple[Any, str] | None:
        """The value at ``path`` from the nearest layer that sets it (nested maps merge)."""
        for layer in self.layers:
            cur: Any = layer.data
            for part in path:
                cur = cur.get(part) if isinstance(cur, dict) else None
                if cur is None:
                    break
            if cur is not None:
                return cur, layer.ptr + "".join(f"/{escape(p)}" for p in path)
        return None

    def mapping(self, *path: str) -> tuple[dict[str, Any], str] | None:
        got = self.get(*path)
        if got is None:
            return None
        if not isinstance(got[0], dict):
            self.error(got[1], f"`{'.'.join(path)}` must be a mapping")
            return None
        return got[0], got[1]

    def items(self, key: str, scalar_ok: bool = False) -> list[tuple[Any, str]]:
        """List entries of ``key``, bases first, merged across ``extends`` without duplicates."""
        out: list[tuple[Any, str]] = []
        seen: set[str] = set()
        for layer in reversed(self.layers):
            value = layer.data.get(key)
            ptr = f"{layer.ptr}/{escape(key)}"
            if value is None:
                continue
            if isinstance(value, list):
                if len(value) > MAX_ITEMS:
                    self.error(ptr, f"`{key}` has more than {MAX_ITEMS} entries; the rest are not read")
                entries = [(v, f"{ptr}/{i}") for i, v in enumerate(value[:MAX_ITEMS])]
            elif scalar_ok and isinstance(value, str | int) and not isinstance(value, bool):
                entries = [(value, ptr)]
            else:
                self.error(ptr, f"`{key}` must be a list")
                continue
            for v, p in entries:
                marker = repr(v)
                if marker not in seen:
                    seen.add(marker)
                    out.append((v, p))
        return out

    def pairs(self, key: str) -> list[tuple[str, Any, str]]:
        """``NAME=value`` list or mapping entries of ``key``; a bare ``NAME`` has value None."""
        merged: dict[str, tuple[Any, str]] = {}
        for layer in reversed(self.layers):
            value = layer.data.get(key)
            ptr = f"{layer.ptr}/{escape(key)}"
            if value is None:
                continue
            if isinstance(value, dict):
                for k, v in list(value.items())[:MAX_ITEMS]:
                    merged[str(k)] = (v, f"{ptr}/{escape(str(k))}")
            elif isinstance(value, list):
                for i, v in enumerate(value[:MAX_ITEMS]):
                    if isinstance(v, dict | list) or v is None:
                        self.error(f"{ptr}/{i}", f"`{key}` entries must be NAME=value strings")
                        continue
                    text = to_text(v)
                    k, eq, rest = text.partition("=")
                    if k.strip():
                        merged[k.strip()] = (rest if eq else None, f"{ptr}/{i}")
            else:
                self.error(ptr, f"`{key}` must be a list or a mapping")
        out: list[tuple[str, Any, str]] = []
        for k, (v, p) in merged.items():
            if isinstance(v, dict | list):
                self.error(p, f"`{key}.{k}` must be a scalar")
                continue
            out.append((k, None if v is None else to_text(v), p))
        return out

    def typed(self, conv: Callable[[Any], T], default: D, *path: str) -> Val[T | D]:
        got = self.get(*path)
        if got is None:
            return self.default(default)
        try:
            return Val(conv(got[0]), self.loc(got[1]))
        except ValueError as exc:
            self.error(got[1], f"`{'.'.join(path)}`: {exc}")
            return self.default(default)

    def text(self, *path: str) -> Val[str | None]:
        return self.typed(to_text, None, *path)
