"""The typed domain model. It imports nothing from the rest of mamori and does no I/O."""

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

__all__ = [
    "Build", "Command", "Container", "DockerHost", "EnvVar", "Finding", "Health", "HostFile", "Identity", "ImageRef",
    "InputError", "Instruction", "Loc", "Location", "Mount", "Port", "Resources", "Role",
    "ScanSet", "Severity", "Skipped", "SourceKind", "Stage", "Suppressed", "Suppression",
    "Sysctl", "Val", "Volume", "Workload",
]
