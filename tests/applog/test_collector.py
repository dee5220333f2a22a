"""mamori.applog against the real collector: schema, timestamps, redaction, spool and replay, caps, logging bridge."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mamori import applog
from mamori.secrets.redact import fingerprint
from tests.applog.conftest import IDENTITY, Collector

RFC3339_MICRO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
SECRET = "hunter2-correct-horse-battery"
BEARER = "eyJraWQiOiJ0ZXN0In0abcdefghij0123456789"


def new_logger(c: Collector, spool: Path | bool, **kw: Any) -> applog.AuditLogger:
    kw.setdefault("max_backoff", 0.2)
    kw.setdefault("timeout", 2.0)
    return applog.AuditLogger("billing", c.url, c.token, ca=c.ca, spool=spool, version="1.4.2", **kw)


def app_events(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["type"].startswith("applog.")]


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["payload"]["event"]["id"] for e in app_events(entries)]


def wait_for(cond: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture
def running(collector: Collector) -> Iterator[Collector]:
    collector.start()
    yield collector


def test_every_event_kind_is_stored_in_the_ecs_schema(running: Collector, tmp_path: Path) -> None:
    log = new_logger(running, tmp_path / "spool")
    try:
        with applog.correlation("req-7f3a") as cid:
            a = log.authentication(user="alice", outcome="failure", reason="bad password", source_ip="203.0.113.9",
                                   method="password", extra={"password": SECRET})
            b = log.authorization(user="alice", user_id="u-17", action="invoice.read", resource="invoice/42",
                                  allowed=False, roles=["clerk"], url="https://shop.example/invoices/42",
                                  http_method="get", status_code=403)
            c = log.action("invoice.delete", user="alice", resource="invoice/41", type="deletion",
                           message=f"deleted with header Authorization: Bearer {BEARER}")
            try:
                raise KeyError("invoice 40")
            except KeyError as exc:
                d = log.failure(exc, action="invoice.export")
        e = log.authentication(user="bob")  # outside the correlation block
        assert log.flush(20), log.stats()
    finally:
        st = log.close()
    assert st.sent == 5 and st.dropped == 0 and st.pending == 0
    got = {x["payload"]["event"]["id"]: x for x in app_events(running.entries())}
    assert set(got) == {a, b, c, d, e}
    for entry in got.values():
        p = entry["payload"]
        assert entry["source"] == IDENTITY  # the token's identity, set by the collector
        assert RFC3339_MICRO.fullmatch(p["@timestamp"]) and RFC3339_MICRO.fullmatch(entry["received"])
        assert entry["time"] == p["@timestamp"] == p["event"]["created"]  # the source's time is kept
        assert p["ecs"]["version"] == applog.ECS_VERSION and p["event"]["kind"] == "event"
        assert p["service"] == {"name": "billing", "version": "1.4.2"}
    auth = got[a]["payload"]
    assert got[a]["type"] == "applog.authentication"
    assert auth["event"]["category"] == ["authentication"] and auth["event"]["type"] == ["start"]
    assert auth["event"]["outcome"] == "failure" and auth["event"]["reason"] == "bad password"
    assert auth["user"]["name"] == "alice" and auth["source"]["ip"] == "203.0.113.9"
    assert auth["log"]["level"] == "warning" and auth["mamori"]["auth_method"] == "password"
    assert auth["mamori"]["extra"]["password"] == f"[REDACTED {fingerprint(SECRET)}]"
    assert {got[x]["payload"]["trace"]["id"] for x in (a, b, c, d)} == {cid} and "trace" not in got[e]["payload"]
    authz = got[b]["payload"]
    assert authz["event"]["type"] == ["denied"] and authz["event"]["outcome"] == "failure"
    assert authz["event"]["action"] == "invoice.read" and authz["mamori"]["resource"] == "invoice/42"
    assert authz["http"] == {"request": {"method": "GET"}, "response": {"status_code": 403}}
    assert authz["url"]["path"] == "/invoices/42" and authz["user"]["roles"] == ["clerk"]
    act = got[c]["payload"]
    assert act["event"]["type"] == ["deletion"] and act["event"]["outcome"] == "success"
    assert act["message"] == f"deleted with header Authorization: [REDACTED Bearer {fingerprint(BEARER)}]"
    fail = got[d]["payload"]
    assert fail["event"]["type"] == ["error"] and fail["log"]["level"] == "error"
    assert fail["error"]["type"] == "KeyError" and "invoice 40" in fail["error"]["message"]
    assert "raise KeyError" in fail["error"]["stack_trace"]
    raw = running.raw_store()
    assert SECRET.encode() not in raw and BEARER.encode() not in raw  # nowhere in the store, not even the WAL


def test_collector_down_then_up_replays_every_event_exactly_once(collector: Collector, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    log = new_logger(collector, spool)
    try:
        sent = [log.action("export", resource=f"file/{i}", type="access") for i in range(300)]
        wait_for(lambda: log.stats().spooled == 300)
        st = log.stats()
        assert st.sent == 0 and st.spool_events == 300 and st.pending == 300 and "unreachable" in (st.last_error or "")
        assert log.spool_dir is not None
        lines = sum(p.read_bytes().count(b"\n") for p in log.spool_dir.glob("seg-*.jsonl"))
        assert lines == 300
        assert not log.flush(0.5)  # nothing can be acknowledged while the collector is down
        collector.start()
        assert log.flush(30), log.stats()
        st = log.stats()
        assert st.replayed == 300 and st.dropped == 0 and st.spool_events == 0
        assert ids(collector.entries()) == sent  # each once, in the order emitted
        after = log.authentication(user="carol")  # back online: sent directly, not through the spool
        assert log.flush(10)
        assert log.stats().sent == 1 and ids(collector.entries())[-1] == after
    finally:
        log.close()
    assert list(log.spool_dir.glob("seg-*.jsonl")) == []


def test_spooled_events_survive_a_restart_of_the_application(collector: Collector, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    spool = tmp_path / "spool"
    first = new_logger(collector, spool)
    sent = [first.authentication(user=f"user{i}", outcome="failure") for i in range(40)]
    with caplog.at_level(logging.WARNING, logger="mamori.applog"):
        st = first.close(1.0)
    assert st.spool_events == 40 and st.dropped == 0
    assert any("stay in" in r.getMessage() and "40" in r.getMessage() for r in caplog.records)
    collector.start()
    second = new_logger(collector, spool)  # takes the same slot: the first process released it
    try:
        assert second.stats().pending == 40
        assert second.flush(30), second.stats()
    finally:
        second.close()
    assert ids(collector.entries()) == sent


def test_a_full_spool_drops_new_events_counted_reported_and_warned(collector: Collector, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    dropped: list[tuple[int, str]] = []
    log = new_logger(collector, tmp_path / "spool", spool_max_bytes=64 * 1024,
                     on_drop=lambda n, why: dropped.append((n, why)))
    pad = "x" * 1500
    sent = [log.action("bulk", resource=f"row/{i}", reason=pad) for i in range(100)]
    wait_for(lambda: log.stats().spooled + log.stats().dropped == 100)
    st = log.stats()
    assert st.dropped > 0 and st.spooled > 0 and st.spool_bytes <= 64 * 1024
    assert sum(n for n, _ in dropped) == st.dropped and {why for _, why in dropped} == {"spool full"}
    assert dict(st.dropped_by_reason) == {"spool full": st.dropped}
    with caplog.at_level(logging.WARNING, logger="mamori.applog"):
        log.close(0.5)
    assert any(f"{st.dropped} audit event(s) of billing were dropped" in r.getMessage() for r in caplog.records)
    collector.start()
    again = new_logger(collector, tmp_path / "spool")
    try:
        assert again.flush(30)
    finally:
        again.close()
    assert ids(collector.entries()) == sent[:st.spooled]  # the oldest are kept; the refused newest are counted


def test_memory_only_spool_has_a_cap_too(collector: Collector) -> None:
    log = new_logger(collector, False, spool_max_bytes=16 * 1024)
    for i in range(60):
        log.action("bulk", resource=f"row/{i}", reason="y" * 1000)
    wait_for(lambda: log.stats().spooled + log.stats().dropped == 60)
    st = log.close(0.3)
    assert 0 < st.spooled < 60 and dict(st.dropped_by_reason)["spool full"] == 60 - st.spooled
    assert dict(st.dropped_by_reason)["undelivered at close (no disk spool)"] == st.spooled  # said, never silent


def test_logging_handler_bridge(running: Collector, tmp_path: Path) -> None:
    log = new_logger(running, tmp_path / "spool")
    handler = applog.AuditHandler(log)
    app = logging.getLogger("shop.web")
    app.addHandler(handler)
    app.setLevel(logging.DEBUG)
    try:
        app.debug("below the handler's level")
        app.warning("login failed for %s", "bob", extra={"audit": {"event": "authentication", "outcome": "failure",
                                                                     "user": "bob", "source_ip": "198.51.100.4"}})
        app.info("connecting with password=%s", SECRET)
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            app.exception("checkout failed")
        logging.getLogger("mamori.applog").warning("the logger's own record")  # never fed back
        assert log.flush(20)
    finally:
        app.removeHandler(handler)
        log.close()
    got = app_events(running.entries())
    assert [e["type"] for e in got] == ["applog.authentication", "applog.log", "applog.log"]
    auth, info, exc = (e["payload"] for e in got)
    assert auth["user"]["name"] == "bob" and auth["event"]["outcome"] == "failure"
    assert auth["message"] == "login failed for bob" and auth["source"]["ip"] == "198.51.100.4"
    assert info["log"] == {"level": "info", "logger": "shop.web"} and SECRET not in info["message"]
    assert info["message"] == f"connecting with password=[REDACTED {fingerprint(SECRET)}]"
    assert exc["error"]["type"] == "ZeroDivisionError" and exc["event"]["outcome"] == "failure"
    assert exc["log"]["level"] == "error"


def test_client_certificate_instead_of_a_token(collector: Collector, tmp_path: Path) -> None:
    from tests.audit.test_mtls import client_cert

    client_ca, cert, key = client_cert(tmp_path)
    collector.start("--tls-client-ca", client_ca, client=(cert, key))
    log = applog.AuditLogger("billing", collector.url, ca=collector.ca, cert=(cert, key), spool=tmp_path / "spool")
    try:
        event = log.authentication(user="svc-account", method="mtls")
        assert log.flush(20), log.stats()
    finally:
        log.close()
    (got,) = app_events(collector.entries())
    assert got["payload"]["event"]["id"] == event
    assert got["source"].startswith("cert:") and "CN=node-7" in got["source"]  # the certificate is the identity


def test_collector_restart_mid_stream_and_concurrent_emitters(collector: Collector, tmp_path: Path) -> None:
    import threading

    collector.start()
    log = new_logger(collector, tmp_path / "spool")
    order: list[str] = []
    lock = threading.Lock()

    def emit(n: int, count: int) -> None:
        for i in range(count):
            event = log.action("write", resource=f"t{n}/{i}", type="change")
            with lock:
                order.append(event)

    try:
        threads = [threading.Thread(target=emit, args=(n, 100)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert log.flush(20)
        collector.stop()  # the keep-alive connection the sender holds is now dead
        emit(99, 50)
        wait_for(lambda: log.stats().spool_events == 50)
        collector.start()
        assert log.flush(30), log.stats()
        st = log.stats()
    finally:
        log.close()
    stored = ids(collector.entries())
    assert sorted(stored) == sorted(order) and len(set(stored)) == len(stored) == 650
    assert stored[600:] == order[600:]  # the spooled tail replayed in emission order
    assert st.sent == 600 and st.replayed == 50 and st.dropped == 0
