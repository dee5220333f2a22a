"""What an image inventory holds: the OS release and packages, each traced to its layer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class OsRelease:
    id: str
    version_id: str = ""
    pretty_name: str = ""
    codename: str = ""
    id_like: tuple[str, ...] = ()
    path: str = ""

    @property
    def distro(self) -> str:
        """The purl ``distro=`` qualifier, Syft style: ``debian-12``, ``alpine-3.19.1``."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True, slots=True)
class Package:
    type: str  # deb, apk, rpm, pypi, npm, golang, maven
    name: str
    version: str
    purl: str
    location: str  # the database or metadata file it was read from
    layer: int | None  # 0-based layer index
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    licenses: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    owner: str | None = None  # the OS package (``deb:python3-six``) whose file list holds ``location``


@dataclass
class Inventory:
    os: OsRelease | None = None
    packages: list[Package] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # databases found but not read, partial reads

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.packages:
            out[p.type] = out.get(p.type, 0) + 1
        return dict(sorted(out.items()))
