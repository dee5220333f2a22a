"""RFC 6587 / 5425 framing: octet counting and LF, split reads, oversize and garbage."""

from __future__ import annotations

import random

import pytest

from mamori.server.syslogframe import Framer

MSGS = [b"<13>1 - - - - - - one", b"<13>1 - - - - - - two with\nan embedded LF", b"<13>1 - - - - - - " + b"x" * 300]


def octets(msgs: list[bytes]) -> bytes:
    return b"".join(b"%d %s" % (len(m), m) for m in msgs)


def feed_in_pieces(f: Framer, data: bytes, rng: random.Random) -> list[bytes]:
    out: list[bytes] = []
    i = 0
    while i < len(data):
        n = rng.randint(1, 40)
        frames, err = f.feed(data[i:i + n])
        assert err is None
        out += frames
        i += n
    return out


@pytest.mark.parametrize("seed", range(20))
def test_octet_counting_survives_any_split(seed: int) -> None:
    f = Framer(1024)
    assert feed_in_pieces(f, octets(MSGS * 3), random.Random(seed)) == MSGS * 3
    assert f.mode == "octet" and f.pending == 0 and f.finish() == ([], None)


@pytest.mark.parametrize("seed", range(10))
def test_lf_framing_survives_any_split(seed: int) -> None:
    lines = [m.replace(b"\n", b" ") for m in MSGS]
    data = b"\n".join(lines) + b"\r\n\n" + b"<14>1 - - - - - - last without LF"
    f = Framer(1024)
    got = feed_in_pieces(f, data, random.Random(seed))
    assert got == lines  # CR before the LF dropped, the empty line skipped
    assert f.mode == "lf" and f.finish() == ([b"<14>1 - - - - - - last without LF"], None)


def test_octet_frame_may_carry_a_line_feed() -> None:
    assert Framer(100).feed(octets([b"<13>1 - - - - - - a\n", b"<13>1 - - - - - - b"]))[0][0].endswith(b"a\n")


def test_oversize_octet_frame_is_refused_before_reading_it() -> None:
    f = Framer(100)
    frames, err = f.feed(octets([b"<13>1 - - - - - - ok"]) + b"101 <13>1 ")
    assert frames == [b"<13>1 - - - - - - ok"]
    assert err is not None and "101 octets exceeds the limit of 100" in err.reason and err.size == 101
    assert err.raw.startswith(b"101 <13>1")
    assert f.feed(b"anything") == ([], err)  # the connection is done


def test_oversize_line_is_refused_without_waiting_for_its_end() -> None:
    f = Framer(100)
    frames, err = f.feed(b"<13>1 - - - - - - ok\n<13>" + b"y" * 200)
    assert frames == [b"<13>1 - - - - - - ok"] and err is not None and "without a line feed" in err.reason
    assert err.raw == b"<13>" + b"y" * 200 and err.size == 204
    f = Framer(10)
    frames, err = f.feed(b"<13>1 0123456789\n")
    assert frames == [] and err is not None and "of 16 octets" in err.reason


@pytest.mark.parametrize(("data", "why"), [
    (b"GET / HTTP/1.1\r\n", "neither an octet count"),
    (b"\x16\x03\x01\x02\x00", "neither an octet count"),  # a TLS ClientHello on the plain port
    (b"0 <13>1", "neither an octet count"),
    (b"12x <13>1", "bad octet count"),
    (b"12345678901 <13>", "expected an octet count"),
    (b"123456789012", "expected an octet count"),
    (b"5 <13>1<13>1", "expected an octet count"),  # a frame's count does not match: what follows is not a count
])
def test_garbage_is_a_fatal_framing_error(data: bytes, why: str) -> None:
    frames, err = Framer(1024).feed(data)
    assert frames == [] or len(frames) == 1
    assert err is not None and why in err.reason


def test_stream_ending_inside_an_octet_frame() -> None:
    f = Framer(100)
    assert f.feed(b"30 <13>1 - - -") == ([], None)
    frames, err = f.finish()
    assert frames == [] and err is not None and "ended inside a frame" in err.reason and err.raw == b"30 <13>1 - - -"
