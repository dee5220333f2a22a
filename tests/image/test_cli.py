"""`mamori image` through click: text and JSON output, errors without tracebacks."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from mamori.cli.main import cli
from tests.image.layouts import Member, file, layer_tar, oci_layout


def test_inspect_text_without_os_release_and_with_refusals(tmp_path: Path) -> None:
    oci_layout(tmp_path / "o", [layer_tar([file("bin/x", "x"), Member("dev/null", type=tarfile.CHRTYPE),
                                           file("../escape", "x")])])
    r = CliRunner().invoke(cli, ["image", "inspect", f"oci-dir:{tmp_path / 'o'}"])
    assert r.exit_code == 0, r.output
    assert "os:       unknown" in r.output and "refused:  2 layer member(s)" in r.output
    assert "packages: none" in r.output
    j = CliRunner().invoke(cli, ["image", "inspect", "--json", f"oci-dir:{tmp_path / 'o'}"])
    doc = json.loads(j.output)
    assert doc["refused"] == 2 and {r["reason"] for r in doc["refusals"]} == {"device node or FIFO",
                                                                               "path traversal (..)"}


def test_sbom_to_file_and_stdout(tmp_path: Path) -> None:
    oci_layout(tmp_path / "o", [layer_tar([file("etc/os-release", "ID=debian\nVERSION_ID=12\n")])])
    out = tmp_path / "sbom.json"
    r = CliRunner().invoke(cli, ["image", "sbom", "--format", "spdx", "-o", str(out), f"oci-dir:{tmp_path / 'o'}"])
    assert r.exit_code == 0 and json.loads(out.read_text())["spdxVersion"] == "SPDX-2.3"
    r = CliRunner().invoke(cli, ["image", "sbom", f"oci-dir:{tmp_path / 'o'}"])
    assert json.loads(r.output)["bomFormat"] == "CycloneDX"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    for args in (["image", "sbom", "--password-stdin", "registry:127.0.0.1:1/x:1"],
                 ["image", "inspect", "--platform", "linux", f"oci-dir:{tmp_path}"],
                 ["image", "inspect", "registry:127.0.0.1:1/x:1", "--insecure"],
                 ["image", "inspect", "docker-archive:/nonexistent.tar"]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.exception)


def test_image_commands_raise_the_gc_threshold_while_they_run(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The cyclic collector stays out of an image read (see GC_THRESHOLD) and is as before afterwards."""
    import gc

    import mamori.image
    from mamori.cli.image import GC_THRESHOLD

    oci_layout(tmp_path / "o", [layer_tar([file("etc/os-release", "ID=debian\nVERSION_ID=12\n")])])
    seen: list[tuple[int, ...]] = []
    real = mamori.image.load

    def spy(*a: object, **k: object) -> object:
        seen.append(gc.get_threshold())
        return real(*a, **k)  # type: ignore[arg-type]

    before = gc.get_threshold()
    assert before != GC_THRESHOLD
    monkeypatch.setattr(mamori.image, "load", spy)
    r = CliRunner().invoke(cli, ["image", "sbom", f"oci-dir:{tmp_path / 'o'}"])
    assert r.exit_code == 0, r.output
    assert seen == [GC_THRESHOLD]
    assert gc.get_threshold() == before


def test_sbom_the_writer_refuses_exits_2_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mamori.image import sbom

    def refuse(*_: object) -> str:
        raise sbom.SbomError("the SPDX document is not valid: [example]")

    oci_layout(tmp_path / "o", [layer_tar([file("etc/os-release", "ID=debian\nVERSION_ID=12\n")])])
    monkeypatch.setattr(sbom, "spdx", refuse)
    out = tmp_path / "doc.json"
    r = CliRunner().invoke(cli, ["image", "sbom", "--format", "spdx", "-o", str(out), f"oci-dir:{tmp_path / 'o'}"])
    assert r.exit_code == 2 and "not valid: [example]" in r.output and not out.exists()
