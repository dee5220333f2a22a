"""Rule modules, one per CSA area; importing a module registers its rules."""

from __future__ import annotations

import importlib
import pkgutil

_LOADED = False
_INFRA = {"registry", "index", "common"}


def load_all() -> None:
    """Import every rule module of this package once (new modules need no registration)."""
    global _LOADED
    if _LOADED:
        return
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name not in _INFRA and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _LOADED = True
