"""Fixtures: an audit log in a temporary SQLite store and a checkpoint key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.audit import keys
from mamori.audit.log import AuditLog, open_log
from mamori.audit.note import Ed25519Signer


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    lg = open_log(f"sqlite:///{tmp_path / 'audit.db'}", origin="test.example/audit")
    yield lg
    lg.engine.dispose()


@pytest.fixture
def signer(tmp_path: Path) -> Ed25519Signer:
    return keys.generate(tmp_path / "key.pem", "test-audit")
