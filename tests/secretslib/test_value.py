"""Secret never shows its value: repr, str, formatting, logging, tracebacks, json, pickle, copy."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import traceback

import pytest

from mamori.secrets import Origin, Secret, SecretClosed, SourceKind, fingerprint

VALUE = "pl4nted-S3cret-value-7f3a"


def make() -> Secret:
    return Secret(VALUE, name="db-password", origin=Origin(SourceKind.FILE, "/run/secrets/db-password"))


def test_never_in_repr_str_or_formatting() -> None:
    s = make()
    shown = [repr(s), str(s), f"{s}", f"{s!r}", f"{s:>40}", "%s" % s, "%r" % (s,), "{}".format(s),  # noqa: UP031, UP032
             str([s]), str({"k": s})]
    for text in shown:
        assert VALUE not in text
        assert fingerprint(VALUE) in text
    assert "db-password" in repr(s) and "/run/secrets/db-password" in repr(s)


def test_reveal_is_explicit_and_typed() -> None:
    s = Secret(b"\x00\xffbin", name="k")
    assert s.reveal_bytes() == b"\x00\xffbin"
    assert make().reveal() == VALUE
    assert len(make()) == len(VALUE)


def test_close_wipes_the_buffer_and_refuses_reveal() -> None:
    s = make()
    buf = s._buf  # the one bytearray that held the value
    with s:
        assert s.reveal() == VALUE
    assert s.closed and bytes(buf) == b""
    with pytest.raises(SecretClosed):
        s.reveal()
    assert "closed" in repr(s) and VALUE not in repr(s)


def test_close_overwrites_before_clearing() -> None:
    s = make()
    view = memoryview(s._buf)  # a live export pins the size: clear() then fails, the zeros are what remain
    s.close()
    assert s.closed and set(bytes(view)) <= {0}
    view.release()


def test_json_raises_and_pickle_copy_refuse() -> None:
    s = make()
    with pytest.raises(TypeError) as exc:
        json.dumps({"password": s})
    assert VALUE not in str(exc.value)
    for op in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError) as exc2:
            op(s)
        assert VALUE not in str(exc2.value)


def test_constant_time_equality_and_no_hash() -> None:
    s = make()
    assert s == VALUE and s == VALUE.encode() and s == make() and s != "other"
    with pytest.raises(TypeError):
        hash(s)


def test_logging_and_traceback_locals(caplog: pytest.LogCaptureFixture) -> None:
    s = make()
    with caplog.at_level(logging.INFO):
        logging.getLogger("app").info("connecting with %s and %r", s, s)
    assert VALUE not in caplog.text and fingerprint(VALUE) in caplog.text

    def fail(password: Secret) -> None:
        raise RuntimeError(f"login failed for {password}")

    try:
        fail(s)
    except RuntimeError as exc:
        tb = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    assert "password = Secret(" in tb and VALUE not in tb


def test_oversized_value_refused() -> None:
    with pytest.raises(ValueError) as exc:
        Secret(b"x" * ((1 << 20) + 1), name="big")
    assert "big" in str(exc.value)
