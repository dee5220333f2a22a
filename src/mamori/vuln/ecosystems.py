"""Canonical ecosystem and package keys, shared by the importer and the matcher so they always agree."""

from __future__ import annotations

import re

# Debian codenames the security tracker uses → the release number OSV uses (``Debian:12``)
DEBIAN_CODENAMES = {
    "wheezy": "7", "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11", "bookworm": "12",
    "trixie": "13", "forky": "14", "duke": "15", "sid": "sid",
}
PURL_ECOSYSTEM = {
    "pypi": "PyPI", "npm": "npm", "golang": "Go", "maven": "Maven", "cargo": "crates.io", "gem": "RubyGems",
    "nuget": "NuGet", "composer": "Packagist", "hex": "Hex", "pub": "Pub",
}
RPM_DISTROS = {"rocky": "Rocky Linux", "almalinux": "AlmaLinux", "rhel": "Red Hat", "opensuse-leap": "openSUSE"}


def canonical_ecosystem(eco: str) -> str:
    """``Ubuntu:22.04:LTS`` → ``Ubuntu:22.04`` (the LTS tag is not in os-release); others unchanged."""
    e = eco.strip()
    if e.lower().startswith("ubuntu:"):
        parts = e.split(":")
        if len(parts) > 2 and parts[1].lower() == "pro":
            return "Ubuntu:Pro:" + parts[2]
        return "Ubuntu:" + parts[1] if len(parts) > 1 else e
    return e


def canonical_package(ecosystem: str, name: str) -> str:
    if ecosystem == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name.strip()


def distro_ecosystem(os_id: str, version_id: str, codename: str = "") -> str | None:
    """The OSV ecosystem of an OS release: debian 12 → ``Debian:12``, alpine 3.19.1 → ``Alpine:v3.19``.

    None when the release cannot be pinned down: matching a distro package against another
    release's advisories is exactly the false match this must never produce.
    """
    os_id = os_id.lower().strip()
    version_id = version_id.strip().strip('"')
    if os_id == "debian":
        if re.fullmatch(r"\d+(\.\d+)*", version_id):
            return "Debian:" + version_id.split(".")[0]
        num = DEBIAN_CODENAMES.get(codename.lower().strip()) if codename else None
        return f"Debian:{num}" if num else ("Debian:sid" if not version_id else None)
    if os_id == "alpine":
        m = re.match(r"(\d+)\.(\d+)", version_id)
        return f"Alpine:v{m.group(1)}.{m.group(2)}" if m else None
    if os_id == "ubuntu":
        m = re.match(r"(\d+\.\d+)", version_id)
        return f"Ubuntu:{m.group(1)}" if m else None
    if os_id in RPM_DISTROS:
        m = re.match(r"(\d+)", version_id)
        return f"{RPM_DISTROS[os_id]}:{m.group(1)}" if m else None
    if os_id in ("wolfi", "chainguard"):
        return os_id.capitalize()
    return None


def parse_distro_qualifier(distro: str) -> tuple[str, str]:
    """A purl ``distro=`` qualifier (``debian-12``, ``alpine-3.19.1``, ``bookworm``) → (id, version)."""
    d = distro.strip().lower()
    if d in DEBIAN_CODENAMES:
        return "debian", DEBIAN_CODENAMES[d]
    m = re.fullmatch(r"([a-z][a-z-]*?)-?(\d[\w.]*)", d)
    if m:
        return m.group(1).rstrip("-"), m.group(2)
    return d, ""
