"""What every endpoint of ``mamori serve`` shares: the policy, the recorder and the metrics.

Endpoints translate their protocol into a ScanSet, call :func:`mamori.enforce.verdict.judge`
with ``state.policy`` and hand the outcome to :meth:`ServerState.observe`, which counts it
and records it in the store. The policy is swapped atomically on reload (SIGHUP).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mamori.enforce.verdict import Verdict
from mamori.model import Finding
from mamori.policy.config import Policy, load_policy
from mamori.policy.trust import ImageTrust
from mamori.store.decisions import DecisionRecord, DecisionRecorder

log = logging.getLogger("mamori.server")

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Prometheus series of one server; a registry per instance keeps tests independent."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter("mamori_decisions", "Enforcement decisions by adapter and result",
                                 ["adapter", "result"], registry=self.registry)
        self.findings = Counter("mamori_decision_findings", "Findings behind decisions by adapter, rule and mode",
                                ["adapter", "rule", "mode"], registry=self.registry)
        self.latency = Histogram("mamori_decision_duration_seconds", "Time to decide one request",
                                 ["adapter"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("mamori_request_errors", "Requests refused because they could not be read",
                              ["adapter", "reason"], registry=self.registry)
        self.pending = Gauge("mamori_decision_records_pending", "Decision records waiting to be stored",
                             registry=self.registry)
        self.dropped = Gauge("mamori_decision_records_lost", "Decision records that could not be stored",
                             registry=self.registry)


@dataclass
class ServerState:
    policy: Policy
    recorder: DecisionRecorder | None = None
    trust: ImageTrust | None = None
    policy_path: str | None = None
    metrics: Metrics = field(default_factory=Metrics)
    ready: bool = True
    started: float = field(default_factory=time.monotonic)
    audit: Callable[[DecisionRecord], None] | None = None  # also append decisions to the audit log

    def warm_up(self) -> None:
        """Load every rule module and run the decision point once, so the first request is not slow."""
        from mamori.enforce.verdict import judge
        from mamori.model import ScanSet
        from mamori.sources import kubernetes
        from mamori.sources.yamldoc import Doc

        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "warm-up", "namespace": "default"},
               "spec": {"containers": [{"name": "c", "image": "scratch"}]}}
        scan = ScanSet(complete=False)
        kubernetes.load(Doc("warm-up", 0, pod, {}), scan)
        judge(scan, self.policy, trust=self.trust)

    def reload(self) -> bool:
        """Re-read the policy file; on error keep the old policy (logged), never run without one."""
        if not self.policy_path:
            return False
        try:
            self.policy = load_policy(self.policy_path)
        except Exception as exc:  # noqa: BLE001 - a bad edit must not take enforcement down
            log.error("policy reload failed, keeping the previous policy: %s", exc)
            return False
        log.info("policy reloaded from %s", self.policy_path)
        return True

    def observe(self, rec: DecisionRecord, verdict: Verdict | None, seconds: float) -> None:
        """Count and record one decision (``verdict`` None: the request itself was refused)."""
        m = self.metrics
        m.decisions.labels(rec.adapter, rec.result).inc()
        m.latency.labels(rec.adapter).observe(seconds)
        if verdict is not None:
            for mode, group in (("enforce", verdict.denied), ("warn", verdict.warned), ("audit", verdict.audited)):
                for f in group:
                    m.findings.labels(rec.adapter, f.rule_id, mode).inc()
        if self.recorder is not None:
            self.recorder.record(rec)
        if self.audit is not None:
            self.audit(rec)


def _rows(group: tuple[Finding, ...], mode: str) -> list[dict[str, object]]:
    return [{"rule": f.rule_id, "mode": mode, "severity": f.severity.name.lower(), "resource": f.location.resource,
             "container": f.location.container, "field": f.location.path, "message": f.message} for f in group]


def verdict_detail(verdict: Verdict) -> dict[str, object]:
    """The findings behind a verdict as stored with the decision record."""
    return {
        "findings": _rows(verdict.denied, "enforce") + _rows(verdict.warned, "warn")
        + _rows(verdict.audited, "audit"),
        "errors": [str(e) for e in verdict.errors],
    }


def result_of(verdict: Verdict) -> str:
    if verdict.errors:
        return "error"
    if verdict.denied:
        return "denied"
    return "warned" if verdict.warned else "allowed"
