"""Matching: OSV range semantics, release isolation on real Debian data, distro states, aliases, CVSS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mamori.image.catalog.model import Inventory, OsRelease, Package
from mamori.vuln import versions
from mamori.vuln.cvss import CvssError, score_v3
from mamori.vuln.db import import_path
from mamori.vuln.match import affected_entry, match_targets, range_affects, scan_inventory
from mamori.vuln.targets import target_from_purl
from tests.vuln.conftest import new_engine, vulndata

PEP = versions.pep440_compare


def ev(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{k: v} for k, v in pairs]


@pytest.mark.parametrize(("v", "events", "want"), [
    ("1.0", ev(("introduced", "0"), ("fixed", "1.2")), (True, "1.2")),
    ("1.2", ev(("introduced", "0"), ("fixed", "1.2")), (False, None)),
    ("0.9", ev(("introduced", "1.0"), ("fixed", "1.2")), (False, None)),
    ("1.5", ev(("introduced", "0"), ("fixed", "1.2"), ("introduced", "1.4"), ("fixed", "1.6")), (True, "1.6")),
    ("1.3", ev(("introduced", "0"), ("fixed", "1.2"), ("introduced", "1.4"), ("fixed", "1.6")), (False, None)),
    ("1.5", ev(("fixed", "1.6"), ("introduced", "1.4"), ("fixed", "1.2"), ("introduced", "0")), (True, "1.6")),
    ("1.2", ev(("introduced", "0"), ("last_affected", "1.2")), (True, "> 1.2")),
    ("1.2.1", ev(("introduced", "0"), ("last_affected", "1.2")), (False, None)),
    ("2.0", ev(("introduced", "0"), ("limit", "1.5")), (False, None)),
    ("1.0", ev(("introduced", "0"), ("limit", "1.5")), (True, None)),
    ("9.0", ev(("introduced", "0"), ("limit", "*")), (True, None)),
    ("1.0", ev(("introduced", "0"), ("fixed", "1.2"), ("limit", "1.5")), (True, "1.2")),
])
def test_range_semantics(v: str, events: list[dict[str, str]], want: tuple[bool, str | None]) -> None:
    assert range_affects(PEP, v, events) == want


def test_explicit_versions_and_semver_ranges() -> None:
    data = {"versions": ["1.0.0-beta"], "ranges": [
        {"type": "SEMVER", "events": [{"introduced": "2.0.0"}, {"fixed": "2.0.3"}]}]}
    assert affected_entry("npm", "1.0.0-beta", data) == (True, None)
    assert affected_entry("npm", "2.0.2", data) == (True, "2.0.3")
    assert affected_entry("npm", "2.0.3", data) == (False, None)
    # SEMVER ranges use SemVer even in Go (v prefix) and in ecosystems with another native order
    assert affected_entry("Go", "v2.0.1", data) == (True, "2.0.3")
    eco = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0.0rc1"}]}]}
    assert affected_entry("PyPI", "2.0.0b9", eco) == (True, "2.0.0rc1")
    assert affected_entry("PyPI", "2.0.0", eco) == (False, None)


def _osv_files(eco_prefix: str) -> list[dict[str, object]]:
    out = []
    for f in sorted((vulndata() / "osv" / "Debian").glob("*.json")):
        doc = json.loads(f.read_text())
        out.append(doc)
    return out


def test_real_debian_advisories_agree_and_never_cross_releases(real_db: Engine) -> None:
    """For every Debian 11/12 entry with a fix: the fixed version is clean, the last listed vulnerable
    version is reported with exactly that fix, and the other release's package never sees the record."""
    checked = 0
    for doc in _osv_files("Debian"):
        for aff in doc["affected"]:  # type: ignore[attr-defined]
            eco, name = aff["package"].get("ecosystem"), aff["package"].get("name")
            if eco not in ("Debian:11", "Debian:12"):
                continue
            fixes = [e["fixed"] for r in aff.get("ranges", []) for e in r["events"] if "fixed" in e]
            if len(fixes) != 1 or not aff.get("versions"):
                continue
            fixed, vulnerable = fixes[0], aff["versions"][-1]
            other = "11" if eco == "Debian:12" else "12"
            num = eco.split(":")[1]
            tv = target_from_purl(f"pkg:deb/debian/{name}@{vulnerable}?distro=debian-{num}")
            tf = target_from_purl(f"pkg:deb/debian/{name}@{fixed}?distro=debian-{num}")
            to = target_from_purl(f"pkg:deb/debian/{name}@{vulnerable}?distro=debian-{other}")
            assert tv and tf and to
            rid = doc["id"]
            hit = [f for f in match_targets(real_db, [tv]).findings if rid in f.ids or rid in f.related]
            assert hit, (rid, eco, vulnerable)
            assert all(f.ecosystem == eco for f in hit)
            mine = [f for f in hit if rid in f.ids]
            if mine:
                assert mine[0].fixed == fixed and mine[0].state == "fixed", (rid, mine[0])
            clean = [f for f in match_targets(real_db, [tf]).findings if rid in f.ids]
            assert not clean, (rid, fixed)
            other_findings = match_targets(real_db, [to]).findings
            assert all(f.ecosystem == f"Debian:{other}" for f in other_findings)
            checked += 1
            if checked >= 60:
                return
    assert checked >= 20


def test_unknown_release_is_not_matched(real_db: Engine) -> None:
    t = target_from_purl("pkg:deb/debian/libc6@2.36-9?arch=amd64&upstream=glibc")
    assert t is not None and t.ecosystem is None
    report = match_targets(real_db, [t])
    assert report.findings == [] and report.unmatched_release == [t.purl]


def test_source_package_and_dsa_folding(real_db: Engine) -> None:
    t = target_from_purl("pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=glibc")
    assert t is not None and t.key == "glibc" and t.ecosystem == "Debian:12"
    fs = {f.id: f for f in match_targets(real_db, [t]).findings}
    assert fs["CVE-2023-4911"].fixed == "2.36-9+deb12u3" and fs["CVE-2023-4911"].state == "fixed"
    assert "DSA-5514-1" in fs["CVE-2023-4911"].related
    assert not any(i.startswith("DSA-") for i in fs)  # DSAs fold into the CVEs they fix
    assert all(f.package == "libc6" and f.source_package == "glibc" for f in fs.values())
    assert fs["CVE-2023-4911"].score == 7.8 and fs["CVE-2023-4911"].severity == "high"


def test_aliases_deduplicated(real_db: Engine) -> None:
    t = target_from_purl("pkg:pypi/Jinja2@2.10")
    assert t is not None
    fs = match_targets(real_db, [t]).findings
    ids = [i for f in fs for i in f.ids]
    assert len(ids) == len(set(ids))
    cve = next(f for f in fs if f.id == "CVE-2019-10906")
    assert {"GHSA-462w-v97r-4m45", "PYSEC-2019-217"} <= set(cve.aliases)
    assert cve.fixed == "2.10.1"
    assert not match_targets(real_db, [target_from_purl("pkg:pypi/jinja2@3.1.6")]).findings  # type: ignore[list-item]


def test_alpine_secdb_and_osv_agree(real_db: Engine) -> None:
    old = target_from_purl("pkg:apk/alpine/zlib@1.2.12-r1?distro=alpine-3.19.1")
    new = target_from_purl("pkg:apk/alpine/zlib@1.3.1-r0?distro=alpine-3.19.1")
    f = next(f for f in match_targets(real_db, [old]).findings if f.id == "CVE-2022-37434")  # type: ignore[list-item]
    assert f.fixed == "1.2.12-r2" and "alpine-secdb:v3.19/main" in f.sources and "osv" in f.sources
    assert not [x for x in match_targets(real_db, [new]).findings if x.id == "CVE-2022-37434"]  # type: ignore[list-item]


def _write(p: Path, doc: object) -> Path:
    p.write_text(json.dumps(doc))
    return p


def test_tracker_states_and_secdb_nak(tmp_path: Path) -> None:
    engine = new_engine(tmp_path / "s.db")

    def rel(**kw: str) -> dict[str, object]:
        return {"bookworm": kw, "bullseye": {"status": "resolved", "fixed_version": "1.0-1", "urgency": "low"}}

    tracker = {"foo": {
        "CVE-2024-0001": {"releases": rel(status="resolved", fixed_version="2.0-1", urgency="medium")},
        "CVE-2024-0002": {"releases": rel(status="resolved", fixed_version="0", urgency="unimportant")},
        "CVE-2024-0003": {"releases": rel(status="open", nodsa="Minor issue", nodsa_reason="ignored",
                                          urgency="low")},
        "CVE-2024-0004": {"releases": rel(status="open", nodsa="Minor issue", nodsa_reason="postponed",
                                          urgency="low")},
        "CVE-2024-0005": {"releases": rel(status="open", nodsa="Minor issue", nodsa_reason="", urgency="low")},
        "CVE-2024-0006": {"releases": rel(status="open", urgency="high")},
        "CVE-2024-0007": {"releases": rel(status="undetermined")},
    }}
    import_path(engine, _write(tmp_path / "tracker.json", tracker))
    t12 = target_from_purl("pkg:deb/debian/foo-bin@1.5-1?distro=debian-12&upstream=foo")
    t11 = target_from_purl("pkg:deb/debian/foo-bin@1.5-1?distro=debian-11&upstream=foo")
    got = {f.id: (f.state, f.fixed, f.severity) for f in match_targets(engine, [t12]).findings}  # type: ignore[list-item]
    assert got == {
        "CVE-2024-0001": ("fixed", "2.0-1", "medium"),
        "CVE-2024-0003": ("wont-fix", None, "low"),
        "CVE-2024-0004": ("deferred", None, "low"),
        "CVE-2024-0005": ("minor", None, "low"),
        "CVE-2024-0006": ("not-fixed", None, "high"),
    }
    assert match_targets(engine, [t11]).findings == []  # type: ignore[list-item]  # 1.5-1 >= bullseye fixes

    secdb = {"distroversion": "v3.19", "reponame": "main", "packages": [
        {"pkg": {"name": "bar", "secfixes": {"0": ["CVE-2024-1000"], "1.2-r1": ["CVE-2024-1001 (one arch)"]}}}]}
    import_path(engine, _write(tmp_path / "main.json", secdb))
    osv = {"id": "CVE-2024-1000", "modified": "2024-01-01T00:00:00Z", "affected": [
        {"package": {"ecosystem": "Alpine:v3.19", "name": "bar"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}
    import_path(engine, _write(tmp_path / "osv.json", osv))
    fs = match_targets(engine, [target_from_purl("pkg:apk/alpine/bar@1.2-r0?distro=alpine-3.19.0")]).findings  # type: ignore[list-item]
    assert [(f.id, f.fixed) for f in fs] == [("CVE-2024-1001", "1.2-r1")]  # the "0" NAK suppressed osv's CVE-2024-1000


def test_scan_inventory_seam(real_db: Engine) -> None:
    os_ = OsRelease("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm")
    inv = Inventory(os=os_, packages=[
        Package("deb", "libssl3", "3.0.11-1~deb12u1",
                "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl",
                "/var/lib/dpkg/status", 0, source_name="openssl", source_version="3.0.11-1~deb12u1"),
        Package("pypi", "urllib3", "1.26.5", "pkg:pypi/urllib3@1.26.5", "x", 1,
                owner="deb:python3-urllib3"),
    ])
    fs = scan_inventory(inv, real_db)
    ssl = [f for f in fs if f.package == "libssl3"]
    assert ssl and all(f.ecosystem == "Debian:12" and f.source_package == "openssl" for f in ssl)
    assert any(f.fixed and versions.compare("Debian:12", f.fixed, "3.0.11-1~deb12u1") > 0 for f in ssl)
    u3 = [f for f in fs if f.package == "urllib3"]
    assert u3 and all(f.note and "python3-urllib3" in f.note for f in u3)


@pytest.mark.parametrize(("vector", "score"), [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
    ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
    ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),
    ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O", 9.8),
])
def test_cvss_v3_base_scores(vector: str, score: float) -> None:
    assert score_v3(vector).score == score


@pytest.mark.parametrize("bad", ["CVSS:2.0/AV:N", "CVSS:3.1/AV:N/AC:L", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                                 "AV:N/AC:L/Au:N/C:P/I:P/A:P", "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"])
def test_cvss_bad_vectors(bad: str) -> None:
    with pytest.raises(CvssError):
        score_v3(bad)


def test_ubuntu_release_and_derived_cve_ids(real_db: Engine) -> None:
    old = target_from_purl("pkg:deb/ubuntu/libc6@2.35-0ubuntu3.1?distro=ubuntu-22.04&upstream=glibc")
    new = target_from_purl("pkg:deb/ubuntu/libc6@2.35-0ubuntu3.4?distro=ubuntu-22.04&upstream=glibc")
    noble = target_from_purl("pkg:deb/ubuntu/libc6@2.35-0ubuntu3.1?distro=ubuntu-24.04&upstream=glibc")
    assert old and new and noble and old.ecosystem == "Ubuntu:22.04"
    fs = {f.id: f for f in match_targets(real_db, [old]).findings}
    cve = fs["CVE-2023-4911"]  # UBUNTU-CVE-2023-4911 is shown under its CVE, Ubuntu's id as an alias
    assert "UBUNTU-CVE-2023-4911" in cve.aliases and cve.fixed == "2.35-0ubuntu3.4"
    assert cve.source_rating == "high" and cve.score == 7.8
    assert not [f for f in match_targets(real_db, [new]).findings if f.id == "CVE-2023-4911"]
    # 24.04's entry says fixed in 2.38-1ubuntu6: a 22.04 version installed on 24.04 is judged by 24.04's data
    nf = {f.id: f for f in match_targets(real_db, [noble]).findings}
    assert nf["CVE-2023-4911"].fixed == "2.38-1ubuntu6" and nf["CVE-2023-4911"].ecosystem == "Ubuntu:24.04"
