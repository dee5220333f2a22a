"""The typed domain model. It imports nothing from the rest of mamori and does no I/O.

Names are loaded on first use (PEP 562), so a command that needs only ``Severity`` (``mamori image
sbom`` through the CLI's option lists) does not pay ~60 ms for building every model dataclass.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mamori.model.build import Build, Command, Instruction, Stage
    from mamori.model.core import Loc, Severity, SourceKind, Val
    from mamori.model.finding import Finding, Location, Suppressed
    from mamori.model.host import DockerHost, HostFile
    from mamori.model.scanset import InputError, ScanSet, Skipped, Suppression
    from mamori.model.workload import (
        Container,
        EnvVar,
        Health,
        Identity,
        ImageRef,
        Mount,
        Port,
        Resources,
        Role,
        Sysctl,
        Volume,
        Workload,
    )

_WHERE = {
    "build": ("Build", "Command", "Instruction", "Stage"),
    "core": ("Loc", "Severity", "SourceKind", "Val"),
    "finding": ("Finding", "Location", "Suppressed"),
    "host": ("DockerHost", "HostFile"),
    "scanset": ("InputError", "ScanSet", "Skipped", "Suppression"),
    "workload": ("Container", "EnvVar", "Health", "Identity", "ImageRef", "Mount", "Port", "Resources", "Role",
                 "Sysctl", "Volume", "Workload"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "Build", "Command", "Container", "DockerHost", "EnvVar", "Finding", "Health", "HostFile", "Identity", "ImageRef",
    "InputError", "Instruction", "Loc", "Location", "Mount", "Port", "Resources", "Role",
    "ScanSet", "Severity", "Skipped", "SourceKind", "Stage", "Suppressed", "Suppression",
    "Sysctl", "Val", "Volume", "Workload",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'mamori.model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mamori.model.{module}"), name)
    globals()[name] = value
    return value
