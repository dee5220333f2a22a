"""SBOM input (mamori's, Trivy's, Syft's) matched against real advisories: the same answer whatever tool
wrote the SBOM, never a match across distro releases, and bad SBOMs as one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mamori.cli.main import cli
from mamori.scan import SBOM_HINT, load_paths, sbom_inputs
from mamori.sources import sbom as sbom_mod
from mamori.sources.sbom import SbomError, looks_like_sbom, read_sbom
from mamori.vuln.db import import_path
from mamori.vuln.targets import Target, target_from_purl, targets_from_sbom
from tests.image.layouts import file, layer_tar, oci_layout
from tests.vuln.conftest import new_engine, vulndata

FIX = Path(__file__).parent / "fixtures" / "sbom"
DPKG = """Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: {v}

Package: libc-bin
Status: install ok installed
Architecture: amd64
Source: glibc
Version: {v}

"""

Row = tuple[str, str, str | None, str]  # package, id, fixed, ecosystem


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("sbomdb")
    data = vulndata()
    engine = new_engine(tmp / "v.db")
    for p in (data / "osv" / "Debian", data / "osv" / "PyPI", data / "debian-tracker",
              data / "alpine-secdb" / "v3.18", data / "alpine-secdb" / "v3.19"):
        import_path(engine, p)
    engine.dispose()
    yield f"sqlite:///{tmp / 'v.db'}"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAMORI_DB", raising=False)


def scan(db: str, path: str | Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["vuln", "scan", str(path), "--db", db, *args])


def rows(db: str, path: str | Path) -> set[Row]:
    res = scan(db, path, "-f", "json")
    assert res.exit_code == 0, res.output
    return {(f["package"], f["id"], f["fixed"], f["ecosystem"]) for f in json.loads(res.stdout)["findings"]}


def test_trivy_cyclonedx_and_spdx_agree_and_stay_in_their_release(db: str) -> None:
    d12 = rows(db, FIX / "trivy-deb12.cdx.json")
    assert rows(db, FIX / "trivy-deb12.spdx.json") == d12  # source package from sourceInfo in SPDX
    assert ("libc6", "CVE-2023-4911", "2.36-9+deb12u3", "Debian:12") in d12
    assert ("libc-bin", "CVE-2023-4911", "2.36-9+deb12u3", "Debian:12") in d12  # binary -> source glibc
    d11 = rows(db, FIX / "trivy-deb11.cdx.json")
    assert ("libc6", "CVE-2023-4911", "2.31-13+deb11u7", "Debian:11") in d11
    assert {r[3] for r in d12} == {"Debian:12"} and {r[3] for r in d11} == {"Debian:11"}
    assert not any("deb12" in (r[2] or "") for r in d11) and not any("deb11" in (r[2] or "") for r in d12)


def test_alpine_branches_from_trivy_and_syft(db: str) -> None:
    t18, t19 = rows(db, FIX / "trivy-alpine3.18.4.cdx.json"), rows(db, FIX / "trivy-alpine3.19.1.cdx.json")
    s18, s19 = rows(db, FIX / "syft-alpine3.18.4.spdx.json"), rows(db, FIX / "syft-alpine3.19.1.spdx.json")
    assert t19 == s19 and t18 == s18  # two tools, two formats, one answer
    # binutils CVE-2023-1972 is fixed in 2.40-r7 on 3.18 and in 2.40-r10 on 3.19; 2.40-r8 is installed
    assert ("binutils", "CVE-2023-1972", "2.40-r10", "Alpine:v3.19") in t19
    assert not any(r[1] == "CVE-2023-1972" for r in t18)
    assert ("jq", "CVE-2023-50246", "1.7.1-r0", "Alpine:v3.19") in t19 and not any(r[0] == "jq" for r in t18)
    assert all(r[3] == "Alpine:v3.18" for r in t18)


def test_trivy_bare_apk_distro_qualifier_needs_no_os_component() -> None:
    t = target_from_purl("pkg:apk/alpine/jq@1.7-r0?arch=x86_64&distro=3.19.1")
    assert t is not None and t.ecosystem == "Alpine:v3.19"
    assert target_from_purl("pkg:deb/debian/libc6@2.36-9?distro=debian-12.5").ecosystem == "Debian:12"  # type: ignore[union-attr]


def test_syft_cyclonedx_shape(db: str) -> None:
    r = rows(db, FIX / "syft-deb12.cdx.json")
    assert ("libc6", "CVE-2023-4911", "2.36-9+deb12u3", "Debian:12") in r  # source from upstream=glibc
    assert ("jinja2", "CVE-2019-10906", "2.10.1", "PyPI") in r  # language packages next to OS ones
    deb = {x for x in r if x[3].startswith("Debian")}
    assert {x[0] for x in deb} <= {"libc6", "libssl3", "zlib1g"} and {x[3] for x in deb} == {"Debian:12"}
    # the same glibc findings as Trivy's SBOM of the same packages
    trivy = {x for x in rows(db, FIX / "trivy-deb12.cdx.json") if x[0] == "libc6"}
    assert {x for x in r if x[0] == "libc6"} == trivy


def test_mamori_sboms_round_trip(db: str, tmp_path: Path) -> None:
    """`mamori image sbom` output, CycloneDX and SPDX, gives the findings of scanning the image itself."""
    r = CliRunner()
    for rel, v in (("12", "2.36-9+deb12u1"), ("11", "2.31-13+deb11u5")):
        oci_layout(tmp_path / rel, [layer_tar([file("etc/os-release", f'ID=debian\nVERSION_ID="{rel}"\n'),
                                               file("var/lib/dpkg/status", DPKG.format(v=v))])])
        ref = f"oci-dir:{tmp_path / rel}"
        direct = rows(db, ref)
        assert direct and {x[3] for x in direct} == {f"Debian:{rel}"}
        for fmt in ("cyclonedx", "spdx"):
            out = tmp_path / f"{rel}.{fmt}.json"
            assert r.invoke(cli, ["image", "sbom", ref, "--format", fmt, "-o", str(out)]).exit_code == 0
            assert looks_like_sbom(out)
            assert rows(db, out) == direct


def test_gate_and_formats_on_sbom(db: str, tmp_path: Path) -> None:
    f = FIX / "trivy-deb12.cdx.json"
    assert scan(db, f, "--fail-on", "high").exit_code == 1
    assert scan(db, f, "--fail-on", "critical", "--ignore-unfixed").exit_code == 0
    sarif = json.loads(scan(db, f, "-f", "sarif").stdout)
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["tool"]["driver"]["name"] == "mamori-vuln"
    assert "CVE-2023-4911" in {x["ruleId"] for x in sarif["runs"][0]["results"]}
    out = tmp_path / "r.xml"
    assert scan(db, f, "-f", "junit", "-o", str(out)).exit_code == 0 and "CVE-2023-4911" in out.read_text()


def test_release_unknown_is_not_matched(db: str, tmp_path: Path) -> None:
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"type": "library", "name": "libc6", "purl": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?upstream=glibc"}]}
    p = tmp_path / "noos.cdx.json"
    p.write_text(json.dumps(doc))
    res = scan(db, p, "-f", "json")
    assert res.exit_code == 0 and json.loads(res.stdout)["findings"] == []
    assert "without a known distro release" in res.stderr
    doc["components"] += [{"type": "operating-system", "name": "debian", "version": "11"},  # type: ignore[operator]
                           {"type": "operating-system", "name": "debian", "version": "12"}]
    p.write_text(json.dumps(doc))
    res = scan(db, p, "-f", "json")
    assert json.loads(res.stdout)["findings"] == [] and "several operating systems" in res.stderr


@pytest.mark.parametrize(("content", "words"), [
    (b"", "not JSON"),
    (b"\xff\xfe{", "not UTF-8"),
    (b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": ', "not JSON (line 1"),
    (b"[1, 2]", "not an object"),
    (b'{"bomFormat": "CycloneDX"}', "without a specVersion"),
    (b'{"bomFormat": "CycloneDX", "specVersion": "2.0"}', "specVersion '2.0' is not supported"),
    (b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": {"a": 1}}', "'components' is not a list"),
    (b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "metadata": []}', "'metadata' is not an object"),
    (b'{"spdxVersion": "SPDX-2.3", "packages": 7}', "'packages' is not a list"),
    (b'{"spdxVersion": "SPDX-3.0"}', "not supported (SPDX 2.x JSON)"),
    (b'{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": []}', "SPDX 3 (JSON-LD)"),
    (b'{"name": "x"}', "neither CycloneDX JSON"),
    (b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": ' + b'[{"components": ' * 70 + b"[]"
     + b"}]" * 70 + b"}", "nested deeper than 64"),
    (b"[" * 100_000 + b"]" * 100_000, "not"),
])
def test_bad_sboms_are_one_line_errors(db: str, tmp_path: Path, content: bytes, words: str) -> None:
    p = tmp_path / "bad.cdx.json"
    p.write_bytes(content)
    with pytest.raises(SbomError, match=str(p)):
        read_sbom(p)
    res = scan(db, p)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.stderr.startswith(f"mamori: {p}: ") and words in res.stderr and res.stderr.count("\n") == 1


def test_size_and_count_bounds(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "big.cdx.json"
    comps = [{"type": "library", "name": f"p{i}", "purl": f"pkg:npm/p{i}@1.0.0"} for i in range(50)]
    p.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": comps}))
    assert len(targets_from_sbom(p)) == 50
    monkeypatch.setattr(sbom_mod, "MAX_COMPONENTS", 10)
    with pytest.raises(SbomError, match="more than 10 components"):
        read_sbom(p)
    monkeypatch.setattr(sbom_mod, "MAX_SBOM_BYTES", 100)
    res = scan(db, p)
    assert res.exit_code == 2 and "over the 100 byte limit" in res.stderr


def test_mamori_scan_detects_sboms(tmp_path: Path) -> None:
    """`mamori scan` recognises SBOMs among its inputs and points at the vulnerability report."""
    k8s = tmp_path / "pod.json"
    k8s.write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                               "spec": {"containers": [{"name": "c", "image": "x:1"}]}}))
    sboms = [str(FIX / n) for n in ("trivy-deb12.cdx.json", "trivy-deb12.spdx.json", "syft-alpine3.18.4.spdx.json")]
    assert sbom_inputs([*sboms, str(k8s), str(tmp_path / "missing.json")]) == sboms
    s = load_paths([*sboms, str(k8s)])
    assert [(x.file, x.what, x.reason) for x in s.skipped] == [(f, "SBOM", SBOM_HINT) for f in sboms]
    assert len(s.workloads) == 1 and not s.errors


def test_scan_sboms_route_and_source_rating_in_text(db: str) -> None:
    """``scan_sboms`` (what ``mamori scan FILE.cdx.json`` calls) reports several SBOMs as one."""
    import click

    from mamori.cli.vuln import scan_sboms

    @click.command()
    @click.argument("paths", nargs=-1)
    @click.option("--fail-on")
    def route(paths: tuple[str, ...], fail_on: str | None) -> None:
        scan_sboms(paths, db, fail_on, False, None, "text", None)

    both = [str(FIX / "syft-deb12.cdx.json"), str(FIX / "trivy-alpine3.19.1.cdx.json")]
    res = CliRunner().invoke(route, [*both, "--fail-on", "info"])  # the policy scale's lowest counts too
    assert res.exit_code == 1, res.output
    lines = res.stdout.splitlines()
    assert any(x.startswith("binutils ") for x in lines) and any(x.startswith("libc6 ") for x in lines)
    assert lines[-1].startswith("6 packages, ")
    # CVE-2019-10906 (jinja2): v3 8.6, v4 7.7, GHSA says HIGH: the v4 score shows, the agreeing rating not twice
    row = next(x for x in lines if x.startswith("jinja2 ") and "CVE-2019-10906" in x)
    assert " high 7.7 " in row and "[" not in row
    # CVE-2020-28493: GHSA says MODERATE next to the computed medium
    row = next(x for x in lines if x.startswith("jinja2 ") and "CVE-2020-28493" in x)
    assert " medium 6.9 [moderate] " in row


def test_unusable_database_is_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database at all" * 100)
    empty = tmp_path / "empty.db"
    for url, words in ((f"sqlite:///{broken}", "cannot open the database"),
                       (f"sqlite:///{empty}", "the advisory database is empty")):
        res = scan(url, FIX / "trivy-deb12.cdx.json")
        assert res.exit_code == 2 and words in res.stderr and "Traceback" not in res.output, res.output


def test_os_component_spellings() -> None:
    from mamori.sources.sbom import parse_sbom

    def os_of(c: dict[str, object]) -> tuple[str, str] | None:
        return parse_sbom({"bomFormat": "CycloneDX", "specVersion": "1.6", "metadata": {"component": {
            "type": "container", "name": "img", "components": [{"type": "operating-system", **c}]}}}, "x").os

    assert os_of({"name": "Debian GNU/Linux", "version": "12 (bookworm)"}) == ("debian", "12")
    assert os_of({"name": "alpine", "version": "v3.19.1"}) == ("alpine", "3.19.1")
    assert os_of({"name": "whatever", "version": "x", "properties": [  # Syft's distro properties win
        {"name": "syft:distro:id", "value": "ubuntu"}, {"name": "syft:distro:versionID", "value": "22.04"}]}) == (
        "ubuntu", "22.04")
    t = targets_of_doc({"name": "Debian GNU/Linux", "version": "11 (bullseye)"})
    assert [x.ecosystem for x in t] == ["Debian:11"]


def targets_of_doc(os_component: dict[str, object]) -> list[Target]:
    from mamori.sources.sbom import parse_sbom
    from mamori.vuln.targets import targets_of

    return list(targets_of(parse_sbom({"bomFormat": "CycloneDX", "specVersion": "1.4", "components": [
        {"type": "operating-system", **os_component},
        {"type": "library", "name": "libc6", "purl": "pkg:deb/debian/libc6@2.31-13?upstream=glibc"}]}, "x")))


def test_mamori_scan_of_sboms_only_is_the_vulnerability_report(db: str, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    """`mamori scan FILE.cdx.json` itself: MAMORI_DB, --fail-on and the formats of the vulnerability report."""
    monkeypatch.setenv("MAMORI_DB", db)
    f = str(FIX / "trivy-deb12.cdx.json")
    res = CliRunner().invoke(cli, ["scan", "--no-config", f, "--fail-on", "high", "-f", "sarif"])
    assert res.exit_code == 1, res.output
    run = json.loads(res.stdout)["runs"][0]
    assert run["tool"]["driver"]["name"] == "mamori-vuln" and "CVE-2023-4911" in {x["ruleId"] for x in run["results"]}
    assert CliRunner().invoke(cli, ["scan", "--no-config", f]).exit_code == 0  # no gate: report only
    k8s = tmp_path / "pod.json"  # mixed with a manifest: the manifest is scanned, the SBOM listed as skipped
    k8s.write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                               "spec": {"containers": [{"name": "c", "image": "x:1"}]}}))
    mixed = CliRunner().invoke(cli, ["scan", "--no-config", f, str(k8s), "-f", "json"])
    assert "mamori-vuln" not in mixed.stdout and "MAM-" in mixed.stdout
