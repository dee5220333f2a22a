"""Keyrings for the crypto tests (scrypt N lowered to 2^14 so each open takes milliseconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.crypto.keyring import Keyring
from mamori.secrets import Secret

PASSPHRASE = "pl4nted-keyring-passphrase-5b9e"


@pytest.fixture
def ring(tmp_path: Path) -> Keyring:
    return Keyring.create(str(tmp_path / "keyring.json"), Secret(PASSPHRASE), n=1 << 14)


@pytest.fixture
def other_ring(tmp_path: Path) -> Keyring:
    return Keyring.create(str(tmp_path / "other.json"), Secret("another passphrase"), n=1 << 14)
