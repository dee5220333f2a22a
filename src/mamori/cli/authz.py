"""``mamori authz``: install the Docker authorization plugin (placeholder, filled by the AuthZ work)."""

from __future__ import annotations

import click


@click.group()
def authz() -> None:
    """Docker Engine authorization plugin."""
