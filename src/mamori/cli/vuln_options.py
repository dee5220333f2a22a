"""Click options of vulnerability reports, shared by ``mamori vuln scan`` and ``mamori image scan --vulns``.

A module of its own so that ``cli.image`` and ``cli.vuln`` can both use them without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

db_option = click.option("--db", "db_url", metavar="URL", envvar="MAMORI_DB",
                         help="Advisory database: SQLAlchemy URL (default: SQLite under $MAMORI_HOME; "
                              "postgresql://... to share).")


def vuln_filter_options(fn: F) -> F:
    """``--ignore-unfixed`` and ``--ignore-file``: what a report leaves out, and why."""
    fn = click.option("--ignore-file", type=click.Path(dir_okay=False, exists=True),
                      help="YAML ignore list (id, reason, optional package and expires) or an OpenVEX document.")(fn)
    return click.option("--ignore-unfixed", is_flag=True,
                        help="Report only vulnerabilities with a fixed version available.")(fn)
