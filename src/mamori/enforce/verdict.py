"""From a decision to an enforcement verdict: deny, warn or only record.

Adapters call :func:`judge`, which calls :func:`mamori.policy.engine.decide` - the same
function as ``mamori scan`` - and then sorts the remaining findings by the policy's
enforcement modes. Adapters hold no judgement of their own: they translate a request into
a ScanSet and a Verdict into their protocol's answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mamori.model import Finding, InputError, ScanSet
from mamori.policy.config import Policy
from mamori.policy.decision import Decision
from mamori.policy.enforcement import Mode
from mamori.policy.engine import decide
from mamori.policy.trust import ImageTrust

MAX_MESSAGE = 4000  # an API server or Docker CLI shows this to a person; keep it readable


@dataclass(frozen=True, slots=True)
class Verdict:
    """``allowed`` is False when an enforce-mode finding reaches the threshold or input was incomplete."""

    allowed: bool
    denied: tuple[Finding, ...]
    warned: tuple[Finding, ...]
    audited: tuple[Finding, ...]  # recorded only: audit mode, or below the threshold
    errors: tuple[InputError, ...]
    decision: Decision

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Ids of the rules behind the verdict (denying first), without duplicates."""
        seen: dict[str, None] = {}
        for f in (*self.denied, *self.warned):
            seen.setdefault(f.rule_id, None)
        return tuple(seen)

    def reason(self, limit: int = MAX_MESSAGE) -> str:
        """The denial message: each rule id with the object, the field to change and the fix."""
        lines = [f"input could not be read completely: {e.message}" for e in self.errors]
        lines += [describe(f) for f in self.denied]
        text = "; ".join(lines) if lines else "allowed"
        return text if len(text) <= limit else text[: limit - 20] + f"... ({len(lines)} reasons)"

    def warnings(self, each: int = 256) -> list[str]:
        """One short line per warn-mode finding, as Kubernetes warnings and Docker messages want."""
        out = []
        for f in self.warned:
            text = describe(f, with_fix=False)
            out.append(text if len(text) <= each else text[: each - 3] + "...")
        return out


def describe(f: Finding, with_fix: bool = True) -> str:
    where = f.location.resource
    if f.location.container:
        where += f" container {f.location.container}"
    field = f" (field {f.location.path})" if f.location.path else ""
    fix = f" Fix: {f.remediation}" if with_fix and f.remediation else ""
    return f"[{f.rule_id}] {where}{field}: {f.message}.{fix}"


def judge(scan: ScanSet, policy: Policy, *, today: date | None = None,
          trust: ImageTrust | None = None) -> Verdict:
    """Decide on ``scan`` exactly as ``mamori scan`` does, then apply the enforcement modes."""
    decision = decide(scan, policy, today=today, trust=trust)
    enf = policy.enforcement
    threshold = enf.threshold(policy.fail_on)
    denied: list[Finding] = []
    warned: list[Finding] = []
    audited: list[Finding] = []
    for f in decision.findings:
        mode = enf.mode_of(f.rule_id)
        if f.severity < threshold or mode is Mode.AUDIT:
            audited.append(f)
        elif mode is Mode.WARN:
            warned.append(f)
        else:
            denied.append(f)
    errors = decision.errors
    return Verdict(
        allowed=not denied and not errors,
        denied=tuple(denied),
        warned=tuple(warned),
        audited=tuple(audited),
        errors=errors,
        decision=decision,
    )


def _key(f: Finding) -> tuple[str, str, str | None, str]:
    return (f.rule_id, f.location.resource, f.location.container, f.location.path)


def on_update(new: Verdict, old: Verdict, policy: Policy) -> Verdict:
    """Judge an update by what it changes: findings the old object had too follow ``existing-on-update``.

    With the default ``warn``, an update that does not introduce a violation (a scale, a
    label, an image bump of a workload admitted before the policy) is not blocked by it,
    while anything the update adds is judged as on create.
    """
    mode = policy.enforcement.existing_on_update
    if mode is Mode.ENFORCE or not new.denied:
        return new
    before = {_key(f) for f in (*old.denied, *old.warned, *old.audited)}
    kept = tuple(f for f in new.denied if _key(f) not in before)
    existing = tuple(f for f in new.denied if _key(f) in before)
    if not existing:
        return new
    warned = new.warned + existing if mode is Mode.WARN else new.warned
    audited = new.audited + existing if mode is Mode.AUDIT else new.audited
    return Verdict(allowed=not kept and not new.errors, denied=kept, warned=warned, audited=audited,
                   errors=new.errors, decision=new.decision)
