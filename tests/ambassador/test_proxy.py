"""The ambassador on loopback with real TLS: who gets in, what flows, and what the records say."""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
from pathlib import Path

import pytest

from mamori.ambassador.conn import READ_SIZE, TlsConn
from mamori.ambassador.identity import AllowList
from tests.ambassador.util import (
    TD,
    Backend,
    Pki,
    Records,
    ambassador,
    answer,
    expired_kw,
    request,
    server_leaf,
    settle,
    tls_halfclose_request,
)

CLIENT_ID = f"spiffe://{TD}/ns/app/sa/client"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


async def _server_case(pki: Pki, allow: AllowList, client_kw: dict[str, object] | None,
                       client_ca: object = None) -> tuple[bytes | BaseException, Records, Backend]:
    """One request from a direct TLS client with the given certificate to a server ambassador."""
    backend = Backend()
    port = await backend.start()
    rec = Records()
    files = None
    if client_kw is not None:
        files = pki.leaf("client", ca=client_ca, **client_kw)  # type: ignore[arg-type]
    async with ambassador("server", server_leaf(pki), f"127.0.0.1:{port}", allow, rec) as amb:
        assert amb.bound is not None and amb.bound.port
        out: bytes | BaseException
        try:
            out = await request(amb.bound.port, b"ping" * 100, pki.client_ctx(files), "localhost")
        except (OSError, ssl.SSLError) as exc:
            out = exc
        await settle(amb)
    backend.close()
    return out, rec, backend


_LOOP = {"kind": "asyncio"}


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    """Every case on both event loops: uvloop is what the CLI runs, asyncio what a library user may have."""
    _LOOP["kind"] = request.param
    return str(request.param)


def run(coro):  # type: ignore[no-untyped-def]
    if _LOOP["kind"] == "uvloop":
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def test_allowed_uri_exact_and_flow_records(pki: Pki) -> None:
    out, rec, backend = run(_server_case(pki, AllowList.build(uris=(CLIENT_ID,)), {"spiffe": CLIENT_ID}))
    payload = b"LEN 400\n" + b"ping" * 100
    assert out == answer(b"ping" * 100)
    assert backend.connections == 1
    docs = rec.all()
    assert [d["event"]["type"][1] for d in docs] == ["start", "end"]
    start, end = docs
    assert start["event"]["id"] == end["event"]["id"]
    assert end["event"]["outcome"] == "success" and end["mamori"]["ambassador"]["result"] == "allowed"
    assert end["mamori"]["ambassador"]["peer_spiffe_id"] == CLIENT_ID
    assert CLIENT_ID in end["tls"]["client"]["x509"]["alternative_names"]
    assert end["tls"]["version"] in ("1.2", "1.3") and end["tls"]["established"] is True
    assert end["source"]["bytes"] == len(payload)
    assert end["destination"]["bytes"] == len(answer(b"ping" * 100))
    assert end["network"]["bytes"] == end["source"]["bytes"] + end["destination"]["bytes"]
    assert end["event"]["duration"] > 0 and end["event"]["end"] >= end["event"]["start"]
    assert end["source"]["ip"] == "127.0.0.1" and end["destination"]["port"] > 0
    assert "matches" in end["event"]["reason"]


def test_bytes_metric_counts_open_and_ended_connections(pki: Pki) -> None:
    """mamori_ambassador_bytes_total is read from the flows at scrape time: live bytes, then the ended ones."""
    from prometheus_client import generate_latest

    def scraped(amb: object, direction: str) -> float:
        text = generate_latest(amb.metrics.registry).decode()  # type: ignore[attr-defined]
        key = f'mamori_ambassador_bytes_total{{direction="{direction}",mode="server"}} '
        return float(next(line for line in text.splitlines() if line.startswith(key)).split()[-1])

    async def go() -> None:
        backend = Backend()
        port = await backend.start()
        rec = Records()
        async with ambassador("server", server_leaf(pki), f"127.0.0.1:{port}", AllowList.build(uris=(CLIENT_ID,)),
                              rec) as srv:
            ctx = pki.client_ctx(pki.leaf("client", spiffe=CLIENT_ID))
            _, w = await asyncio.open_connection("127.0.0.1", srv.bound.port, ssl=ctx,  # type: ignore[union-attr]
                                                 server_hostname="localhost")
            w.write(b"LEN 300000\n" + b"x" * 100000)  # a third of the request: the connection stays open
            await w.drain()
            loop = asyncio.get_running_loop()
            end = loop.time() + 5
            while scraped(srv, "in") < 100011 and loop.time() < end:
                await asyncio.sleep(0.01)
            assert scraped(srv, "in") == 100011 and scraped(srv, "out") == 0 and len(srv.active) == 1
            w.close()
            await settle(srv)
            assert not srv.active and scraped(srv, "in") == 100011  # kept after the connection ended
            out = await request(srv.bound.port, b"ping" * 100, ctx, "localhost")  # type: ignore[union-attr]
            await settle(srv)
            assert out == answer(b"ping" * 100)
            assert scraped(srv, "in") == 100011 + len(b"LEN 400\n") + 400
            ends = rec.ends()
            assert len(ends) == 2 and ends[1]["destination"]["bytes"] == len(out)
            assert scraped(srv, "in") == sum(e["source"]["bytes"] for e in ends)
            assert scraped(srv, "out") == sum(e["destination"]["bytes"] for e in ends)
        backend.close()

    run(go())


def test_uri_prefix_allows_and_other_namespace_is_denied(pki: Pki) -> None:
    allow = AllowList.build(uris=(f"spiffe://{TD}/ns/app/*",))
    out, _, _ = run(_server_case(pki, allow, {"spiffe": CLIENT_ID}))
    assert out == answer(b"ping" * 100)
    out, rec, backend = run(_server_case(pki, allow, {"spiffe": f"spiffe://{TD}/ns/other/sa/client"}))
    assert not isinstance(out, bytes) or out == b""
    assert backend.connections == 0  # a denied peer never reaches the application
    (denied,) = rec.all()
    assert denied["event"]["type"] == ["connection", "denied"] and denied["event"]["outcome"] == "failure"
    assert denied["mamori"]["ambassador"]["result"] == "denied"
    assert "ns/other/sa/client" in denied["event"]["reason"] and "not on the allow-list" in denied["event"]["reason"]
    assert denied["source"]["bytes"] == 0


def test_dns_and_subject_allow_lists(pki: Pki) -> None:
    out, _, _ = run(_server_case(pki, AllowList.build(dns=("*.shop.internal",)), {"dns": ("api.shop.internal",)}))
    assert out == answer(b"ping" * 100)
    out, rec, _ = run(_server_case(pki, AllowList.build(dns=("*.shop.internal",)), {"dns": ("api.evil.internal",)}))
    assert not isinstance(out, bytes) or out == b""
    assert rec.ends()[0]["mamori"]["ambassador"]["result"] == "denied"
    out, _, _ = run(_server_case(pki, AllowList.build(subjects=("CN=billing",)), {"cn": "billing"}))
    assert out == answer(b"ping" * 100)
    out, rec, _ = run(_server_case(pki, AllowList.build(subjects=("CN=billing",)), {"cn": "billing2"}))
    assert not isinstance(out, bytes) or out == b""
    assert "CN=billing2" in rec.ends()[0]["event"]["reason"]


def test_expired_wrong_ca_and_missing_certificates_are_denied(pki: Pki, tmp_path: Path) -> None:
    allow = AllowList.build(allow_all=True)
    from mamori.ambassador import svid

    cases = {"expired": ({"spiffe": CLIENT_ID, **expired_kw()}, None, "expired"),
             "wrong CA": ({"spiffe": CLIENT_ID}, svid.new_ca(TD), "issuer"),
             "no cert": (None, None, "certificate")}
    for name, (kw, ca, why) in cases.items():
        out, rec, backend = run(_server_case(pki, allow, kw, ca))
        assert not isinstance(out, bytes) or out == b"", name
        assert backend.connections == 0, name
        (doc,) = rec.all()
        assert doc["mamori"]["ambassador"]["result"] == "denied", (name, doc)
        assert why in doc["event"]["reason"].lower(), (name, doc["event"]["reason"])
        assert doc["tls"]["established"] is False


def test_client_mode_checks_the_server_identity(pki: Pki) -> None:
    async def go() -> None:
        backend = Backend()
        port = await backend.start()
        rec_s, rec_c = Records(), Records()
        client_files = pki.leaf("client", spiffe=CLIENT_ID)
        async with ambassador("server", server_leaf(pki), f"127.0.0.1:{port}", AllowList.build(uris=(CLIENT_ID,)),
                              rec_s) as srv:
            target = f"127.0.0.1:{srv.bound.port}"  # type: ignore[union-attr]
            good = AllowList.build(uris=(f"spiffe://{TD}/ns/web/sa/server",))
            async with ambassador("client", client_files, target, good, rec_c) as cli:
                assert await request(cli.bound.port, b"x" * 1000) == answer(b"x" * 1000)  # type: ignore[union-attr]
                await settle(cli)
            assert rec_c.ends()[-1]["tls"]["server"]["x509"]["alternative_names"][0].endswith("/sa/server")
            bad = AllowList.build(uris=(f"spiffe://{TD}/ns/db/*",))
            async with ambassador("client", client_files, target, bad, rec_c) as cli:
                assert await request(cli.bound.port, b"x" * 10) == b""  # type: ignore[union-attr]
                await settle(cli)
            denied = rec_c.ends()[-1]
            assert denied["mamori"]["ambassador"]["result"] == "denied"
            assert "ns/web/sa/server" in denied["event"]["reason"]
            # no allow-list: the host name is checked, and 127.0.0.1 is not in the server's SANs
            async with ambassador("client", client_files, target, AllowList(), rec_c) as cli:
                assert await request(cli.bound.port, b"x" * 10) == b""  # type: ignore[union-attr]
                await settle(cli)
            assert rec_c.ends()[-1]["mamori"]["ambassador"]["result"] == "denied"
            assert "127.0.0.1" in rec_c.ends()[-1]["event"]["reason"]
            async with ambassador("client", client_files, target, AllowList(), rec_c, server_name="localhost") as cli:
                assert await request(cli.bound.port, b"y" * 10) == answer(b"y" * 10)  # type: ignore[union-attr]
        backend.close()

    run(go())


def _pair(pki: Pki, fn):  # type: ignore[no-untyped-def]
    """Run ``fn(client_port, server_amb, client_amb, backend)`` with app -> client amb -> server amb -> backend."""
    async def go():  # type: ignore[no-untyped-def]
        backend = Backend()
        port = await backend.start()
        rec = Records()
        async with ambassador("server", server_leaf(pki), f"127.0.0.1:{port}", AllowList.build(uris=(CLIENT_ID,)),
                              rec, reload_interval=0.1) as srv, \
                ambassador("client", pki.leaf("client", spiffe=CLIENT_ID), f"127.0.0.1:{srv.bound.port}",
                           AllowList.build(uris=(f"spiffe://{TD}/ns/web/*",)), rec) as cli:
            result = await fn(cli.bound.port, srv, cli, backend)
            await settle(cli)
            await settle(srv)
        backend.close()
        return result, rec

    return run(go())


def test_large_transfer_through_both_modes(pki: Pki) -> None:
    payload = os.urandom(50 * 1024 * 1024)

    async def fn(port, srv, cli, backend):  # type: ignore[no-untyped-def]
        return await request(port, payload, timeout=120)

    out, rec = _pair(pki, fn)
    assert out == answer(payload)
    ends = rec.ends()
    assert len(ends) == 2 and {e["service"]["type"] for e in ends} == {"server", "client"}
    for e in ends:
        assert e["source"]["bytes"] == len(payload), e["service"]["type"]
        assert e["mamori"]["ambassador"]["result"] == "allowed"


def test_half_close_both_directions(pki: Pki) -> None:
    """The backend greets and half-closes first; the app reads to EOF and only then sends its data."""
    async def go() -> None:
        got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def greeter(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"hello, send me data")
            await w.drain()
            w.write_eof()
            got.set_result(await r.read())
            w.close()

        app = await asyncio.start_server(greeter, "127.0.0.1", 0)
        rec = Records()
        async with ambassador("server", server_leaf(pki), f"127.0.0.1:{app.sockets[0].getsockname()[1]}",
                              AllowList.build(uris=(CLIENT_ID,)), rec) as srv, \
                ambassador("client", pki.leaf("client", spiffe=CLIENT_ID), f"127.0.0.1:{srv.bound.port}",  # type: ignore[union-attr]
                           AllowList.build(uris=(f"spiffe://{TD}/ns/web/*",)), rec) as cli:
            r, w = await asyncio.open_connection("127.0.0.1", cli.bound.port)  # type: ignore[union-attr]
            assert await asyncio.wait_for(r.read(), 10) == b"hello, send me data"  # EOF arrived, socket still open
            w.write(b"late data" * 1000)
            await w.drain()
            w.write_eof()
            assert await asyncio.wait_for(got, 10) == b"late data" * 1000
            w.close()
            await settle(cli)
            await settle(srv)
        app.close()
        assert all(e["mamori"]["ambassador"]["result"] == "allowed" for e in rec.ends())

    run(go())


def test_tls_half_close_from_a_direct_client(pki: Pki) -> None:
    """close_notify from the TLS client becomes a FIN to the app, and the answer still comes back."""
    async def go() -> None:
        backend = Backend()
        port = await backend.start()
        rec = Records()
        async with ambassador("server", server_leaf(pki), f"127.0.0.1:{port}", AllowList.build(uris=(CLIENT_ID,)),
                              rec) as srv:
            ctx = pki.client_ctx(pki.leaf("client", spiffe=CLIENT_ID))
            payload = os.urandom(3 * 1024 * 1024 + 17)
            assert await tls_halfclose_request(srv.bound.port, payload, ctx) == answer(payload)  # type: ignore[union-attr]
        backend.close()

    run(go())


def test_fin_without_close_notify_is_recorded_as_unclean(pki: Pki) -> None:
    """A TLS peer that ends with a bare FIN (possible truncation) is flagged; close_notify is not."""
    async def go() -> list[dict[str, object]]:
        backend = Backend()
        port = await backend.start()
        rec = Records()
        async with ambassador("server", server_leaf(pki), f"127.0.0.1:{port}", AllowList.build(uris=(CLIENT_ID,)),
                              rec) as srv:
            ctx = pki.client_ctx(pki.leaf("client", spiffe=CLIENT_ID))
            assert srv.bound is not None and srv.bound.port
            loop = asyncio.get_running_loop()
            _, conn = await loop.create_connection(lambda: TlsConn(ctx, False, "localhost"), "127.0.0.1",
                                                   srv.bound.port)
            await conn.handshake
            conn.write(b"LEN 8\nabcdefgh")
            out = bytearray()
            while chunk := await asyncio.wait_for(conn.read(), 10):
                out += chunk
            assert bytes(out) == answer(b"abcdefgh")
            assert conn.transport is not None
            conn.transport.write_eof()  # FIN, no close_notify
            await settle(srv)
            conn.abort()
            assert await tls_halfclose_request(srv.bound.port, b"xyz", ctx) == answer(b"xyz")  # close_notify
            await settle(srv)
        backend.close()
        return [e["mamori"]["ambassador"] for e in rec.ends()]  # type: ignore[misc]

    first, second = run(go())
    assert first["result"] == "allowed" and first.get("unclean_eof") is True
    assert second["result"] == "allowed" and "unclean_eof" not in second


def test_rotation_while_streaming(pki: Pki) -> None:
    """New files are picked up for new handshakes; a stream started before the rotation survives it."""
    async def fn(port, srv, cli, backend):  # type: ignore[no-untyped-def]
        old_serial = srv.store.current.generation
        r, w = await asyncio.open_connection("127.0.0.1", port)
        h = hashlib.sha256()
        sent = 0
        for i in range(40):
            chunk = os.urandom(64 * 1024)
            w.write(chunk)
            await w.drain()
            h.update(chunk)
            sent += len(chunk)
            if i == 10:
                server_leaf(pki)  # rewrite server.crt/server.key: a new key and certificate
                os.utime(pki.root / "server.crt")
            await asyncio.sleep(0.02)
        assert srv.store.current.generation > old_serial, "the server did not reload"
        # a new connection handshakes with the new certificate while the old stream is still open
        new_out = await request(port, b"n" * 10)
        assert new_out == answer(b"n" * 10)
        w.write_eof()
        out = await asyncio.wait_for(r.read(), 30)
        w.close()
        return out, f"{h.hexdigest()} {sent}".encode(), srv.store.current.subject

    (out, expected, _), rec = _pair(pki, fn)
    assert out == expected
    server_side = [e for e in rec.ends() if e["service"]["type"] == "client"]
    fingerprints = {e["tls"]["server"]["hash"]["sha256"] for e in server_side}
    assert len(fingerprints) == 2, "the second connection should see the rotated server certificate"


def test_idle_timeout_and_max_connections(pki: Pki) -> None:
    async def go() -> None:
        backend = Backend()
        port = await backend.start()
        rec = Records()
        async with ambassador("server", server_leaf(pki), f"127.0.0.1:{port}", AllowList.build(uris=(CLIENT_ID,)),
                              rec, idle_timeout=1.0, max_connections=1) as srv:
            ctx = pki.client_ctx(pki.leaf("client", spiffe=CLIENT_ID))
            r, w = await asyncio.open_connection("127.0.0.1", srv.bound.port, ssl=ctx,  # type: ignore[union-attr]
                                                 server_hostname="localhost")
            w.write(b"LEN 100\n")
            await w.drain()
            await asyncio.sleep(0.1)
            with pytest.raises((OSError, ssl.SSLError, asyncio.IncompleteReadError)):
                r2, w2 = await asyncio.open_connection("127.0.0.1", srv.bound.port, ssl=ctx,  # type: ignore[union-attr]
                                                       server_hostname="localhost")
                w2.write(b"LEN 1\nx")
                if not await r2.read():
                    raise ConnectionResetError("closed")
            assert await asyncio.wait_for(r.read(), 5) == b""  # cut after 1 s without traffic
            w.close()
            await settle(srv)
        backend.close()
        reasons = [e["event"].get("reason", "") for e in rec.ends()]
        assert any("max connections" in x for x in reasons), reasons
        assert any(x == "idle timeout" for x in reasons), reasons

    run(go())


def test_silent_and_garbage_clients_are_cut_at_the_handshake(pki: Pki) -> None:
    async def go() -> None:
        backend = Backend()
        port = await backend.start()
        rec = Records()
        async with ambassador("server", server_leaf(pki), f"127.0.0.1:{port}", AllowList.build(allow_all=True),
                              rec, handshake_timeout=0.3) as srv:
            r1, w1 = await asyncio.open_connection("127.0.0.1", srv.bound.port)  # type: ignore[union-attr]
            r2, w2 = await asyncio.open_connection("127.0.0.1", srv.bound.port)  # type: ignore[union-attr]
            w2.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert await asyncio.wait_for(r1.read(), 5) == b""  # cut by the handshake timeout
            try:
                rest = await asyncio.wait_for(r2.read(), 5)  # an alert, then EOF
            except ConnectionResetError:
                rest = b""
            assert b"HTTP" not in rest
            w1.close()
            w2.close()
            await settle(srv)
        backend.close()
        assert backend.connections == 0
        reasons = sorted(e["event"]["reason"] for e in rec.ends())
        assert len(reasons) == 2 and reasons[0].startswith("handshake failed") and reasons[1] == "handshake timeout"
        assert {e["mamori"]["ambassador"]["result"] for e in rec.ends()} == {"error"}

    run(go())


def test_backpressure_bounds_what_a_stalled_receiver_costs(pki: Pki) -> None:
    """The app behind the server never reads: the sender must block after a bounded amount, not fill memory."""
    async def go() -> int:
        release = asyncio.Event()

        async def stall(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await release.wait()
            w.close()

        app = await asyncio.start_server(stall, "127.0.0.1", 0, limit=16 * 1024)
        rec = Records()
        async with ambassador("server", server_leaf(pki), f"127.0.0.1:{app.sockets[0].getsockname()[1]}",
                              AllowList.build(uris=(CLIENT_ID,)), rec) as srv, \
                ambassador("client", pki.leaf("client", spiffe=CLIENT_ID), f"127.0.0.1:{srv.bound.port}",  # type: ignore[union-attr]
                           AllowList.build(uris=(f"spiffe://{TD}/ns/web/*",)), rec) as cli:
            _, w = await asyncio.open_connection("127.0.0.1", cli.bound.port)  # type: ignore[union-attr]
            sent = 0
            block = os.urandom(256 * 1024)
            w.transport.set_write_buffer_limits(high=256 * 1024)
            while sent < 512 * 1024 * 1024:
                w.write(block)
                sent += len(block)
                try:
                    await asyncio.wait_for(w.drain(), 0.5)
                except TimeoutError:
                    break  # the chain is full: back-pressure reached the sender
            # what each relay holds while stalled: one read's worth above the write high-water mark at most
            for amb in (srv, cli):
                conns = [c for act in amb.active.values() for c in act.conns]
                assert len(conns) == 2
                for c in conns:
                    assert c.transport is not None
                    held = c.transport.get_write_buffer_size() + c._buffered
                    if isinstance(c, TlsConn):
                        held += c._in.pending
                    assert held <= amb.opts.max_buffer + READ_SIZE + 64 * 1024, (amb.opts.mode, type(c), held)
            release.set()
            w.close()
        app.close()
        return sent

    sent = run(go())
    # socket buffers on loopback plus the proxies' bounded buffers: tens of MiB at most, not 512 MiB
    assert sent < 64 * 1024 * 1024, sent


def test_unreachable_target_is_an_error_record(pki: Pki) -> None:
    async def go() -> None:
        closed = Backend()
        port = await closed.start()
        closed.close()  # nothing listens there any more
        await asyncio.sleep(0.05)
        rec = Records()
        async with ambassador("server", server_leaf(pki), f"127.0.0.1:{port}", AllowList.build(uris=(CLIENT_ID,)),
                              rec) as srv:
            out = await request(srv.bound.port, b"x", pki.client_ctx(pki.leaf("client", spiffe=CLIENT_ID)),  # type: ignore[union-attr]
                                "localhost")
            assert out == b""
            await settle(srv)
        (end,) = rec.all()
        assert end["mamori"]["ambassador"]["result"] == "error" and "unreachable" in end["event"]["reason"]
        assert end["mamori"]["ambassador"]["peer_spiffe_id"] == CLIENT_ID  # who tried is still recorded

    run(go())


def test_client_mode_records_the_remote_refusal_of_its_certificate(pki: Pki) -> None:
    """TLS 1.3 finishes the client's handshake before the server checks the client certificate."""
    async def go() -> None:
        backend = Backend()
        port = await backend.start()
        rec_s, rec_c = Records(), Records()
        expired = pki.leaf("client", spiffe=CLIENT_ID, **expired_kw())
        async with ambassador("server", server_leaf(pki), f"127.0.0.1:{port}", AllowList.build(uris=(CLIENT_ID,)),
                              rec_s) as srv, \
                ambassador("client", expired, f"127.0.0.1:{srv.bound.port}",  # type: ignore[union-attr]
                           AllowList.build(uris=(f"spiffe://{TD}/ns/web/*",)), rec_c) as cli:
            assert await request(cli.bound.port, b"x" * 10) == b""  # type: ignore[union-attr]
            await settle(cli)
            await settle(srv)
        backend.close()
        assert backend.connections == 0
        (server_side,) = rec_s.all()
        assert server_side["mamori"]["ambassador"]["result"] == "denied"
        client_end = rec_c.ends()[-1]
        assert client_end["mamori"]["ambassador"]["result"] == "denied", client_end["event"].get("reason")
        assert "refused by the peer" in client_end["event"]["reason"]

    run(go())
