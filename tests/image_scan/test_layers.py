"""Secrets across layers, on OCI layouts built with tarfile: whiteouts, opaque dirs, overwrites."""

from __future__ import annotations

from pathlib import Path

from mamori.image.contents import load_with_contents
from mamori.model.imagefs import ImageContents
from tests.image.layouts import file, layer_tar, oci_layout
from tests.secrets.fakes import ALNUM, body


def _token(seed: int) -> str:
    return "ghp_" + body(36, ALNUM, 100 + seed)


def _contents(tmp_path: Path, layers: list[bytes], **cfg: object) -> ImageContents:
    oci_layout(tmp_path / "oci", layers, config_extra=cfg)
    _, contents = load_with_contents(f"oci-dir:{tmp_path / 'oci'}:1")
    return contents


def test_deleted_overwritten_opaque_and_kept(tmp_path: Path) -> None:
    t = [_token(i) for i in range(5)]
    l0 = layer_tar([file("app/deleted.txt", f"T={t[0]}\n"), file("app/replaced.txt", f"T={t[1]}\n"),
                    file("cfg/inner.txt", f"x\nT={t[2]}\n"), file("app/kept.txt", f"T={t[3]}\n"),
                    file("app/same.txt", f"T={t[4]}\n")])
    l1 = layer_tar([file("app/.wh.deleted.txt"), file("app/replaced.txt", "nothing here\n"),
                    file("cfg/.wh..wh..opq"), file("cfg/new.txt", "fine\n"), file("app/same.txt", f"T={t[4]}\n")])
    c = _contents(tmp_path, [l0, l1])
    got = {(s.path, s.layer, s.removed) for s in c.secrets}
    assert got == {("/app/deleted.txt", 0, True), ("/app/replaced.txt", 0, True), ("/cfg/inner.txt", 0, True),
                   ("/app/kept.txt", 0, False), ("/app/same.txt", 1, False)}  # same value rewritten: reported once
    inner = next(s for s in c.secrets if s.path == "/cfg/inner.txt")
    assert inner.line == 2 and inner.detector == "github-token"
    assert not any(v in repr(c) for v in t)


def test_layer_sizes_and_history(tmp_path: Path) -> None:
    l0 = layer_tar([file("a", b"x" * 1000), file("b", b"y" * 24)])
    l1 = layer_tar([file("c", b"z" * 7)])
    history = [{"created_by": "ADD rootfs /"}, {"created_by": "x", "empty_layer": True}, {"created_by": "COPY c /c"}]
    c = _contents(tmp_path, [l0, l1], history=history)
    assert [(x.index, x.size, x.files, x.created_by) for x in c.layers] == [(0, 1024, 2, "ADD rootfs /"),
                                                                             (1, 7, 1, "COPY c /c")]
    assert c.size == 1031


def test_modes_and_runtime_facts(tmp_path: Path) -> None:
    l0 = layer_tar([file("bin/sh", "x", 0o755), file("usr/bin/passwd", "x", 0o4755),
                    file("var/lib/dpkg/status.d/base", "Package: base\n"), file("etc/plain", "x", 0o644)])
    c = _contents(tmp_path, [l0], config={"Cmd": ["/app/server"]})
    paths = {f.path: f.mode for f in c.files}
    assert paths == {"/bin/sh": 0o755, "/usr/bin/passwd": 0o4755}
    assert c.distroless and not c.command_shell and c.os_packages == ""
