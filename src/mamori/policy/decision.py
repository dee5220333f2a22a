"""The result of one decision: what a scan, webhook or plugin acts on."""

from __future__ import annotations

from dataclasses import dataclass, field

from mamori.model import Finding, InputError, Severity, Skipped, Suppressed


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a user should know that is not a finding (an expired waiver, say)."""

    file: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    """Findings that remain, those accepted by a suppression, and what could not be read.

    ``allowed`` is the verdict for enforcement paths: False when a finding at or above
    the policy's threshold remains, or when the input was incomplete (fail closed).
    """

    findings: tuple[Finding, ...]
    suppressed: tuple[Suppressed, ...] = ()
    errors: tuple[InputError, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    notices: tuple[Notice, ...] = ()
    files: tuple[str, ...] = ()
    threshold: Severity | None = None
    rules_evaluated: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def blocking(self) -> tuple[Finding, ...]:
        if self.threshold is None:
            return ()
        t = self.threshold
        return tuple(f for f in self.findings if f.severity >= t)

    @property
    def allowed(self) -> bool:
        return not self.blocking and not self.errors
