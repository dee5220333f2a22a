"""mamori vuln: db import/status, scan of SBOMs from mamori and other tools, ignores and exit codes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from mamori.cli.main import cli
from mamori.vuln.ignore import IgnoreError, apply_ignores, load_ignores
from mamori.vuln.match import VulnFinding
from mamori.vuln.targets import SbomError, targets_from_sbom
from tests.vuln.conftest import vulndata

TRIVY_CDX = {
    "bomFormat": "CycloneDX", "specVersion": "1.5",
    "metadata": {"component": {"type": "container", "name": "img", "components": [
        {"type": "operating-system", "name": "debian", "version": "12.7"}]}},
    "components": [
        {"type": "library", "name": "libc6", "version": "2.36-9+deb12u1",
         "purl": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?arch=amd64&distro=debian-12.7",
         "properties": [{"name": "aquasecurity:trivy:SrcName", "value": "glibc"},
                        {"name": "aquasecurity:trivy:SrcVersion", "value": "2.36"},
                        {"name": "aquasecurity:trivy:SrcRelease", "value": "9+deb12u1"}]},
        {"type": "library", "name": "jinja2", "version": "2.10", "purl": "pkg:pypi/jinja2@2.10"},
        {"type": "library", "name": "nopurl"},
    ],
}
SPDX = {
    "spdxVersion": "SPDX-2.3", "packages": [
        {"name": "alpine", "versionInfo": "3.19.1", "primaryPackagePurpose": "OPERATING-SYSTEM"},
        {"name": "busybox", "versionInfo": "1.36.1-r15", "externalRefs": [
            {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
             "referenceLocator": "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&upstream=busybox"}]},
        {"name": "lodash", "versionInfo": "4.17.15", "externalRefs": [
            {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
             "referenceLocator": "pkg:npm/lodash@4.17.15"}]},
    ],
}


def _w(p: Path, doc: object) -> str:
    p.write_text(json.dumps(doc))
    return str(p)


def test_sbom_readers(tmp_path: Path) -> None:
    ts = targets_from_sbom(_w(tmp_path / "t.cdx.json", TRIVY_CDX))
    assert [(t.key, t.match_version, t.ecosystem) for t in ts] == [
        ("glibc", "2.36-9+deb12u1", "Debian:12"), ("jinja2", "2.10", "PyPI")]
    ts = targets_from_sbom(_w(tmp_path / "s.spdx.json", SPDX))
    assert [(t.key, t.ecosystem) for t in ts] == [("busybox", "Alpine:v3.19"), ("lodash", "npm")]
    spdx_tools_spelling = json.loads(json.dumps(SPDX).replace("OPERATING-SYSTEM", "OPERATING_SYSTEM"))
    ts = targets_from_sbom(_w(tmp_path / "u.spdx.json", spdx_tools_spelling))
    assert [(t.key, t.ecosystem) for t in ts] == [("busybox", "Alpine:v3.19"), ("lodash", "npm")]
    for bad in (b"nope", b"[]", b'{"bomFormat": "Other"}'):
        (tmp_path / "b.json").write_bytes(bad)
        with pytest.raises(SbomError):
            targets_from_sbom(tmp_path / "b.json")


def _f(fid: str, pkg: str = "libc6") -> VulnFinding:
    return VulnFinding(fid, ("GHSA-x",), pkg, "glibc", "1", "Debian:12", "fixed", "2", "high", 7.5, None, None,
                       "", f"pkg:deb/debian/{pkg}@1", ("osv",))


def test_ignore_file_reason_expiry_and_openvex(tmp_path: Path) -> None:
    (tmp_path / "i.yaml").write_text(
        "ignore:\n"
        "  - id: CVE-1\n    reason: not reachable\n    package: libc6\n"
        "  - id: GHSA-x\n    reason: accepted\n    expires: 2020-01-01\n")
    ig = load_ignores(tmp_path / "i.yaml")
    kept, dropped, expired = apply_ignores([_f("CVE-1"), _f("CVE-1", "other"), _f("CVE-2")], ig, date(2026, 1, 1))
    assert [f.package for f, _ in dropped] == ["libc6"] and len(kept) == 2 and [e.id for e in expired] == ["GHSA-x"]
    kept, dropped, _ = apply_ignores([_f("CVE-2")], ig, date(2019, 6, 1))
    assert not kept and dropped[0][1].reason == "accepted"  # alias match before expiry
    (tmp_path / "n.yaml").write_text("ignore:\n  - id: CVE-1\n")
    with pytest.raises(IgnoreError, match="reason"):
        load_ignores(tmp_path / "n.yaml")
    vex = {"@context": "https://openvex.dev/ns/v0.2.0", "statements": [
        {"vulnerability": {"name": "CVE-2"}, "status": "not_affected",
         "justification": "vulnerable_code_not_in_execute_path", "products": [{"@id": "pkg:deb/debian/libc6"}]},
        {"vulnerability": {"name": "CVE-3"}, "status": "affected"}]}
    kept, dropped, _ = apply_ignores([_f("CVE-2"), _f("CVE-3"), _f("CVE-2", "zlib")], load_ignores(
        _w(tmp_path / "v.json", vex)))
    assert [(f.id, f.package) for f in kept] == [("CVE-3", "libc6"), ("CVE-2", "zlib")]
    assert "vulnerable_code_not_in_execute_path" in dropped[0][1].reason


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAMORI_DB", raising=False)
    return tmp_path


def test_cli_import_status_scan(home: Path) -> None:
    r = CliRunner()
    res = r.invoke(cli, ["vuln", "db", "import", str(vulndata() / "osv" / "PyPI"), str(vulndata() / "osv" / "Debian")])
    assert res.exit_code == 0, res.output
    assert "added" in res.output
    res = r.invoke(cli, ["vuln", "db", "status", "-f", "json", "--max-age", "1h"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert {s["source"] for s in doc["sources"]} == {"osv"} and doc["ecosystems"]["PyPI"] > 400
    assert doc["stale"] == ["osv"] and "older than 1h" in res.stderr  # the data is from 2025
    sbom = _w(home / "t.cdx.json", TRIVY_CDX)
    res = r.invoke(cli, ["vuln", "scan", sbom, "-f", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [d["source"] for d in out["db"]] == ["osv"] and out["db"][0]["newest_data"] > "2025"  # DB snapshot
    by = {(f["package"], f["id"]): f for f in out["findings"]}
    assert by[("libc6", "CVE-2023-4911")]["fixed"] == "2.36-9+deb12u3"
    assert by[("jinja2", "CVE-2019-10906")]["fixed"] == "2.10.1"
    assert "PYSEC-2019-217" in by[("jinja2", "CVE-2019-10906")]["aliases"]
    assert any(f["state"] != "fixed" for f in out["findings"])
    res = r.invoke(cli, ["vuln", "scan", sbom, "-f", "json", "--ignore-unfixed"])
    assert all(f["state"] == "fixed" for f in json.loads(res.stdout)["findings"])
    assert r.invoke(cli, ["vuln", "scan", sbom, "--fail-on", "high"]).exit_code == 1
    (home / "i.yaml").write_text("ignore:\n" + "".join(
        f"  - id: {f['id']}\n    reason: test\n" for f in out["findings"] if f["severity"] in ("high", "critical")))
    res = r.invoke(cli, ["vuln", "scan", sbom, "--fail-on", "high", "--ignore-file", str(home / "i.yaml")])
    assert res.exit_code == 0, res.output
    assert "ignored" in res.output and "CVE-2023-4911" not in res.output


def test_cli_errors_are_messages(home: Path) -> None:
    r = CliRunner()
    (home / "bad.json").write_text("{")
    for args in (["vuln", "scan", str(home / "bad.json")], ["vuln", "db", "import", str(home / "bad.json")]):
        res = r.invoke(cli, args)
        assert res.exit_code == 2 and "Traceback" not in res.output and "mamori:" in res.stderr
    res = r.invoke(cli, ["vuln", "db", "status", "--max-age", "soon"])
    assert res.exit_code == 2


DPKG_STATUS = """Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u1

Package: libc-bin
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

"""


def test_cli_scan_image_reference(home: Path) -> None:
    """An image (OCI layout) inventoried by mamori.image: binaries matched through their source package."""
    from tests.image.layouts import file, layer_tar, oci_layout

    oci_layout(home / "o", [layer_tar([
        file("etc/os-release", 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'),
        file("var/lib/dpkg/status", DPKG_STATUS)])])
    r = CliRunner()
    assert r.invoke(cli, ["vuln", "db", "import", str(vulndata() / "osv" / "Debian")]).exit_code == 0
    res = r.invoke(cli, ["vuln", "scan", f"oci-dir:{home / 'o'}", "-f", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["packages"] == 3
    rows = {(f["package"], f["id"]) for f in out["findings"]}
    assert ("libc6", "CVE-2023-4911") in rows and ("libc-bin", "CVE-2023-4911") in rows
    assert all(f["ecosystem"] == "Debian:12" for f in out["findings"])
    f = next(f for f in out["findings"] if f["id"] == "CVE-2023-4911" and f["package"] == "libc6")
    assert f["source_package"] == "glibc" and f["fixed"] == "2.36-9+deb12u3" and f["state"] == "fixed"
