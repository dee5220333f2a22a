"""``mamori admission``: Kubernetes admission helpers (placeholder, filled by the admission work)."""

from __future__ import annotations

import click


@click.group()
def admission() -> None:
    """Kubernetes admission webhook."""
