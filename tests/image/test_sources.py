"""Real images from a private dockerd, a local registry, docker save archives and skopeo OCI layouts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mamori.image import ImageError, RegistryOptions, load
from mamori.image.auth import Credentials
from tests.image import components as comp
from tests.image.conftest import PASSWORD, USER, Forms


def refs(f: Forms, daemon_host: str) -> dict[str, str]:
    return {"docker": f"docker:{f.tag}", "archive": f"docker-archive:{f.archive}", "oci": f"oci-dir:{f.oci}",
            "registry": f"registry:{f.pushed}"}


INSECURE = RegistryOptions(insecure=True)


def test_kitchen_image_reads_the_same_from_every_source(kitchen: Forms, daemon) -> None:  # type: ignore[no-untyped-def]
    results = {k: load(r, registry=INSECURE, docker_host=daemon.host) for k, r in refs(kitchen, daemon.host).items()}
    inspect = json.loads(daemon.docker("image", "inspect", kitchen.tag).stdout)[0]
    base = len(json.loads(daemon.docker("image", "inspect", "mamori-test/busybox:1").stdout)[0]["RootFS"]["Layers"])
    for name, res in results.items():
        assert res.image.config.diff_ids == inspect["RootFS"]["Layers"], name
        v = res.view
        # the last RUN deleted these: whiteouts must hide them
        assert "/secret-to-delete" not in v.entries and "/tmp/junk" not in v.entries, name
        assert v.entries["/bin/busybox"].layer == 0 and v.entries["/usr/bin/docker-registry"].layer == base, name
        assert v.refused == 0, name
        pk = {(p.type, p.name): p for p in res.inventory.packages}
        assert pk["pypi", "demo_pkg"].purl == "pkg:pypi/demo-pkg@0.4.2", name
        assert pk["npm", "left-pad"].licenses == ("WTFPL",), name
        assert pk["golang", "stdlib"].location == "/usr/bin/docker-registry", name
        assert res.inventory.os is not None and res.inventory.os.id == "mamori", name
    files = {k: sorted(r.view.entries) for k, r in results.items()}
    assert files["docker"] == files["archive"] == files["oci"] == files["registry"]
    pkgs = {k: sorted(p.purl for p in r.inventory.packages) for k, r in results.items()}
    assert pkgs["docker"] == pkgs["archive"] == pkgs["oci"] == pkgs["registry"]
    # the registry manifest digest is the one dockerd recorded when pushing
    repo_digests = json.loads(daemon.docker("image", "inspect", kitchen.pushed).stdout)[0]["RepoDigests"]
    assert f"{kitchen.pushed.rsplit(':', 1)[0]}@{results['registry'].image.digest}" in repo_digests


def test_registry_by_digest_and_wrong_digest(kitchen: Forms) -> None:
    first = load(f"registry:{kitchen.pushed}", registry=INSECURE)
    repo = kitchen.pushed.rsplit(":", 1)[0]
    again = load(f"registry:{repo}@{first.image.digest}", registry=INSECURE)
    assert again.image.config.digest == first.image.config.digest
    with pytest.raises(ImageError, match=r"manifest sha256:0{64}"):
        load(f"registry:{repo}@sha256:{'0' * 64}", registry=INSECURE)


def test_registry_without_insecure_fails_closed_on_plain_http(kitchen: Forms) -> None:
    with pytest.raises(ImageError, match="cannot reach registry"):
        load(f"registry:{kitchen.pushed}")


def test_tampered_blob_in_registry_storage_is_an_error(kitchen: Forms) -> None:
    reg = comp.start_registry()
    try:
        r = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"oci:{kitchen.oci}:1",
                            f"docker://{reg.host}/victim:1"], capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode == 0, r.stderr
        ok = load(f"registry:{reg.host}/victim:1", registry=INSECURE)
        layer = ok.image.layers[-1].digest
        assert layer is not None
        hexd = layer.split(":")[1]
        data = reg.root / "data/docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"
        raw = bytearray(data.read_bytes())
        raw[-40] ^= 0x01  # inside the gzip trailer region: still a stream, wrong bytes
        data.write_bytes(bytes(raw))
        with pytest.raises(ImageError, match=r"digest mismatch|corrupt|CRC|cannot read"):
            load(f"registry:{reg.host}/victim:1", registry=INSECURE)
    finally:
        reg.stop()


def test_basic_auth_registry(kitchen: Forms, auth_registry: comp.Registry) -> None:
    r = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}",
                        f"oci:{kitchen.oci}:1", f"docker://{auth_registry.host}/private:1"], capture_output=True,
                       text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    ref = f"registry:{auth_registry.host}/private:1"
    good = load(ref, registry=RegistryOptions(insecure=True, credentials=Credentials(USER, PASSWORD)))
    assert good.image.digest is not None and len(good.view.entries) > 10
    with pytest.raises(ImageError, match=r"authentication failed.*no credentials"):
        load(ref, registry=INSECURE)
    with pytest.raises(ImageError, match="authentication failed") as err:
        load(ref, registry=RegistryOptions(insecure=True, credentials=Credentials(USER, "wrong-password")))
    assert "wrong-password" not in str(err.value)


def test_credentials_from_docker_config(kitchen: Forms, auth_registry: comp.Registry, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}",
                    f"oci:{kitchen.oci}:1", f"docker://{auth_registry.host}/private:1"], capture_output=True,
                   timeout=300, check=True)
    cfg = tmp_path / "dc"
    cfg.mkdir()
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (cfg / "config.json").write_text(json.dumps({"auths": {auth_registry.host: {"auth": token},
                                                           "other.example": {"auth": "bm9wZTpub3Bl"}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    ref = f"registry:{auth_registry.host}/private:1"
    assert load(ref, registry=INSECURE).image.digest is not None
    with pytest.raises(ImageError, match="no credentials given"):
        load(ref, registry=RegistryOptions(insecure=True, docker_config=False))
    (cfg / "config.json").write_text(json.dumps({"auths": {"other.example": {"auth": token}}}))
    with pytest.raises(ImageError, match="no credentials given"):
        load(ref, registry=INSECURE)


def test_debian_packages_equal_dpkg_query(debian: Forms, daemon) -> None:  # type: ignore[no-untyped-def]
    expected = subprocess.run(["chroot", str(comp.ROOTFS), "dpkg-query", "-W", "-f", "${Package} ${Version}\n"],
                              capture_output=True, text=True, check=True, timeout=120).stdout
    want = sorted(tuple(line.split(" ", 1)) for line in expected.splitlines() if line)
    assert len(want) > 50
    import stat

    devices = sorted("/" + str(p.relative_to(comp.ROOTFS)) for p in comp.ROOTFS.rglob("*")
                     if not p.is_symlink() and stat.S_ISCHR(p.lstat().st_mode) | stat.S_ISBLK(p.lstat().st_mode)
                     | stat.S_ISFIFO(p.lstat().st_mode))
    for ref in (f"registry:{debian.pushed}", f"docker-archive:{debian.archive}", f"oci-dir:{debian.oci}"):
        res = load(ref, registry=INSECURE)
        debs = [p for p in res.inventory.packages if p.type == "deb"]
        # debootstrap's /dev nodes are refused, each one counted and named
        assert sorted(r.path for r in res.view.refusals) == devices and res.view.refused == len(devices), ref
        assert sorted((p.name, p.version) for p in debs) == want, ref
        assert res.inventory.os is not None and (res.inventory.os.id, res.inventory.os.version_id) == ("debian", "12")
        bash = next(p for p in debs if p.name == "bash")
        assert bash.purl == f"pkg:deb/debian/bash@{bash.version.replace('+', '%2B')}?arch=amd64&distro=debian-12"
        assert "/bin/bash" in bash.files or "/usr/bin/bash" in bash.files
        libc = next(p for p in debs if p.name == "libc6")
        assert libc.source_name == "glibc"
        # licences come from DEP-5 copyright files: each one is a License: line of that file
        with_lic = [p for p in debs if p.licenses]
        assert len(with_lic) > 10
        for p in with_lic:
            text = (comp.ROOTFS / f"usr/share/doc/{p.name}/copyright").read_text(errors="replace")
            lines = {ln[len("License:"):].strip() for ln in text.splitlines() if ln.startswith("License:")}
            assert set(p.licenses) <= lines, p.name


def test_bare_reference_tries_daemon_then_registry(kitchen: Forms, daemon) -> None:  # type: ignore[no-untyped-def]
    from_daemon = load(kitchen.tag, docker_host=daemon.host)
    assert from_daemon.image.source == "docker"
    # not in the daemon under this name: the registry answers
    from_registry = load(kitchen.pushed, registry=INSECURE, docker_host="unix:///nonexistent.sock")
    assert from_registry.image.source == "registry"


def test_cli_inspect_and_sbom(kitchen: Forms, tmp_path: Path) -> None:
    out = subprocess.run([".venv/bin/mamori", "image", "inspect", "--json", f"oci-dir:{kitchen.oci}"],
                         capture_output=True, text=True, check=True, timeout=300)
    doc = json.loads(out.stdout)
    assert doc["platform"] == "linux/amd64" and doc["packages"]["pypi"] == 1 and len(doc["layers"]) >= 3
    bad = subprocess.run([".venv/bin/mamori", "image", "sbom", f"oci-dir:{tmp_path}/missing"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "not an OCI image layout" in bad.stderr
    ins = subprocess.run([".venv/bin/mamori", "image", "inspect", "--insecure", "registry:example.com/x:1"],
                         capture_output=True, text=True, timeout=60)
    assert ins.returncode == 2 and "only accepted for loopback" in ins.stderr


def test_tls_registry_with_custom_ca(kitchen: Forms, tmp_path: Path) -> None:
    from mamori.enforce.certs import new_ca, serving_cert

    ca = new_ca("mamori test registry CA")
    leaf = serving_cert(ca, [], ["127.0.0.1"])
    other = new_ca("some other CA")
    reg = comp.start_registry(tls=(leaf.cert_pem, leaf.key_pem))
    try:
        r = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"oci:{kitchen.oci}:1",
                            f"docker://{reg.host}/tls:1"], capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode == 0, r.stderr
        (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
        (tmp_path / "other.pem").write_bytes(other.cert_pem)
        ref = f"registry:{reg.host}/tls:1"
        good = load(ref, registry=RegistryOptions(ca_file=str(tmp_path / "ca.pem")))
        assert good.image.digest is not None and good.inventory.packages
        for opts in (RegistryOptions(), RegistryOptions(ca_file=str(tmp_path / "other.pem"))):
            with pytest.raises(ImageError, match=r"cannot reach registry.*CERTIFICATE_VERIFY_FAILED"):
                load(ref, registry=opts)
        # --insecure on loopback: TLS without verification (no fallback to plain HTTP needed)
        assert load(ref, registry=INSECURE).image.digest == good.image.digest
    finally:
        reg.stop()
