"""The one decision point: ``decide(scan, policy) -> Decision``.

The CLI scan, the admission webhook, the Docker AuthZ plugin and the live audit all call
this function, so CI and runtime can never disagree. It runs each enabled rule once per
object of its scope, turns hits into findings, applies severity overrides, inline and
annotation suppressions and policy waivers, and fails closed when a rule breaks.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

from mamori.model import (
    Finding,
    Identity,
    InputError,
    Location,
    ScanSet,
    SourceKind,
    Suppressed,
    Suppression,
)
from mamori.policy.config import Policy
from mamori.policy.decision import Decision, Notice
from mamori.policy.trust import ImageTrust
from mamori.rules.index import ScanIndex
from mamori.rules.registry import Context, Hit, Rule, Scope, all_rules, registry_state


def active_rules(policy: Policy) -> list[Rule]:
    return list(_active(policy.enable, policy.disable, registry_state()))


@functools.lru_cache(maxsize=64)
def _active(enable: tuple[str, ...], disable: tuple[str, ...], _registry: tuple[int, ...]) -> tuple[Rule, ...]:
    """Memoised per enable/disable lists: a webhook decides thousands of times under one policy."""
    probe = Policy(enable=enable, disable=disable)
    return tuple(r for r in all_rules() if probe.enabled(r.id, r.default_enabled))


def _finding(rule: Rule, policy: Policy, h: Hit, ident: Identity, container: str | None) -> Finding:
    who = h.ident or ident
    return Finding(
        rule_id=rule.id,
        title=rule.title,
        severity=policy.severity.get(rule.id, rule.severity),
        controls=rule.controls,
        refs=rule.refs,
        location=Location(
            file=h.loc.file or who.file,
            line=h.loc.line or who.line,
            resource=who.display,
            kind=who.kind,
            name=who.name,
            namespace=who.namespace,
            container=h.container or container,
            path=h.loc.path,
            template=who.template,
        ),
        message=h.message,
        remediation=rule.remediation,
        source=who.source.value,
    )


def _run(rule: Rule, args: tuple[object, ...], errors: list[InputError], where: Identity) -> Iterable[Hit]:
    try:
        return list(rule.fn(*args))
    except Exception as exc:  # noqa: BLE001 - a broken rule must not pass silently: fail closed
        errors.append(InputError(where.file, where.line,
                                 f"rule {rule.id} failed on {where.display}: {type(exc).__name__}: {exc}"))
        return []


def evaluate(scan: ScanSet, policy: Policy, rules: Sequence[Rule],
             trust: ImageTrust | None = None) -> tuple[list[Finding], list[InputError]]:
    """Run every rule on every object of its scope; return raw findings."""
    ctx = Context(policy.settings, scan, ScanIndex.build(scan), trust or policy.image_trust or policy.approved_digests)
    by_scope: dict[Scope, list[Rule]] = defaultdict(list)
    for r in rules:
        by_scope[r.scope].append(r)
    out: list[Finding] = []
    errors: list[InputError] = []
    for w in scan.workloads:
        src = w.ident.source
        for rule in by_scope[Scope.WORKLOAD]:
            if rule.sources is None or src in rule.sources:
                out.extend(_finding(rule, policy, h, w.ident, None) for h in _run(rule, (ctx, w), errors, w.ident))
        for c in w.containers:
            for rule in by_scope[Scope.CONTAINER]:
                if rule.sources is None or src in rule.sources:
                    out.extend(_finding(rule, policy, h, w.ident, c.name)
                               for h in _run(rule, (ctx, w, c), errors, w.ident))
    for b in scan.builds:
        for rule in by_scope[Scope.BUILD]:
            out.extend(_finding(rule, policy, h, b.ident, None) for h in _run(rule, (ctx, b), errors, b.ident))
    for res in scan.resources:
        for rule in by_scope[Scope.RESOURCE]:
            if isinstance(res, rule.types):
                ident = res.meta.ident
                out.extend(_finding(rule, policy, h, ident, None) for h in _run(rule, (ctx, res), errors, ident))
    for rule in by_scope[Scope.SET] if scan.complete else ():
        anchor = Identity(SourceKind.KUBERNETES, "", "Scan", "all")
        for h in _run(rule, (ctx,), errors, anchor):
            out.append(_finding(rule, policy, h, h.ident or anchor, None))
    return out, errors


def _norm(path: str) -> str:
    return os.path.normpath(path)


class _Suppressor:
    """Matches findings to inline/annotation suppressions and policy waivers."""

    def __init__(self, scan: ScanSet, policy: Policy, today: date) -> None:
        self.by_file: dict[str, list[Suppression]] = defaultdict(list)
        self.notices: list[Notice] = []
        self.today = today
        self.policy = policy
        self.used: set[int] = set()
        for s in scan.suppressions:
            if not s.reason.strip():
                self.notices.append(Notice(s.file, s.line, "suppression without a reason is not applied: "
                                                            "write `mamori:ignore=ID reason`"))
                continue
            if s.expires is not None and s.expires < today:
                self.notices.append(Notice(s.file, s.line, f"suppression of {','.join(s.rule_ids)} expired on "
                                                            f"{s.expires.isoformat()} and no longer applies"))
                continue
            self.by_file[_norm(s.file)].append(s)
        for w in policy.waivers:
            if w.expires is not None and w.expires < today:
                self.notices.append(Notice(w.file, w.line, f"waiver of {','.join(w.rules)} expired on "
                                                            f"{w.expires.isoformat()} and no longer applies"))

    def check(self, f: Finding) -> Suppressed | None:
        loc = f.location
        for s in self.by_file.get(_norm(loc.file), ()):
            if "*" not in s.rule_ids and f.rule_id not in s.rule_ids:
                continue
            if s.resource is not None:
                if s.resource != loc.resource:
                    continue
            elif not (s.first_line <= loc.line <= s.last_line):
                continue
            self.used.add(id(s))
            return Suppressed(f, s.reason, s.via, s.expires.isoformat() if s.expires else None)
        for w in self.policy.waivers:
            if w.expires is not None and w.expires < self.today:
                continue
            if w.matches(f.rule_id, loc.resource, loc.file, loc.container):
                return Suppressed(f, w.reason, "waiver", w.expires.isoformat() if w.expires else None)
        return None


def decide(scan: ScanSet, policy: Policy | None = None, *, today: date | None = None,
           trust: ImageTrust | None = None) -> Decision:
    """Judge everything in ``scan`` under ``policy``; the single place where verdicts are made.

    ``trust`` is the image-trust hook (signature and approval); without it the policy's
    ``trust.approved-images`` is used, and without that image trust is not judged.
    """
    policy = policy or Policy()
    rules = active_rules(policy)
    raw, rule_errors = evaluate(scan, policy, rules, trust)
    sup = _Suppressor(scan, policy, today or date.today())
    findings: list[Finding] = []
    suppressed: list[Suppressed] = []
    seen: set[tuple[object, ...]] = set()
    for f in raw:
        key = (f.rule_id, f.location, f.message)
        if key in seen:
            continue
        seen.add(key)
        accepted = sup.check(f)
        if accepted is None:
            findings.append(f)
        else:
            suppressed.append(accepted)
    known = {r.id for r in all_rules()}
    for sp in scan.suppressions:
        unknown = [i for i in sp.rule_ids if i != "*" and i not in known]
        if unknown:
            sup.notices.append(Notice(sp.file, sp.line, f"suppression names unknown rule id(s): {', '.join(unknown)}"))
    findings.sort(key=lambda f: f.sort_key)
    suppressed.sort(key=lambda s: s.finding.sort_key)
    return Decision(
        findings=tuple(findings),
        suppressed=tuple(suppressed),
        errors=tuple(scan.errors) + tuple(rule_errors),
        skipped=tuple(scan.skipped),
        notices=tuple(sorted(sup.notices, key=lambda n: (n.file, n.line))),
        files=tuple(scan.files),
        threshold=policy.fail_on,
        rules_evaluated=len(rules),
    )
