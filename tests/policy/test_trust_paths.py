"""Relative paths under ``trust.signatures`` are relative to the policy file, not the working directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mamori.policy.config import ConfigError, load_policy
from tests.sign.gpgkeys import make_key


def test_gpg_keyring_and_lookaside_resolve_next_to_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = make_key("policy-paths")
    try:
        conf = tmp_path / "conf"
        (conf / "sigs").mkdir(parents=True)
        shutil.copy(key.public, conf / "release.gpg")
        (conf / "mamori.yaml").write_text("trust:\n  signatures:\n    gpg-keyring: release.gpg\n"
                                          "    lookaside: sigs\n")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        policy = load_policy(str(conf / "mamori.yaml"))  # would fail to read ./release.gpg from here
        assert policy.image_trust is not None
        os.remove(conf / "release.gpg")
        with pytest.raises(ConfigError, match=r"cannot read GPG keyring .*/conf/release\.gpg"):
            load_policy(str(conf / "mamori.yaml"))
    finally:
        key.stop()
