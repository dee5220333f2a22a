"""The rule decorator and catalog.

A rule is a small pure function over the model plus metadata: a stable id, title,
severity, the CSA controls it implements, the equivalent peer checks (``refs``) and a
remediation. Its *scope* says what it receives:

* ``container``: ``fn(ctx, workload, container)`` - every container of every workload,
  whatever the source (Kubernetes, Compose, Dockerfile image, live container);
* ``workload``: ``fn(ctx, workload)``;
* ``build``: ``fn(ctx, build)`` - Dockerfile build steps;
* ``resource``: ``fn(ctx, resource)`` for the resource ``types`` given;
* ``set``: ``fn(ctx)`` - relations across everything scanned (namespaces without a
  NetworkPolicy, volumes shared between services); hits name their object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mamori.model import Identity, Loc, ScanSet, Severity, SourceKind, Val
from mamori.policy.settings import Settings


class Scope(StrEnum):
    CONTAINER = "container"
    WORKLOAD = "workload"
    BUILD = "build"
    RESOURCE = "resource"
    SET = "set"


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule's raw result: where and what. The engine adds identity and metadata."""

    loc: Loc
    message: str
    ident: Identity | None = None  # set-scope rules name their object
    container: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """What a rule may consult besides its object: the settings and the whole scan."""

    settings: Settings
    scan: ScanSet
    index: Any = None  # mamori.rules.index.ScanIndex, built once per scan
    trust: Any = None  # mamori.policy.trust.ImageTrust, when image trust is configured


RuleFn = Callable[..., Iterable[Hit]]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    severity: Severity
    controls: tuple[str, ...]
    refs: tuple[str, ...]
    remediation: str
    scope: Scope
    fn: RuleFn
    types: tuple[type, ...] = ()
    sources: frozenset[SourceKind] | None = None  # None: every source
    default_enabled: bool = True
    description: str = ""
    tags: tuple[str, ...] = field(default=())


_RULES: dict[str, Rule] = {}


def rule(
    *,
    id: str,
    title: str,
    severity: Severity,
    controls: Iterable[str],
    remediation: str,
    scope: Scope,
    refs: Iterable[str] = (),
    types: Iterable[type] = (),
    sources: Iterable[SourceKind] | None = None,
    default_enabled: bool = True,
) -> Callable[[RuleFn], RuleFn]:
    """Register a rule function under ``id``; ids are unique and stable."""

    def register(fn: RuleFn) -> RuleFn:
        if id in _RULES:
            raise ValueError(f"duplicate rule id {id}")
        _RULES[id] = Rule(
            id=id,
            title=title,
            severity=severity,
            controls=tuple(controls),
            refs=tuple(refs),
            remediation=remediation,
            scope=scope,
            fn=fn,
            types=tuple(types),
            sources=frozenset(sources) if sources is not None else None,
            default_enabled=default_enabled,
            description=(fn.__doc__ or "").strip(),
        )
        return fn

    return register


def all_rules() -> list[Rule]:
    """Every registered rule, loading the rule modules on first use."""
    from mamori.rules import load_all

    load_all()
    return sorted(_RULES.values(), key=lambda r: r.id)


def registry_state() -> tuple[int, ...]:
    """Identity of the registered rules, so caches of rule lists notice a change."""
    from mamori.rules import load_all

    load_all()
    return tuple(map(id, _RULES.values()))


def hit(val: Val[Any] | Loc, message: str, container: str | None = None) -> Hit:
    """A hit at a value's origin (or at a location)."""
    loc = val if isinstance(val, Loc) else val.loc
    return Hit(loc, message, None, container)
