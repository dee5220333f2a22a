"""``mamori image scan --vulns``: real advisories against images built here (OCI layouts, no daemon).

The same binaries are installed on Debian 11 and 12 and the same apk on Alpine 3.18 and 3.19, so
that a match against another release's advisories would show.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mamori.cli.main import cli
from mamori.vuln.db import import_path
from tests.image.layouts import file, layer_tar, oci_layout
from tests.vuln.conftest import new_engine, vulndata

DPKG = """Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: {glibc}

Package: libc-bin
Status: install ok installed
Architecture: amd64
Source: glibc
Version: {glibc}

"""
APK = "P:binutils\nV:2.40-r8\nA:x86_64\no:binutils\n\nP:jq\nV:1.7-r0\nA:x86_64\no:jq\n\n"


def _image(root: Path, os_release: str, path: str, db: str) -> str:
    oci_layout(root, [layer_tar([file("etc/os-release", os_release), file(path, db)])])
    return f"oci-dir:{root}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("vulns")
    data = vulndata()
    engine = new_engine(tmp / "v.db")
    for p in (data / "osv" / "Debian", data / "debian-tracker", data / "alpine-secdb" / "v3.18",
              data / "alpine-secdb" / "v3.19"):
        import_path(engine, p)
    engine.dispose()
    (tmp / "empty.db").touch()
    yield {
        "db": f"sqlite:///{tmp / 'v.db'}", "empty": f"sqlite:///{tmp / 'empty.db'}", "tmp": str(tmp),
        "deb12": _image(tmp / "d12", 'ID=debian\nVERSION_ID="12"\n', "var/lib/dpkg/status",
                        DPKG.format(glibc="2.36-9+deb12u1")),
        "deb11": _image(tmp / "d11", 'ID=debian\nVERSION_ID="11"\n', "var/lib/dpkg/status",
                        DPKG.format(glibc="2.31-13+deb11u5")),
        "alp318": _image(tmp / "a18", "ID=alpine\nVERSION_ID=3.18.4\n", "lib/apk/db/installed", APK),
        "alp319": _image(tmp / "a19", "ID=alpine\nVERSION_ID=3.19.1\n", "lib/apk/db/installed", APK),
    }


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAMORI_DB", raising=False)
    monkeypatch.chdir(tmp_path)  # no policy file of the repository is picked up


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["image", "scan", "--no-config", *args])


def vulns(env: dict[str, str], image: str, *args: str) -> dict[str, object]:
    res = run(env[image], "--vulns", "--db", env["db"], "-f", "json", *args)
    assert res.exit_code in (0, 1), res.output
    out = json.loads(res.stdout)
    assert "findings" in out and "vulnerabilities" in out  # the policy report and the vulnerability report
    v: dict[str, object] = out["vulnerabilities"]
    return v


def test_text_report_and_fail_on(env: dict[str, str]) -> None:
    res = run(env["deb12"], "--vulns", "--db", env["db"], "--fail-on", "high")
    assert res.exit_code == 1, res.output  # CVE-2023-4911 (7.8, high) in glibc 2.36-9+deb12u1
    assert "MAM-PRIV-010" in res.stdout and "\nVulnerabilities\n" in res.stdout  # both reports
    row = next(x for x in res.stdout.splitlines() if x.startswith("libc6 ") and "CVE-2023-4911" in x)
    assert row.split()[1:5] == ["2.36-9+deb12u1", "2.36-9+deb12u3", "fixed", "high"]
    # without --vulns the same image passes at high: the policy findings are LOW and MEDIUM
    assert run(env["deb12"], "--fail-on", "high").exit_code == 0
    # the unfixed criticals are `minor` (no DSA): --ignore-unfixed leaves nothing at critical
    res = run(env["deb12"], "--vulns", "--db", env["db"], "--fail-on", "critical")
    assert res.exit_code == 1
    assert run(env["deb12"], "--vulns", "--db", env["db"], "--fail-on", "critical", "--ignore-unfixed").exit_code == 0


def test_json_fields_dedup_and_binaries_of_one_source(env: dict[str, str]) -> None:
    v = vulns(env, "deb12")
    fs = v["findings"]
    assert isinstance(fs, list) and v["packages"] == 2
    f = next(f for f in fs if f["id"] == "CVE-2023-4911" and f["package"] == "libc6")
    assert (f["installed"], f["fixed"], f["state"], f["source_package"], f["ecosystem"]) == (
        "2.36-9+deb12u1", "2.36-9+deb12u3", "fixed", "glibc", "Debian:12")
    assert f["severity"] == "high" and f["score"] == 7.8 and "DSA-5514-1" in f["related"]
    for pkg in ("libc6", "libc-bin"):  # every id or alias of one package appears once
        ids = [i for g in fs if g["package"] == pkg for i in [g["id"], *g["aliases"]]]
        assert ids and len(ids) == len(set(ids))
    assert {g["id"] for g in fs if g["package"] == "libc6"} == {g["id"] for g in fs if g["package"] == "libc-bin"}
    assert not any(str(g["id"]).startswith("DSA-") for g in fs)


def test_no_match_across_debian_releases(env: dict[str, str]) -> None:
    d11, d12 = vulns(env, "deb11")["findings"], vulns(env, "deb12")["findings"]
    assert isinstance(d11, list) and isinstance(d12, list) and d11 and d12
    assert {f["ecosystem"] for f in d11} == {"Debian:11"} and {f["ecosystem"] for f in d12} == {"Debian:12"}
    assert all("deb12" not in (f["fixed"] or "") for f in d11)
    f = next(f for f in d11 if f["id"] == "CVE-2023-4911" and f["package"] == "libc6")
    assert f["fixed"] == "2.31-13+deb11u7"


def test_no_match_across_alpine_branches(env: dict[str, str]) -> None:
    a18, a19 = vulns(env, "alp318")["findings"], vulns(env, "alp319")["findings"]
    assert isinstance(a18, list) and isinstance(a19, list)
    # binutils CVE-2023-1972: fixed in 2.40-r7 on 3.18, in 2.40-r10 on 3.19; 2.40-r8 is installed on both
    assert ("binutils", "CVE-2023-1972", "2.40-r10") in {(f["package"], f["id"], f["fixed"]) for f in a19}
    assert "CVE-2023-1972" not in {f["id"] for f in a18}
    # jq's CVE-2023-50246 is listed for 3.19 only
    assert "CVE-2023-50246" in {f["id"] for f in a19} and "CVE-2023-50246" not in {f["id"] for f in a18}
    assert all(f["ecosystem"] == "Alpine:v3.18" for f in a18) and all(f["ecosystem"] == "Alpine:v3.19" for f in a19)


def test_ignore_file_and_expiry(env: dict[str, str]) -> None:
    ig = Path(env["tmp"]) / "ignore.yaml"
    ig.write_text("ignore:\n  - id: CVE-2023-4911\n    reason: no setuid binaries here\n    package: glibc\n"
                  "  - id: CVE-2023-6246\n    reason: old waiver\n    expires: 2020-01-01\n")
    res = run(env["deb12"], "--vulns", "--db", env["db"], "-f", "json", "--ignore-file", str(ig))
    v = json.loads(res.stdout)["vulnerabilities"]
    assert {(i["id"], i["reason"]) for i in v["ignored"]} == {("CVE-2023-4911", "no setuid binaries here")}
    assert "CVE-2023-4911" not in {f["id"] for f in v["findings"]}
    assert "CVE-2023-6246" in {f["id"] for f in v["findings"]} and "expired" in res.stderr


def test_sarif_and_junit_carry_the_vulnerabilities(env: dict[str, str]) -> None:
    res = run(env["deb12"], "--vulns", "--db", env["db"], "-f", "sarif")
    runs = json.loads(res.stdout)["runs"]
    assert [r["tool"]["driver"]["name"] for r in runs] == ["mamori", "mamori-vuln"]
    r4911 = [r for r in runs[1]["results"] if r["ruleId"] == "CVE-2023-4911"]
    assert len(r4911) == 2 and r4911[0]["level"] == "error" and r4911[0]["properties"]["fixed"] == "2.36-9+deb12u3"
    res = run(env["deb12"], "--vulns", "--db", env["db"], "-f", "junit")
    root = ET.fromstring(res.stdout)
    suite = next(s for s in root.iter("testsuite") if s.get("name") == "mamori-vuln")
    assert int(suite.get("failures") or 0) == len(suite.findall("testcase")) > 0


def test_errors_exit_2_before_reading_the_image(env: dict[str, str]) -> None:
    missing = "oci-dir:/nonexistent/never-read"
    for args, words in (
            (["--vulns", "--db", env["empty"]], "database is empty"),
            (["--ignore-unfixed"], "need --vulns"),
            (["--vulns", "--db", "nosuchdriver://x"], "cannot open the database")):
        res = run(missing, *args)
        assert res.exit_code == 2 and words in res.stderr and "Traceback" not in res.output, res.output
    # MAMORI_DB in the environment is not a request for --vulns: the image is scanned as before
    res = CliRunner(env={"MAMORI_DB": env["db"]}).invoke(cli, ["image", "scan", "--no-config", env["deb12"]])
    assert res.exit_code == 0 and "Vulnerabilities" not in res.stdout, res.output
    bad = Path(env["tmp"]) / "bad-ignore.yaml"
    bad.write_text("ignore:\n  - id: CVE-1\n")  # no reason
    res = run(missing, "--vulns", "--db", env["db"], "--ignore-file", str(bad))
    assert res.exit_code == 2 and "reason" in res.stderr and "Traceback" not in res.output
