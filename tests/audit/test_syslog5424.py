"""The RFC 5424 parser: the RFC's own examples, structured-data escapes, NILVALUEs and bad input."""

from __future__ import annotations

import base64

import pytest

from mamori.audit.syslog5424 import BOM, SyslogError, parse, parse_timestamp


def test_rfc5424_example_1_bom_message_and_nil_sd() -> None:
    m = parse(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - " + BOM
              + b"'su root' failed for lonvick on /dev/pts/8")
    assert (m.facility, m.severity) == (4, 2)  # auth, critical
    assert m.timestamp == "2003-10-11T22:14:15.003000Z"
    assert (m.hostname, m.app_name, m.procid, m.msgid) == ("mymachine.example.com", "su", None, "ID47")
    assert m.sd == () and m.msg_bom and m.msg == "'su root' failed for lonvick on /dev/pts/8"


def test_rfc5424_example_2_offset_is_normalised_to_utc() -> None:
    m = parse(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.")
    assert (m.facility, m.severity) == (20, 5)
    assert m.timestamp == "2003-08-24T12:14:15.000003Z" and m.timestamp_raw == "2003-08-24T05:14:15.000003-07:00"
    assert m.procid == "8710" and m.msgid is None and not m.msg_bom
    assert m.msg == "%% It's time to make the do-nuts."


def test_rfc5424_examples_3_and_4_structured_data() -> None:
    m = parse(b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
              b'eventSource="Application" eventID="1011"] ' + BOM + b"An application event log entry...")
    assert m.sd == (("exampleSDID@32473", (("iut", "3"), ("eventSource", "Application"), ("eventID", "1011"))),)
    assert m.msg == "An application event log entry..."
    m = parse(b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
              b'eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]')
    assert m.msg is None
    assert m.payload()["sd"] == {"exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
                                 "examplePriority@32473": {"class": "high"}}


def test_reference_example_and_payload_shape() -> None:
    m = parse(b'<108>1 2025-01-01T12:00:00.123456Z node1 mamori 4711 DENY [mamori@32473 rule="5.5" ctr="abc"] '
              b"privileged container denied")
    p = m.payload()
    assert p == {"facility": 13, "severity": 4, "timestamp": "2025-01-01T12:00:00.123456Z", "hostname": "node1",
                 "app_name": "mamori", "procid": "4711", "msgid": "DENY",
                 "sd": {"mamori@32473": {"rule": "5.5", "ctr": "abc"}}, "msg": "privileged container denied"}


def test_sd_escapes_and_repeated_params() -> None:
    m = parse(rb'<13>1 - - - - - [x@1 a="q\"b\\s\]e" b="back\slash\n" a="two" e=""]')
    assert m.sd == (("x@1", (("a", 'q"b\\s]e'), ("b", "back\\slash\\n"), ("a", "two"), ("e", ""))),)
    assert m.payload()["sd"]["x@1"]["a"] == ['q"b\\s]e', "two"]
    # an unescaped ']' inside quotes is part of the value: the quote delimits it
    assert parse(b'<13>1 - - - - - [x@1 a="]"] m').sd == (("x@1", (("a", "]"),)),)
    assert parse('<13>1 - - - - - [x@1 a="日本"]'.encode()).sd[0][1][0][1] == "日本"


def test_all_nilvalues() -> None:
    m = parse(b"<0>1 - - - - - -")
    assert (m.facility, m.severity, m.timestamp, m.hostname, m.app_name, m.procid, m.msgid, m.sd, m.msg) == (
        0, 0, None, None, None, None, None, (), None)
    assert parse(b"<191>1 - - - - - - ").msg == ""  # SP then an empty MSG


def test_trailing_line_feed_is_not_part_of_msg() -> None:
    assert parse(b"<30>1 - vm app 1 app - hello\n").msg == "hello"
    assert parse(b"<30>1 - vm app 1 app - hello\r\n").msg == "hello"
    assert parse(b"<30>1 - vm app 1 app - two\n\n").msg == "two\n"


def test_msg_any_octets_are_kept_exactly() -> None:
    m = parse(b"<30>1 - - - - - - caf\xe9 \x00end")
    assert m.msg == "caf\ufffd \x00end" and m.msg_raw == b"caf\xe9 \x00end"
    assert base64.b64decode(m.payload()["msg_b64"]) == b"caf\xe9 \x00end"


@pytest.mark.parametrize(("ts", "utc"), [
    (b"1985-04-12T23:20:50.52Z", "1985-04-12T23:20:50.520000Z"),
    (b"1985-04-12T19:20:50.52-04:00", "1985-04-12T23:20:50.520000Z"),
    (b"2026-11-26T16:27:52Z", "2026-11-26T16:27:52.000000Z"),
    (b"2026-01-01T00:30:00.5+01:00", "2025-12-31T23:30:00.500000Z"),
])
def test_timestamps_normalise_to_utc_microseconds(ts: bytes, utc: str) -> None:
    assert parse_timestamp(ts) == utc


@pytest.mark.parametrize(("ts", "why"), [
    (b"2003-08-24T05:14:15.000000003-07:00", "not RFC 3339"),  # RFC 5424 6.5 example 5: > 6 fraction digits
    (b"2003-08-24t05:14:15Z", "not RFC 3339"),  # lowercase t
    (b"2003-08-24T05:14:15z", "not RFC 3339"),
    (b"2003-08-24T05:14:15", "not RFC 3339"),  # no offset
    (b"1990-12-31T23:59:60Z", "leap seconds"),
    (b"2003-02-30T05:14:15Z", "not a valid date"),
    (b"Oct 11 22:14:15", "not RFC 3339"),
])
def test_bad_timestamps(ts: str, why: str) -> None:
    with pytest.raises(SyslogError, match=why):
        parse_timestamp(ts)  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "why"), [
    (b"", "PRI"),
    (b"hello", "PRI"),
    (b"<192>1 - - - - - -", "outside 0-191"),
    (b"<013>1 - - - - - -", "leading zero"),
    (b"<13>Oct 11 22:14:15 host su: msg", "RFC 3164"),
    (b"<13>2 - - - - - -", "VERSION 2"),
    (b"<13>1  - - - - -", "TIMESTAMP"),
    (b"<13>1 - - - - -", "space after MSGID"),
    (b"<13>1 - host", "space after HOSTNAME"),
    (b"<13>1 - " + b"h" * 256 + b" - - - -", "HOSTNAME"),
    (b"<13>1 - h\xc3\xa9 - - - -", "HOSTNAME"),
    (b"<13>1 - - - - - x", "STRUCTURED-DATA"),
    (b"<13>1 - - - - - [x@1", "closing SD-ELEMENT"),
    (b"<13>1 - - - - - [x@1 a=b]", "opening a PARAM-VALUE"),
    (b'<13>1 - - - - - [x@1 a="b]', "unterminated"),
    (b'<13>1 - - - - - [x@1 a="\xff"]', "not valid UTF-8"),
    (b'<13>1 - - - - - [x@1 a]', "expected '='"),
    (b'<13>1 - - - - - [' + b"s" * 33 + b']', "longer than 32"),
    (b'<13>1 - - - - - [x@1][x@1]', "appears twice"),
    (b'<13>1 - - - - - [x@1]junk', "space after STRUCTURED-DATA"),
    (b"<13>1 - - - - - - " + BOM + b"\xff", "BOM but is not valid UTF-8"),
])
def test_bad_messages_say_why(raw: bytes, why: str) -> None:
    with pytest.raises(SyslogError, match=why):
        parse(raw)


def test_lenient_header_lengths_for_docker_tags() -> None:
    cid = "a" * 64  # --log-opt tag={{.FullID}} puts 64 characters in APP-NAME and MSGID
    m = parse(f"<30>1 - vm {cid} 1 {cid} - x".encode())
    assert m.app_name == cid == m.msgid


@pytest.mark.parametrize("raw", [
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - " + BOM + b"'su root' failed",
    b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time",
    b'<165>1 2003-10-11T22:14:15.003Z host evntslog - ID47 [exampleSDID@32473 iut="3"][p@1 class="high"]',
    b"<30>1 2026-11-26T16:27:52.213557Z vm 74cd112cb720 20563 74cd112cb720 - hello one\n",
    b"<0>1 - - - - - -",
    b"<191>1 1985-04-12T23:20:50.52Z - - - - - x",
])
def test_fast_header_path_agrees_with_the_field_parser(raw: bytes) -> None:
    from mamori.audit.syslog5424 import _parse_fields

    assert parse(raw) == _parse_fields(raw)


@pytest.mark.parametrize("raw", [
    b"<13>1 2026-11-26T25:00:00.000000Z - - - - -",  # the pre-normalised shortcut still checks the time
    b"<13>1 2026-02-30T10:00:00.000000Z - - - - -",
])
def test_fast_path_still_checks_the_time(raw: bytes) -> None:
    with pytest.raises(SyslogError, match="not a valid date"):
        parse(raw)
