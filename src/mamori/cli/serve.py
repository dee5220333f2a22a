"""``mamori serve`` and ``mamori decisions`` (being written)."""

from __future__ import annotations

import click


@click.command()
def serve() -> None:
    """Run the enforcement endpoints."""


@click.command()
def decisions() -> None:
    """Show recorded enforcement decisions."""
