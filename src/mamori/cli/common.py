"""What every command does with a refusal: one line on standard error, exit 2, no traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import NoReturn

import click

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
