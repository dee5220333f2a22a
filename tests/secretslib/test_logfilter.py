"""RedactingFilter: known values and secret-looking strings never reach a handler."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from mamori.secrets import DirectorySource, RedactingFilter, SecretStore, fingerprint, install, redact

KNOWN = "pl4nted-l0g-secret-4d1e"
GITHUB = "ghp_" + "R8x2Lq9Vt4Mz7Nw1Kc5Pb3Hy6Jd0Fs2Ga8Ue"
AWS = "AKIA" + "Q3X7ZL2M5KT4WB6N"


@pytest.fixture
def logged(tmp_path) -> Iterator[tuple[logging.Logger, io.StringIO]]:  # type: ignore[no-untyped-def]
    (tmp_path / "db-password").write_text(KNOWN)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    with SecretStore([DirectorySource(str(tmp_path))]) as store:
        secret = store.get("db-password")
        yield logger, stream
        secret.close()
    logger.removeHandler(handler)


def test_known_value_in_message_and_args(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = logged
    logger.info(f"plain {KNOWN} in the message")
    logger.info("as an arg: %s, and in a dict %r", KNOWN, {"pw": KNOWN})
    text = out.getvalue()
    assert KNOWN not in text
    assert text.count(f"[REDACTED {fingerprint(KNOWN)}]") == 3


def test_exception_text_and_stack(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = logged
    try:
        raise ValueError(f"cannot connect to postgres://app:{KNOWN}@db/app")
    except ValueError:
        logger.exception("connect failed")
    logger.info("with stack", stack_info=True)
    text = out.getvalue()
    assert "Traceback" in text and "ValueError" in text and KNOWN not in text


def test_detector_formats_and_secret_named_pairs(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = logged
    logger.warning("token %s key %s", GITHUB, AWS)
    logger.warning("config: password=hunter2hunter2 user=alice api_key: 'Zq81LmX0pT'")
    text = out.getvalue()
    for value in (GITHUB, AWS, "hunter2hunter2", "Zq81LmX0pT"):
        assert value not in text
    assert "user=alice" in text  # not a secret name: left alone


def test_ordinary_text_unchanged() -> None:
    assert redact("GET /healthz 200 in 3 ms") == "GET /healthz 200 in 3 ms"


def test_install_on_root_handlers_and_bad_format_string() -> None:
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    try:
        install()
        install()  # idempotent
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logging.getLogger("x.y").error("broken %d format", "not-a-number", GITHUB)
    finally:
        root.removeHandler(handler)
    assert GITHUB not in stream.getvalue()


def test_bounded_work_on_huge_messages() -> None:
    text = redact("a" * (1 << 20))
    assert len(text) < 300_000 and text.endswith("[truncated]")
