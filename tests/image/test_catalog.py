"""Catalogers on hand-made package databases, read through real layers."""

from __future__ import annotations

import io
import json
import sqlite3
import struct
import sys
import zipfile
from pathlib import Path

import pytest

from mamori.image import load
from mamori.image.catalog import golang, rpm
from tests.image.layouts import file, layer_tar, oci_layout

OS_DEBIAN = file("etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
DPKG_STATUS = """Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library
 continuation line
 .

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2+b1
"""


def inventory(tmp_path: Path, *layers: list):  # type: ignore[type-arg]
    oci_layout(tmp_path / "oci", [layer_tar(list(m)) for m in layers])
    return load(f"oci-dir:{tmp_path / 'oci'}").inventory


def test_dpkg_status_with_source_files_and_purl(tmp_path: Path) -> None:
    copyright_ = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                  "Files: *\nCopyright: 1987-2022 FSF\nLicense: GPL-3+\n\nFiles: lib/x\nLicense: GPL-3+\n\n"
                  "License: GPL-3+\n full text\n\nFiles: doc/*\nLicense: GFDL-NIV-1.3\n")
    inv = inventory(tmp_path, [OS_DEBIAN, file("var/lib/dpkg/status", DPKG_STATUS),
                               file("usr/share/doc/bash/copyright", copyright_),
                               file("usr/share/doc/libc6/copyright", "not machine readable\nLicense: x\n")],
                    [file("var/lib/dpkg/info/bash.list", "/.\n/bin\n/bin/bash\n"), file("bin/bash", "elf")])
    pkgs = {p.name: p for p in inv.packages}
    assert set(pkgs) == {"bash", "libc6", "libssl3"}  # config-files only: not installed
    assert pkgs["bash"].purl == "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"
    assert pkgs["bash"].files == ("/bin", "/bin/bash") and pkgs["bash"].layer == 1
    assert pkgs["libc6"].layer == 0
    assert (pkgs["libc6"].source_name, pkgs["libc6"].source_version) == ("glibc", "2.36-9+deb12u4")
    assert (pkgs["libssl3"].source_name, pkgs["libssl3"].source_version) == ("openssl", "3.0.11-1~deb12u2")
    assert "upstream=glibc" in pkgs["libc6"].purl
    assert pkgs["bash"].licenses == ("GPL-3+", "GFDL-NIV-1.3") and pkgs["libc6"].licenses == ()


def test_distroless_status_d_one_stanza_per_file(tmp_path: Path) -> None:
    inv = inventory(tmp_path, [
        OS_DEBIAN,
        file("var/lib/dpkg/status.d/base-files", "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64"),
        file("var/lib/dpkg/status.d/tzdata", "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"),
        file("var/lib/dpkg/status.d/tzdata.md5sums", "abc  usr/share/zoneinfo/UTC\n"),
    ])
    assert sorted((p.name, p.version) for p in inv.packages) == [("base-files", "12.4+deb12u5"),
                                                                 ("tzdata", "2024a-0+deb12u1")]


def test_apk_installed_db(tmp_path: Path) -> None:
    db = ("C:Q1abc=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nL:MIT\no:musl\nF:lib\nR:ld-musl-x86_64.so.1\n\n"
          "P:libcrypto3\nV:3.1.4-r5\nA:x86_64\nL:Apache-2.0\no:openssl\nF:usr/lib\nR:libcrypto.so.3\n")
    inv = inventory(tmp_path, [file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
                               file("lib/apk/db/installed", db),
                               file("lib/ld-musl-x86_64.so.1", "x"), file("usr/lib/libcrypto.so.3", "x")])
    pkgs = {p.name: p for p in inv.packages}
    assert pkgs["libcrypto3"].source_name == "openssl" and pkgs["libcrypto3"].licenses == ("Apache-2.0",)
    assert pkgs["libcrypto3"].files == ("/usr/lib/libcrypto.so.3",)
    assert pkgs["musl"].purl == "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"


def rpm_header(tags: list[tuple[int, int, bytes, int]]) -> bytes:
    """Build a big-endian rpm header blob: (tag, type, data, count)."""
    index, data = b"", b""
    for tag, typ, payload, count in tags:
        if typ == rpm.INT32:
            while len(data) % 4:
                data += b"\0"
        index += struct.pack(">iIiI", tag, typ, len(data), count)
        data += payload
    return struct.pack(">ii", len(tags), len(data)) + index + data


def s(text: str) -> bytes:
    return text.encode() + b"\0"


def test_rpm_sqlite_headers(tmp_path: Path) -> None:
    db = tmp_path / "rpmdb.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
    blob = rpm_header([(rpm.NAME, rpm.STRING, s("bash"), 1), (rpm.VERSION, rpm.STRING, s("5.1.8"), 1),
                       (rpm.RELEASE, rpm.STRING, s("6.el9"), 1), (rpm.EPOCH, rpm.INT32, struct.pack(">i", 1), 1),
                       (rpm.LICENSE, rpm.STRING, s("GPLv3+"), 1), (rpm.ARCH, rpm.STRING, s("x86_64"), 1),
                       (rpm.SOURCERPM, rpm.STRING, s("bash-5.1.8-6.el9.src.rpm"), 1),
                       (rpm.DIRINDEXES, rpm.INT32, struct.pack(">ii", 0, 1), 2),
                       (rpm.BASENAMES, rpm.STRING_ARRAY, s("bash") + s("bashrc"), 2),
                       (rpm.DIRNAMES, rpm.STRING_ARRAY, s("/usr/bin/") + s("/etc/"), 2)])
    conn.execute("INSERT INTO Packages VALUES (1, ?)", (blob,))
    conn.execute("INSERT INTO Packages VALUES (2, ?)", (b"\x00\x00\x00\xff garbage",))
    conn.commit()
    conn.close()
    inv = inventory(tmp_path, [file("etc/os-release", 'ID="rocky"\nVERSION_ID="9.3"\n'),
                               file("var/lib/rpm/rpmdb.sqlite", db.read_bytes())])
    (p,) = inv.packages
    assert (p.name, p.version, p.arch, p.source_name, p.licenses) == ("bash", "1:5.1.8-6.el9", "x86_64", "bash",
                                                                       ("GPLv3+",))
    assert p.files == ("/usr/bin/bash", "/etc/bashrc")
    assert p.purl.startswith("pkg:rpm/rocky/bash@5.1.8-6.el9?arch=x86_64&distro=rocky-9.3&epoch=1")
    assert any("1 unreadable header" in n for n in inv.notes)


def test_rpm_legacy_databases_are_reported_not_read(tmp_path: Path) -> None:
    inv = inventory(tmp_path, [file("var/lib/rpm/Packages", b"\0" * 64)])
    assert inv.packages == [] and any("Berkeley DB" in n and "NOT listed" in n for n in inv.notes)


def test_python_dist_info_egg_info_and_npm(tmp_path: Path) -> None:
    site = "usr/lib/python3/dist-packages"
    inv = inventory(tmp_path, [
        file(f"{site}/Requests_OAuthlib-1.3.1.dist-info/METADATA",
             "Metadata-Version: 2.1\nName: Requests_OAuthlib\nVersion: 1.3.1\nLicense: ISC\n\nbody"),
        file(f"{site}/Requests_OAuthlib-1.3.1.dist-info/RECORD", "requests_oauthlib/__init__.py,sha256=x,10\n"),
        file(f"{site}/six-1.16.0.egg-info", "Metadata-Version: 1.2\nName: six\nVersion: 1.16.0\nLicense: MIT\n"),
        file("app/node_modules/@types/node/package.json", json.dumps({"name": "@types/node", "version": "20.1.0",
                                                                      "license": "MIT"})),
        file("app/node_modules/lodash/package.json", json.dumps({"name": "lodash", "version": "4.17.21"})),
        file("app/node_modules/lodash/fp/package.json", json.dumps({"name": "not-a-package", "version": "0"})),
    ])
    got = {(p.type, p.name): p for p in inv.packages}
    assert set(got) == {("pypi", "Requests_OAuthlib"), ("pypi", "six"), ("npm", "@types/node"), ("npm", "lodash")}
    assert got["pypi", "Requests_OAuthlib"].purl == "pkg:pypi/requests-oauthlib@1.3.1"
    assert got["pypi", "Requests_OAuthlib"].files == (f"/{site}/requests_oauthlib/__init__.py",)
    assert got["npm", "@types/node"].purl == "pkg:npm/%40types/node@20.1.0"
    assert all(p.owner is None for p in inv.packages)


def test_language_packages_owned_by_a_deb_are_marked(tmp_path: Path) -> None:
    site = "usr/lib/python3/dist-packages"
    status = "Package: python3-six\nStatus: install ok installed\nArchitecture: all\nVersion: 1.16.0-4\n"
    inv = inventory(tmp_path, [OS_DEBIAN, file("var/lib/dpkg/status", status),
                               file("var/lib/dpkg/info/python3-six.list", f"/{site}/six-1.16.0.egg-info\n"),
                               file(f"{site}/six-1.16.0.egg-info", "Name: six\nVersion: 1.16.0\n"),
                               file(f"{site}/attrs-23.1.0.dist-info/METADATA", "Name: attrs\nVersion: 23.1.0\n")])
    owners = {p.name: p.owner for p in inv.packages}
    assert owners == {"python3-six": None, "six": "deb:python3-six", "attrs": None}


def go_binary(version: str, modinfo: str) -> bytes:
    def uvarint(n: int) -> bytes:
        out = b""
        while n >= 0x80:
            out += bytes([n & 0x7F | 0x80])
            n >>= 7
        return out + bytes([n])
    sentinel = b"0" * 16
    mod = (sentinel + modinfo.encode() + b"\n" + sentinel[:-1] + b"\n") if modinfo else b""
    head = golang.MAGIC + bytes([8, 2]) + b"\0" * 16
    body = uvarint(len(version)) + version.encode() + uvarint(len(mod)) + mod
    return golang.ELF + b"\0" * 28 + head + body + b"\0" * 2048


def test_go_buildinfo_synthetic_and_real(tmp_path: Path) -> None:
    modinfo = ("path\texample.com/app\nmod\texample.com/app\tv1.2.3\th1:x=\n"
               "dep\tgithub.com/a/b\tv0.1.0\th1:y=\ndep\tgolang.org/x/sys\tv0.1.0\th1:z=\n"
               "=>\tgolang.org/x/sys\tv0.2.0\th1:w=\nbuild\tvcs.revision=abc")
    info = golang.parse(go_binary("go1.22.1", modinfo))
    assert info is not None and info.go_version == "go1.22.1" and info.main == ("example.com/app", "v1.2.3")
    assert info.deps == (("github.com/a/b", "v0.1.0"), ("golang.org/x/sys", "v0.2.0"))
    inv = inventory(tmp_path, [file("usr/bin/app", go_binary("go1.22.1", modinfo), mode=0o755),
                               file("usr/bin/not-exec", go_binary("go1.9", ""), mode=0o644)])
    purls = sorted(p.purl for p in inv.packages)
    assert purls == ["pkg:golang/example.com/app@v1.2.3", "pkg:golang/github.com/a/b@v0.1.0",
                     "pkg:golang/golang.org/x/sys@v0.2.0", "pkg:golang/stdlib@go1.22.1"]


def test_go_buildinfo_of_a_debian_built_binary() -> None:
    """docker-registry is built by Debian with the Go named in its Built-Using field."""
    import subprocess

    path = Path("/usr/bin/docker-registry")
    if not path.exists():
        from tests import components

        components.unavailable("docker-registry", "not installed (scripts/install-system-deps.sh)")
    built = subprocess.run(["dpkg-query", "-W", "-f", "${Built-Using}", "docker-registry"], capture_output=True,
                           text=True, check=True).stdout
    info = golang.parse(path.read_bytes())
    assert info is not None
    major = info.go_version.removeprefix("go").rsplit(".", 1)[0]
    assert f"golang-{major} (= {info.go_version.removeprefix('go')}" in built


@pytest.mark.parametrize("compress", [False, True])
def test_go_buildinfo_found_through_the_elf_section_table(tmp_path: Path, compress: bool) -> None:
    """A real Go binary in a plain layer (read at offsets: ELF header, section table, 64 KiB) and
    in a gzip layer give what parsing the whole file gives; an ELF with a section table but no
    .go.buildinfo section is not a Go binary even if the magic occurs in its data."""
    path = Path("/usr/sbin/runc")
    if not path.exists():
        from tests import components

        components.unavailable("runc", "not installed (docker.io depends on it)")
    data = path.read_bytes()
    want = golang.parse(data)
    assert want is not None and want.go_version.startswith("go1.")
    not_go = bytearray(Path(sys.executable).resolve().read_bytes())
    assert not_go[:4] == golang.ELF and golang.MAGIC not in not_go
    not_go[1 << 16:(1 << 16) + 48] = go_binary("go1.20", "")[32:80]  # the magic, 16-aligned, in no section
    oci_layout(tmp_path / "oci", [layer_tar([file("usr/bin/runc", data, mode=0o755),
                                             file("usr/bin/fake", bytes(not_go), mode=0o755)])], compress=compress)
    inv = load(f"oci-dir:{tmp_path / 'oci'}").inventory
    stdlib = [p for p in inv.packages if p.type == "golang" and p.name == "stdlib"]
    assert [(p.version, p.location) for p in stdlib] == [(want.go_version, "/usr/bin/runc")]


def jar(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_java_pom_properties_manifest_and_nested(tmp_path: Path) -> None:
    inner = jar({"META-INF/maven/org.slf4j/slf4j-api/pom.properties": b"groupId=org.slf4j\nartifactId=slf4j-api\n"
                                                                        b"version=2.0.9\n"})
    manifest_only = jar({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nImplementation-Title: tool\r\n"
                                                 b"Implementation-Version: 3.1\r\n\r\n"})
    bomb = jar({"big.jar": b"\0" * (80 << 20)})
    outer = jar({"META-INF/maven/com.example/app/pom.properties": b"groupId=com.example\nartifactId=app\n"
                                                                  b"version=1.0.0\n",
                 "BOOT-INF/lib/slf4j-api-2.0.9.jar": inner})
    inv = inventory(tmp_path, [file("app/app.jar", outer), file("opt/tool.jar", manifest_only),
                               file("opt/bomb.jar", bomb)])
    got = sorted((p.name, p.version, p.location) for p in inv.packages)
    assert got == [("com.example:app", "1.0.0", "/app/app.jar"),
                   ("org.slf4j:slf4j-api", "2.0.9", "/app/app.jar!/BOOT-INF/lib/slf4j-api-2.0.9.jar"),
                   ("tool", "3.1", "/opt/tool.jar")]
    assert any(p.purl == "pkg:maven/org.slf4j/slf4j-api@2.0.9" for p in inv.packages)
