"""What every command does with a refusal: one line on standard error, exit 2, no traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import NoReturn

import click

from mamori.policy.config import Policy

EXIT_ERROR = 2


def fail(message: str) -> NoReturn:
    click.echo(f"mamori: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


@contextlib.contextmanager
def failures_exit(*expected: type[Exception]) -> Iterator[None]:
    """Turn the library's own errors, and file system errors, into :func:`fail`."""
    try:
        yield
    except expected as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}")


def load_cli_policy(config: str | None, no_config: bool, fail_on: str | None = None) -> tuple[Policy, str | None]:
    """The policy a command runs under: ``--config``, else ``.mamori.yaml``/``mamori.yaml`` here
    (unless ``--no-config``), else the defaults; a broken file is one line and exit 2."""
    from dataclasses import replace

    from mamori.model import Severity
    from mamori.policy.config import ConfigError, find_config, load_policy

    path = config or (None if no_config else find_config("."))
    try:
        policy = load_policy(path) if path else Policy()
    except ConfigError as exc:
        click.echo(f"mamori: policy error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    if fail_on:
        policy = replace(policy, fail_on=Severity.parse(fail_on))
    return policy, path
