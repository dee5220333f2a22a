"""Prometheus metrics of one ambassador, on its own registry (several may run in one process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

BYTES_HELP = "Bytes proxied, by direction (in: from the connecting side, out: towards it)"


class _Bytes(Collector):
    """Byte totals read from the connections at scrape time: nothing to do per forwarded chunk
    (a labelled Counter's lock and lookups cost about 5 µs a chunk, a tenth of a small request's path)."""

    def __init__(self) -> None:
        self.sources: list[Callable[[], dict[tuple[str, str], int]]] = []  # one per ambassador sharing the registry

    def add(self, source: Callable[[], dict[tuple[str, str], int]]) -> None:
        self.sources.append(source)

    def collect(self) -> Iterator[Metric]:
        totals: dict[tuple[str, str], int] = {}
        for source in self.sources:
            for key, value in source().items():
                totals[key] = totals.get(key, 0) + value
        fam = CounterMetricFamily("mamori_ambassador_bytes", BYTES_HELP, labels=["mode", "direction"])
        for (mode, direction), value in sorted(totals.items()):
            fam.add_metric([mode, direction], value)
        yield fam


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Counter("mamori_ambassador_connections", "Connections by result (allowed, denied, error)",
                                   ["mode", "result"], registry=r)
        self.active = Gauge("mamori_ambassador_active_connections", "Connections open now", ["mode"], registry=r)
        self.bytes = _Bytes()  # each ambassador adds its byte_totals
        r.register(self.bytes)
        self.handshake = Histogram("mamori_ambassador_handshake_seconds", "TLS handshake latency", ["mode"],
                                   buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                            5, 10), registry=r)
        self.expiry = Gauge("mamori_ambassador_certificate_expiry_seconds", "Seconds until the own certificate "
                            "expires (negative: expired)", ["mode"], registry=r)
        self.reloads = Counter("mamori_ambassador_certificate_reloads", "Certificate reloads by result",
                               ["mode", "result"], registry=r)
