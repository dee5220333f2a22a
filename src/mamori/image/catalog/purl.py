"""Package URLs via packageurl-python, with the distro qualifier scanners expect."""

from __future__ import annotations

import re

from packageurl import PackageURL

from mamori.image.catalog.model import OsRelease


def make(type_: str, name: str, version: str | None, namespace: str | None = None,
         qualifiers: dict[str, str] | None = None) -> str:
    q = {k: v for k, v in (qualifiers or {}).items() if v}
    return str(PackageURL(type=type_, namespace=namespace or None, name=name, version=version or None,
                          qualifiers=q or None).to_string())


def os_qualifiers(os: OsRelease | None, arch: str | None, **extra: str | None) -> dict[str, str]:
    q = {"arch": arch or "", "distro": os.distro if os else ""}
    q.update({k: v for k, v in extra.items() if v})
    return q


def pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
