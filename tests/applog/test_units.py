"""mamori.applog without a collector: redaction, correlation, size bounds, the spool, and delivery rules
(Retry-After, rejected entries, a hung collector) against small loopback stubs."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mamori import applog
from mamori.applog import schema
from mamori.applog.redact import redact_text, redact_value
from mamori.applog.spool import DiskSpool, SpoolError, open_slot
from mamori.applog.transport import retry_after
from mamori.audit.entry import new_entry
from mamori.secrets.redact import fingerprint


def mark(value: str) -> str:
    return f"[REDACTED {fingerprint(value)}]"


# -- redaction -------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["password", "DB_PASSWORD", "token", "access_token", "clientSecret", "api_key",
                                 "X-Api-Key", "Authorization", "Cookie", "set-cookie", "session_id", "private_key"])
def test_values_under_secret_keys_become_fingerprints(key: str) -> None:
    assert redact_value({key: "s3cr3t-value-123", "user": "alice"}) == {key: mark("s3cr3t-value-123"), "user": "alice"}


def test_structured_secret_values_and_safe_neighbours() -> None:
    out = redact_value({"token_url": "https://idp.example/token", "login": {"password": ["a", "b"]}, "n": 3,
                        "auth": {"user": "u", "pass": "p"},
                        "nan": float("nan"), "tags": {"x", "y"}, "obj": object()})
    assert out["token_url"] == "https://idp.example/token"  # about a token, not a token
    assert out["login"]["password"] == mark('["a", "b"]')
    assert out["auth"] == mark('{"pass": "p", "user": "u"}')  # a secret key hides its whole structure
    assert out["n"] == 3 and out["nan"] == "nan" and sorted(out["tags"]) == ["x", "y"]
    assert isinstance(out["obj"], str)
    json.dumps(out, allow_nan=False)  # always JSON the collector accepts


@pytest.mark.parametrize(("text", "secret", "kept"), [
    ("Authorization: Bearer abc.def-ghi_jkl012", "abc.def-ghi_jkl012", "Authorization: [REDACTED Bearer "),
    ("got Basic dXNlcjpwYXNzd29yZA== from client", "dXNlcjpwYXNzd29yZA==", "got [REDACTED Basic "),
    ("Cookie: session=abc123; theme=dark", "session=abc123; theme=dark", "Cookie: [REDACTED sha256:"),
    ("db at postgres://app:pa55word-x@db:5432/shop", "pa55word-x", "postgres://app:"),
    ("retrying with password=hunter22 now", "hunter22", "password=[REDACTED"),
])
def test_credentials_in_text(text: str, secret: str, kept: str) -> None:
    out = redact_text(text)
    assert secret not in out and kept in out


def test_nesting_is_bounded() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    out = json.dumps(redact_value(deep))
    assert "[too deep]" in out and out.count("{") <= 20


# -- schema ----------------------------------------------------------------------------------------
def test_timestamps_are_utc_microseconds() -> None:
    from datetime import datetime, timedelta, timezone

    t = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=timezone(timedelta(hours=9)))
    assert schema.rfc3339(t) == "2026-03-03T20:06:07.000089Z"
    e = schema.build("action", {"name": "s"}, category=["api"], types=["change"], outcome="success", action="x")
    assert e["time"] == e["payload"]["@timestamp"] and e["time"].endswith("Z") and len(e["time"]) == 27


def test_oversized_fields_are_bounded_and_still_accepted_by_the_collector() -> None:
    huge = "z" * 500_000
    e = schema.build("failure", {"name": "s"}, category=[], types=["error"], outcome="failure", action=huge,
                     error=huge, common={"message": huge, "extra": {f"k{i}": huge for i in range(50)},
                                         "labels": {"a": huge}})
    checked = new_entry(e, "source")  # the collector's own validation and size limit
    assert checked.type == "applog.failure"
    p = e["payload"]
    assert schema.size(p) <= schema.MAX_EVENT and p["mamori"]["truncated"] is True
    assert p["event"]["id"] and p["event"]["outcome"] == "failure"


def test_programming_errors_raise_but_data_never_does(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outcome"):
        schema.build("x", {"name": "s"}, category=[], types=[], outcome="maybe", action=None)
    with pytest.raises(ValueError, match="type"):
        schema.action_types("explode")
    e = schema.build("x", {"name": "s"}, category=[], types=[], outcome="unknown", action="a\x00\udcff",
                     common={"user": "\udcff", "status_code": 200})
    new_entry(e, "source")


def test_untrusted_request_data_is_shaped_not_raised() -> None:
    common: Any = {"source_ip": "203.0.113.5, 10.0.0.1", "status_code": "teapot", "roles": "admin", "labels": "x"}
    p = schema.build("x", {"name": "s"}, category=[], types=[], outcome="unknown", action=None, common=common)
    p = p["payload"]
    assert p["source"] == {"address": "203.0.113.5, 10.0.0.1"}  # not an IP: an index mapping would refuse it
    assert p["user"]["roles"] == ["admin"] and "http" not in p and "labels" not in p
    common = {"source_ip": "[2001:db8::1]", "status_code": 503}
    p = schema.build("x", {"name": "s"}, category=[], types=[], outcome="unknown", action=None, common=common)
    p = p["payload"]
    assert p["source"] == {"ip": "2001:db8::1"} and p["http"]["response"]["status_code"] == 503


def test_importing_applog_pulls_in_no_third_party_package() -> None:
    code = ("import sys; before = set(sys.modules); import mamori.applog; "
            "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == ["mamori"]


def test_correlation_follows_context_not_threads_or_tasks() -> None:
    seen: dict[str, str | None] = {}
    with applog.correlation("outer") as outer:
        with applog.correlation("req\r\n<script>:42") as inner:
            assert inner == "reqscript:42" and applog.current_correlation() == inner
        assert applog.current_correlation() == outer == "outer"
        t = threading.Thread(target=lambda: seen.update(thread=applog.current_correlation()))
        t.start()
        t.join()

        async def task(name: str) -> None:
            with applog.correlation(name):
                await asyncio.sleep(0.01)
                seen[name] = applog.current_correlation()

        async def both() -> None:
            await asyncio.gather(task("t1"), task("t2"))

        asyncio.run(both())
    assert seen == {"thread": None, "t1": "t1", "t2": "t2"}
    assert applog.current_correlation() is None
    with applog.correlation() as generated:
        assert len(generated) == 32


# -- configuration ---------------------------------------------------------------------------------
def test_configuration_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(applog.ENV_COLLECTOR, raising=False)
    with pytest.raises(applog.ConfigError, match="MAMORI_AUDIT_COLLECTOR"):
        applog.AuditLogger("svc", spool=False)
    with pytest.raises(applog.ConfigError, match="plain http"):
        applog.AuditLogger("svc", "http://audit.example:8080", "tok", spool=False)
    with pytest.raises(applog.ConfigError, match="http"):
        applog.AuditLogger("svc", "ftp://audit.example", spool=False)
    with pytest.raises(applog.ConfigError, match="token file"):
        applog.AuditLogger("svc", "https://127.0.0.1:1", token_file=str(tmp_path / "missing"), spool=False)
    (tmp_path / "blocked").write_text("a file where the spool directory should be")
    with pytest.raises(SpoolError, match="cannot use spool directory"):
        applog.AuditLogger("svc", "https://127.0.0.1:1", "t", spool=tmp_path / "blocked")


def test_retry_after_header_forms() -> None:
    assert retry_after("3") == 3.0
    assert retry_after("999999") == 300.0
    assert retry_after(formatdate(1_000_060, usegmt=True), now=1_000_000) == pytest.approx(60, abs=1)
    assert retry_after("soon") is None and retry_after(None) is None


# -- the spool -------------------------------------------------------------------------------------
def line(i: int) -> bytes:
    return json.dumps({"type": "t", "payload": {"i": i}}).encode() + b"\n"


def test_spool_repairs_a_torn_last_line_and_keeps_its_cursor(tmp_path: Path) -> None:
    s = DiskSpool(tmp_path / "s", 1 << 20)
    s.append([line(i) for i in range(5)])
    _, used, _ = s.peek(2, 1 << 20)
    s.ack(used)
    s.close()
    seg = next((tmp_path / "s").glob("seg-*.jsonl"))
    with seg.open("ab") as fh:
        fh.write(b'{"type": "t", "payl')  # a crash in the middle of an append
    s = DiskSpool(tmp_path / "s", 1 << 20)
    assert len(s) == 3
    s.append([line(9)])
    got = [json.loads(x)["payload"]["i"] for x in s.peek(10, 1 << 20)[0]]
    assert got == [2, 3, 4, 9]
    s.close()


def test_a_failed_spool_write_is_undone_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mamori.applog import spool as spool_mod

    s = DiskSpool(tmp_path / "s", 1 << 20, segment_bytes=4096)
    assert s.append([line(0), line(1)]) == (0, 0)
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "s").glob("seg-*")}
    real_fsync = os.fsync

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool_mod.os, "fsync", full_disk)
    assert s.append([line(i) for i in range(2, 200)]) == (0, 198)  # spans segments: all of it undone
    assert "No space left" in (s.last_error or "")
    monkeypatch.setattr(spool_mod.os, "fsync", real_fsync)
    assert {p.name: p.stat().st_size for p in (tmp_path / "s").glob("seg-*")} == sizes and len(s) == 2
    assert s.append([line(7)]) == (0, 0)
    got = [json.loads(x)["payload"]["i"] for x in s.peek(10, 1 << 20)[0]]
    assert got == [0, 1, 7]
    s.close()


def test_a_spool_directory_others_could_read_or_swap_is_refused(tmp_path: Path) -> None:
    (tmp_path / "open").mkdir()
    (tmp_path / "open").chmod(0o777)
    with pytest.raises(SpoolError, match="writable by other users"):
        DiskSpool(tmp_path / "open", 1 << 20)
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(SpoolError, match="not a plain directory"):
        DiskSpool(tmp_path / "link", 1 << 20)


def test_spool_slots_are_exclusive(tmp_path: Path) -> None:
    a = open_slot(tmp_path, "svc/with space", 1 << 20)
    with pytest.raises(SpoolError, match="in use"):
        DiskSpool(a.dir, 1 << 20)
    b = open_slot(tmp_path, "svc/with space", 1 << 20)
    assert (a.dir.name, b.dir.name) == ("svc_with_space.0", "svc_with_space.1")
    a.close()
    b.close()


# -- delivery against stubs ------------------------------------------------------------------------
class Stub:
    """A loopback collector stand-in whose answers a test scripts."""

    def __init__(self, answer: Callable[[dict[str, Any]], tuple[int, dict[str, str]]]) -> None:
        self.requests: list[tuple[float, dict[str, Any]]] = []
        self.stored: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append((time.monotonic(), body))
                status, headers = answer(body)
                if status == 200:
                    stub.stored.extend(body["entries"])
                data = json.dumps({"error": "scripted"} if status != 200 else {"accepted": 1}).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stubs() -> Iterator[list[Stub]]:
    made: list[Stub] = []
    yield made
    for s in made:
        s.close()


def test_retry_after_is_honoured_even_by_flush(stubs: list[Stub]) -> None:
    calls = {"n": 0}

    def answer(body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        calls["n"] += 1
        return (429, {"Retry-After": "1"}) if calls["n"] == 1 else (200, {})

    stub = Stub(answer)
    stubs.append(stub)
    log = applog.AuditLogger("svc", stub.url, "tok", spool=False, max_backoff=0.1)
    try:
        first = log.authentication(user="a")
        assert log.flush(10)
    finally:
        log.close()
    (t1, b1), (t2, b2) = stub.requests
    assert t2 - t1 >= 0.95  # flush() cut nothing short: the collector asked for a second
    assert b1 == b2  # the same entry again, not a new one
    assert [e["payload"]["event"]["id"] for e in stub.stored] == [first]
    assert log.stats().dropped == 0


def test_a_rejected_entry_is_isolated_dropped_and_reported(stubs: list[Stub]) -> None:
    def answer(body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        bad = any(e["payload"].get("event", {}).get("action") == "poison" for e in body["entries"])
        return (400, {}) if bad else (200, {})

    stub = Stub(answer)
    stubs.append(stub)
    dropped: list[tuple[int, str]] = []
    log = applog.AuditLogger("svc", stub.url, spool=False, on_drop=lambda n, why: dropped.append((n, why)))
    try:
        sent = [log.action("poison" if i == 3 else "ok", type="info") for i in range(8)]
        assert log.flush(10)
    finally:
        log.close()
    stored = [e["payload"]["event"]["id"] for e in stub.stored]
    assert sorted(stored) == sorted(sent[:3] + sent[4:]) and len(stored) == 7
    assert len(dropped) == 1 and dropped[0][0] == 1 and "refused by the collector (400)" in dropped[0][1]


def test_a_hung_collector_never_blocks_the_caller(tmp_path: Path) -> None:
    with socket.socket() as hung:  # accepts connections (backlog) and never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        dropped: list[int] = []
        log = applog.AuditLogger("svc", url, spool=tmp_path / "spool", queue_size=50, timeout=3.0,
                                 on_drop=lambda n, why: dropped.append(n))
        slowest = 0.0
        for i in range(500):
            t = time.perf_counter()
            log.action("x", resource=str(i), type="info")
            slowest = max(slowest, time.perf_counter() - t)
        st = log.stats()
        t = time.monotonic()
        final = log.close(0.5)
        closing = time.monotonic() - t
    assert slowest < 0.25, f"an emit took {slowest:.3f} s"  # against a 3 s request timeout: never waited for it
    assert st.accepted == 500 and dict(st.dropped_by_reason).get("queue full", 0) == sum(dropped) > 0
    assert closing < 1.5  # close() waits at most its timeout (plus a bounded join), not for the hung POST
    log._thread.join(10)  # the sender gives up its POST after `timeout` and spools that batch too
    end = log.stats()
    assert final.accepted == 500 and end.sent == 0
    assert end.dropped + end.spool_events == 500  # every event accounted for: spooled or counted as dropped
