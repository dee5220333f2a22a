"""The syslog listeners in-process: identities, framings, malformed input, limits and back-pressure."""

from __future__ import annotations

import asyncio
import base64
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mamori.audit.log import AuditLog
from mamori.audit.writer import GroupWriter
from mamori.server import syslog
from tests import components
from tests.audit.test_mtls import client_cert
from tests.server.tlsutil import localhost_tls

DOCKER_LINE = b"<30>1 2026-11-26T16:27:52.213557Z vm web-1 20563 web-1 - hello from web\n"


@contextmanager
def running(log: AuditLog, *, tls: ssl.SSLContext | None = None, rate: float = 50_000.0,
            limits: syslog.Limits | None = None, writer: GroupWriter | None = None, uvloop: bool = False,
            ) -> Iterator[tuple[dict[str, syslog.SyslogServer], CollectorRegistry]]:
    w = writer or GroupWriter(log)
    reg = CollectorRegistry()
    srvs = syslog.servers(w, reg, tcp=("127.0.0.1", 0), tls=("127.0.0.1", 0) if tls else None, tls_ctx=tls,
                          rate=rate, limits=limits or syslog.Limits())
    if uvloop:
        import uvloop as uv

        loop = uv.new_event_loop()  # what `mamori serve` runs on
    else:
        loop = asyncio.new_event_loop()

    async def main() -> None:
        await asyncio.gather(*(s.serve() for s in srvs))

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not all(s.started.is_set() for s in srvs):
        assert time.monotonic() < deadline, "the syslog listeners did not start"
        time.sleep(0.02)
    try:
        yield {s.transport: s for s in srvs}, reg
    finally:
        for s in srvs:
            loop.call_soon_threadsafe(s.stop)
        thread.join(30)
        loop.close()
        w.close()


def wait_for(log: AuditLog, n: int, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while log.head().size < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return [e.json() for e in log.query(limit=100_000)]


def frame(msg: bytes) -> bytes:
    return b"%d %s" % (len(msg), msg)


def tls_pair(tmp: Path, mtls: bool) -> tuple[ssl.SSLContext, ssl.SSLContext, str]:
    srv = localhost_tls(tmp / "srv")
    ca, cert, key = client_cert(tmp)
    server = syslog.tls_context(srv["cert"], srv["key"], ca if mtls else None)
    client = ssl.create_default_context(cafile=srv["ca"])
    if mtls:
        client.load_cert_chain(cert, key)
    return server, client, srv["ca"]


def send_tls(port: int, ctx: ssl.SSLContext, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(data)


def test_mtls_source_is_the_certificate_and_docker_tag_is_the_container(tmp_path: Path, log: AuditLog) -> None:
    server, client, ca = tls_pair(tmp_path, mtls=True)
    with running(log, tls=server) as (srvs, _):
        msgs = [frame(DOCKER_LINE),
                frame(b'<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - [a@32473 k="v\\"w"] x')]
        send_tls(srvs["tls"].port, client, b"".join(msgs))
        rows = wait_for(log, 2)
        no_cert = ssl.create_default_context(cafile=ca)
        # TLS 1.3 may report the refusal only on the first read
        with pytest.raises((ssl.SSLError, OSError)), socket.create_connection(("127.0.0.1", srvs["tls"].port)) as raw, \
                no_cert.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(frame(DOCKER_LINE))
            assert s.recv(1) == b""
            raise OSError("closed without a certificate")
    assert [r["source"] for r in rows] == ["cert:O=cluster-a,CN=node-7"] * 2
    assert rows[0]["type"] == "syslog" and rows[0]["container"] == "web-1"
    assert rows[0]["time"] == "2026-11-26T16:27:52.213557Z" and rows[0]["payload"]["msg"] == "hello from web"
    assert rows[0]["payload"]["transport"] == "tls" and rows[0]["payload"]["peer"].startswith("127.0.0.1:")
    assert "container" not in rows[1]  # APP-NAME is not the MSGID: not a Docker tag
    assert rows[1]["time"] == "2003-08-24T12:14:15.000003Z" and rows[1]["payload"]["sd"] == {"a@32473": {"k": 'v"w'}}
    assert log.head().size == 2  # the connection without a certificate logged nothing


def test_tls_without_client_ca_records_the_unauthenticated_address(tmp_path: Path, log: AuditLog) -> None:
    server, client, _ = tls_pair(tmp_path, mtls=False)
    with running(log, tls=server) as (srvs, _):
        send_tls(srvs["tls"].port, client, frame(b"<13>1 - - - - - - nil timestamp"))
        rows = wait_for(log, 1)
    assert rows[0]["source"] == "unauthenticated:127.0.0.1"
    assert rows[0]["time"] == rows[0]["received"] and rows[0]["payload"]["timestamp"] is None


def test_plain_tcp_lf_framing_and_malformed_lines_are_recorded(log: AuditLog) -> None:
    with running(log) as (srvs, reg):
        with socket.create_connection(("127.0.0.1", srvs["tcp"].port)) as s:
            s.sendall(DOCKER_LINE + b"<13>Oct 11 22:14:15 host su: an RFC 3164 line\n" + DOCKER_LINE)
        rows = wait_for(log, 3)
        assert reg.get_sample_value("mamori_syslog_messages_total", {"result": "malformed"}) == 1
        assert reg.get_sample_value("mamori_syslog_messages_total", {"result": "stored"}) == 3
    assert [r["type"] for r in rows] == ["syslog", "syslog.malformed", "syslog"]
    bad = rows[1]["payload"]
    assert "RFC 3164" in bad["error"] and base64.b64decode(bad["raw_b64"]).startswith(b"<13>Oct 11")
    assert rows[0]["source"] == "unauthenticated:127.0.0.1" and rows[0]["payload"]["transport"] == "tcp"


def test_oversize_frame_is_recorded_and_closes_the_connection(log: AuditLog) -> None:
    with running(log, limits=syslog.Limits(max_message=4096)) as (srvs, _):
        with socket.create_connection(("127.0.0.1", srvs["tcp"].port)) as s:
            s.sendall(frame(DOCKER_LINE) + b"5000 <13>1 - - - - - - " + b"z" * 5000 + frame(DOCKER_LINE))
            s.settimeout(10)
            with suppress(ConnectionResetError):
                assert s.recv(1) == b""  # closed by the server
        rows = wait_for(log, 2)
    assert [r["type"] for r in rows] == ["syslog", "syslog.malformed"]  # the frame after it was not read
    assert "5000 octets exceeds the limit of 4096" in rows[1]["payload"]["error"]
    assert rows[1]["payload"]["size"] == 5000


def test_garbage_on_the_stream_is_recorded(log: AuditLog) -> None:
    with running(log) as (srvs, _):
        with socket.create_connection(("127.0.0.1", srvs["tcp"].port)) as s:
            s.sendall(b"\x16\x03\x01\x00\xa5binary")
        rows = wait_for(log, 1)
    assert rows[0]["type"] == "syslog.malformed" and "neither an octet count" in rows[0]["payload"]["error"]
    assert base64.b64decode(rows[0]["payload"]["raw_b64"]) == b"\x16\x03\x01\x00\xa5binary"


def test_connection_limit(log: AuditLog) -> None:
    with running(log, limits=syslog.Limits(max_connections=1)) as (srvs, reg):
        with socket.create_connection(("127.0.0.1", srvs["tcp"].port)) as first:
            first.sendall(DOCKER_LINE)
            wait_for(log, 1)
            with socket.create_connection(("127.0.0.1", srvs["tcp"].port)) as second:
                second.settimeout(10)
                with suppress(ConnectionResetError):
                    assert second.recv(1) == b""
            first.sendall(DOCKER_LINE)
            rows = wait_for(log, 2)
        assert reg.get_sample_value("mamori_syslog_connections_total",
                                    {"listener": "syslog-tcp", "result": "refused"}) == 1
    assert len(rows) == 2


@pytest.mark.parametrize("how", ["rate", "busy"])
def test_back_pressure_delays_but_drops_nothing(log: AuditLog, how: str) -> None:
    n = 300
    kwargs: dict[str, Any] = {"rate": 100.0} if how == "rate" else {"writer": GroupWriter(log, max_pending=7)}
    lines = b"".join(frame(b"<13>1 - h app - - - msg %d" % i) for i in range(n))
    with running(log, **kwargs) as (srvs, reg):
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", srvs["tcp"].port)) as s:
            s.sendall(lines)
        rows = wait_for(log, n, timeout=30)
        took = time.monotonic() - t0
        assert (reg.get_sample_value("mamori_syslog_waits_total", {"reason": how}) or 0) > 0
    assert [r["payload"]["msg"] for r in rows] == [f"msg {i}" for i in range(n)]  # all of them, in order
    if how == "rate":
        assert took > 0.5  # 300 messages at 100/s with a burst of 200


def test_util_linux_logger_octet_counting(log: AuditLog) -> None:
    """An independent RFC 5424 client: util-linux logger(1) with --octet-count over TCP."""
    logger = shutil.which("logger")
    if logger is None:
        components.unavailable("util-linux logger(1)", "not installed")
    with running(log) as (srvs, _):
        r = subprocess.run([logger, "--tcp", "--octet-count", "--rfc5424", "-n", "127.0.0.1", "-P",
                            str(srvs["tcp"].port), "-t", "backup", "--msgid", "DONE", "--sd-id", "job@32473",
                            "--sd-param", 'name="nightly \\"full\\""', "backup finished"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        rows = wait_for(log, 1)
    p = rows[0]["payload"]
    assert rows[0]["type"] == "syslog" and p["app_name"] == "backup" and p["msgid"] == "DONE"
    assert p["msg"] == "backup finished" and p["sd"]["job@32473"] == {"name": 'nightly "full"'}
    assert len(rows[0]["time"]) == 27 and rows[0]["time"].endswith("Z")  # logger sends microseconds


@pytest.mark.parametrize("raw", [
    DOCKER_LINE,
    b'<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - [a@32473 k="v\\"w" k="2"][b@1] caf\xc3\xa9',
    b"<0>1 - - - - - -",
    b"<13>1 - h app - - - \xef\xbb\xbfbom \x00 and control \x1b[31m",
    b"<13>1 2026-02-28T23:59:59.999999Z h a b a - bytes \xff\xfe",
])
def test_to_entry_is_what_new_entry_builds(raw: bytes) -> None:
    """The collector's fast path builds exactly the entry the generic validator would."""
    from mamori.audit.entry import new_entry
    from mamori.audit.syslog5424 import parse

    e, ok = syslog.to_entry(raw, "cert:CN=x", "127.0.0.1:5", "tls")
    m = parse(raw)
    payload = {**m.payload(), "peer": "127.0.0.1:5", "transport": "tls"}
    obj: dict[str, Any] = {"type": "syslog", "payload": payload, "time": m.timestamp,
                           "container": m.app_name if m.app_name == m.msgid else None}
    assert ok and e == new_entry({k: v for k, v in obj.items() if v is not None}, "cert:CN=x")


def test_oversized_entry_after_escaping_is_recorded_as_malformed() -> None:
    raw = b"<13>1 - - - - - - " + b"\x01" * 30_000  # 6 JSON octets per control character
    e, ok = syslog.to_entry(raw, "unauthenticated:127.0.0.1", "127.0.0.1:5", "tcp")
    assert not ok and e.type == "syslog.malformed" and "exceed" in e.payload["error"]
    assert e.payload["size"] == len(raw) and e.payload["truncated"]


@pytest.mark.parametrize("uvloop", [False, True])
def test_sender_closing_while_pushed_back_loses_nothing_over_tls(tmp_path: Path, log: AuditLog, uvloop: bool) -> None:
    """uvloop's own TLS transport drops what is buffered when the peer closes while reading is paused."""
    server, client, _ = tls_pair(tmp_path, mtls=True)
    n = 12_000
    data = b"".join(frame(b"<13>1 - h app - - - m%d" % i) for i in range(n))
    with running(log, tls=server, rate=4000.0, uvloop=uvloop) as (srvs, reg):
        send_tls(srvs["tls"].port, client, data)  # returns once the kernel has it; then closes at once
        rows = wait_for(log, n, timeout=60)
        assert (reg.get_sample_value("mamori_syslog_waits_total", {"reason": "rate"}) or 0) > 0
    assert len(rows) == n and rows[-1]["payload"]["msg"] == f"m{n - 1}"
    assert not [r for r in rows if r["type"] != "syslog"]


class _FailingLog:
    """An audit store whose every append fails (a full disk, a lost database)."""

    def append(self, entries: list[Any]) -> list[int]:
        raise OSError("disk full")


def test_store_failure_closes_the_connection_and_is_counted(log: AuditLog) -> None:
    w = GroupWriter(_FailingLog())  # type: ignore[arg-type]
    with running(log, writer=w) as (srvs, reg):
        with socket.create_connection(("127.0.0.1", srvs["tcp"].port)) as s:
            s.sendall(DOCKER_LINE * 3)
            s.settimeout(10)
            with suppress(ConnectionResetError):
                assert s.recv(1) == b""  # the sender sees the break
        deadline = time.monotonic() + 10
        while not reg.get_sample_value("mamori_syslog_messages_total", {"result": "failed"}):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert reg.get_sample_value("mamori_syslog_messages_total", {"result": "stored"}) is None


@pytest.mark.parametrize(("args", "why"), [
    (["--syslog-tcp", "127.0.0.1:6601"], "add --audit-db"),
    (["--audit-db", "default", "--syslog-tls", "127.0.0.1:6514"], "--syslog-tls needs --tls-cert"),
    (["--audit-db", "default", "--syslog-tcp", "nowhere"], "is not HOST:PORT"),
    (["--audit-db", "default", "--syslog-tcp", "127.0.0.1:601", "--syslog-max-message", "100"], "2048"),
])
def test_serve_refuses_incomplete_syslog_options(args: list[str], why: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from mamori.cli.main import cli

    monkeypatch.setenv("MAMORI_HOME", str(tmp_path))
    r = CliRunner().invoke(cli, ["serve", "--no-config", "--no-webhook", "--no-record", *args])
    assert r.exit_code == 2 and why in r.output, r.output


def test_serve_says_when_the_syslog_port_is_taken(tmp_path: Path) -> None:
    import os
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "mamori.cli.main", "serve", "--no-config", "--no-webhook",
                            "--no-record", "--audit-db", f"sqlite:///{tmp_path / 'a.db'}", "--syslog-tcp",
                            f"127.0.0.1:{port}"], env={**os.environ, "MAMORI_HOME": str(tmp_path)},
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot listen" in r.stderr and "Traceback" not in r.stderr, r.stderr


def _cert(subject: list[Any], san: list[Any]) -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(x509.Name(subject)).issuer_name(x509.Name(subject))
         .public_key(key.public_key()).serial_number(1).not_valid_before(now)
         .not_valid_after(now + dt.timedelta(days=1)))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_certificate_identities() -> None:
    import hashlib

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cn = x509.NameAttribute(NameOID.COMMON_NAME, "node-4")
    assert syslog.cert_identity(_cert([cn], [x509.DNSName("node-4.example")])) == "cert:CN=node-4"
    assert syslog.cert_identity(_cert([], [x509.UniformResourceIdentifier("spiffe://c/ns/a")])) == \
        "cert:URI:spiffe://c/ns/a"
    assert syslog.cert_identity(_cert([], [x509.DNSName("node-5.example")])) == "cert:DNS:node-5.example"
    odd = _cert([x509.NameAttribute(NameOID.COMMON_NAME, "nœud\x7f")], [])
    assert syslog.cert_identity(odd) == f"cert:sha256:{hashlib.sha256(odd).hexdigest()}"
