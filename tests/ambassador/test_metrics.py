"""The bytes counter sums the ambassadors that share one registry."""

from __future__ import annotations

from prometheus_client import generate_latest

from mamori.ambassador.metrics import Metrics


def test_bytes_sum_over_sources_sharing_a_registry() -> None:
    m = Metrics()
    m.bytes.add(lambda: {("server", "in"): 5, ("server", "out"): 7})
    m.bytes.add(lambda: {("server", "in"): 10, ("client", "in"): 3})
    text = generate_latest(m.registry).decode()
    assert 'mamori_ambassador_bytes_total{direction="in",mode="server"} 15.0' in text
    assert 'mamori_ambassador_bytes_total{direction="out",mode="server"} 7.0' in text
    assert 'mamori_ambassador_bytes_total{direction="in",mode="client"} 3.0' in text
