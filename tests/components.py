"""What a test does when a real component (a daemon, a database) cannot start.

Under ``CI=true`` the component is part of the contract and its absence fails the test;
on a developer machine without it, the test is skipped with the reason.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

CI = os.environ.get("CI") == "true"


def unavailable(component: str, reason: str) -> NoReturn:
    if CI:
        pytest.fail(f"{component} unavailable under CI: {reason}")
    pytest.skip(f"{component} unavailable: {reason}")  # not under CI: the branch above fails instead
