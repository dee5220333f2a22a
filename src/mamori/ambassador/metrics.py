"""Prometheus metrics of one ambassador, on its own registry (several may run in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Counter("mamori_ambassador_connections", "Connections by result (allowed, denied, error)",
                                   ["mode", "result"], registry=r)
        self.active = Gauge("mamori_ambassador_active_connections", "Connections open now", ["mode"], registry=r)
        self.bytes = Counter("mamori_ambassador_bytes", "Bytes proxied, by direction (in: from the connecting "
                             "side, out: towards it)", ["mode", "direction"], registry=r)
        self.handshake = Histogram("mamori_ambassador_handshake_seconds", "TLS handshake latency", ["mode"],
                                   buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                            5, 10), registry=r)
        self.expiry = Gauge("mamori_ambassador_certificate_expiry_seconds", "Seconds until the own certificate "
                            "expires (negative: expired)", ["mode"], registry=r)
        self.reloads = Counter("mamori_ambassador_certificate_reloads", "Certificate reloads by result",
                               ["mode", "result"], registry=r)
