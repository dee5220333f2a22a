"""The pieces that need no daemon: /proc socket tables, bundle paths, the archive reader, the writer."""

from __future__ import annotations

import io
import ipaddress
import socket
import struct
import tarfile
from pathlib import Path

import pytest

from mamori.forensics import procnet
from mamori.forensics.bundle import BundleWriter
from mamori.forensics.errors import ForensicsError
from mamori.forensics.files import _read_member, file_type
from mamori.forensics.paths import check_rel, container_rel


def kernel_hex(ip: str) -> str:
    """How the kernel prints an address: each 32-bit word in host (little-endian) order."""
    raw = ipaddress.ip_address(ip).packed
    return "".join(struct.pack("<I", struct.unpack(">I", raw[i:i + 4])[0]).hex().upper()
                   for i in range(0, len(raw), 4))


@pytest.mark.parametrize(("ip", "port"), [("127.0.0.1", 8080), ("10.1.2.3", 443), ("::1", 22),
                                          ("fe80::1:2:3:4", 65535), ("0.0.0.0", 0)])
def test_proc_net_addresses(ip: str, port: int) -> None:
    line = (f"   0: {kernel_hex(ip)}:{port:04X} {kernel_hex(ip)}:0050 01 00000000:00000000 00:00000000 "
            "00000000  1000        0 424242 1 0000000000000000 20 4 30 10 -1")
    rows = procnet.parse("tcp6" if ":" in ip else "tcp", ("header\n" + line + "\n").encode())
    assert rows == [{"proto": "tcp6" if ":" in ip else "tcp", "local": ip, "local_port": port, "remote": ip,
                     "remote_port": 80, "state": "ESTABLISHED", "uid": "1000", "inode": "424242"}]


def test_proc_net_of_this_process_finds_a_real_listener() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rows = procnet.parse("tcp", Path("/proc/self/net/tcp").read_bytes())
    assert any(r["local"] == "127.0.0.1" and r["local_port"] == port and r["state"] == "LISTEN" for r in rows)


def test_proc_net_garbage_is_skipped() -> None:
    assert procnet.parse("udp", b"hdr\nnot a row\n 0: ZZ:1 00:0 07 a b c d e f\n") == []


def test_remote_daemon_and_stopped_container_say_why() -> None:
    tables, _ = procnet.read_tables(1, "x", local_daemon=False)
    assert all(t.raw is None and "not on this machine" in (t.reason or "") for t in tables)
    tables, _ = procnet.read_tables(0, "x", local_daemon=True)
    assert all(t.raw is None and "not running" in (t.reason or "") for t in tables)


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "..", "a//b", "./a", "a/.", "a\\b", "a\x00b", "x" * 300,
                                 "a/" * 2100 + "b"])
def test_unsafe_bundle_paths(bad: str) -> None:
    assert check_rel(bad) is not None


def test_container_paths_map_under_fs() -> None:
    assert container_rel("/etc/passwd") == "container/fs/etc/passwd"
    assert container_rel("/tmp/./x") == "container/fs/tmp/x"
    assert container_rel("/tmp/../etc/shadow") is None
    assert container_rel("/") is None


def tar_of(*members: tuple[tarfile.TarInfo, bytes | None]) -> list[bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    return [raw[i:i + 1000] for i in range(0, len(raw), 1000)]  # the API's chunks


def reg(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_archive_member_is_read() -> None:
    assert _read_member(iter(tar_of(reg("evil.sh", b"payload"))), "evil.sh", 100) == b"payload"


@pytest.mark.parametrize(("members", "message"), [
    ([reg("../evil.sh", b"x")], "unexpected member"),
    ([reg("other", b"x")], "unexpected member"),
    ([reg("evil.sh", b"x"), reg("evil.sh", b"y")], "twice"),
    ([reg("evil.sh", b"x" * 101)], "larger than 100"),
    ([], "no member"),
])
def test_archive_refusals(members: list[tuple[tarfile.TarInfo, bytes]], message: str) -> None:
    with pytest.raises(ForensicsError, match=message):
        _read_member(iter(tar_of(*members)), "evil.sh", 100)


def test_archive_link_swapped_in_is_refused() -> None:
    link = tarfile.TarInfo("evil.sh")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    with pytest.raises(ForensicsError, match="not a regular file"):
        _read_member(iter(tar_of((link, None))), "evil.sh", 100)


def test_go_file_modes() -> None:
    assert file_type(0o644) == "file"
    assert file_type((1 << 31) | 0o755) == "directory"
    assert file_type((1 << 27) | 0o777) == "symlink"
    assert file_type((1 << 26) | (1 << 21) | 0o600) == "device"


def test_writer_never_leaves_its_root_nor_overwrites(tmp_path: Path) -> None:
    w = BundleWriter(tmp_path / "b")
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o700
    a = w.put_bytes("container/x", b"abc", "text/plain", "t")
    assert a.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" and a.size == 3
    assert ((tmp_path / "b/container/x").stat().st_mode & 0o777) == 0o600
    for bad in ("../escape", "/abs", "manifest.json", "container/x"):
        with pytest.raises(ForensicsError):
            w.put_bytes(bad, b"", "text/plain", "t")
    assert not (tmp_path / "escape").exists()
    with pytest.raises(ForensicsError, match="never written over"):
        BundleWriter(tmp_path / "b")


def test_stream_bounds(tmp_path: Path) -> None:
    w = BundleWriter(tmp_path / "b")
    kept = w.put_stream("log", [b"12345", b"67890"], 7, "text/plain", "logs", keep_truncated=True)
    assert kept is not None and kept.size == 7 and kept.source["truncated_at"] == 7
    assert (tmp_path / "b/log").read_bytes() == b"1234567"
    assert w.put_stream("export", [b"12345", b"67890"], 7, "x", "export", keep_truncated=False) is None
    assert not (tmp_path / "b/export").exists()
    assert [x.path for x in w.artifacts] == ["log"]


def test_adopted_tree_is_all_or_nothing(tmp_path: Path) -> None:
    w = BundleWriter(tmp_path / "b")
    (tmp_path / "b/memory/cp").mkdir(parents=True)
    (tmp_path / "b/memory/cp/pages-1.img").write_bytes(b"\x00" * 10)
    got = w.adopt_tree("memory", "application/octet-stream", "memory", {})
    assert [(a.path, a.size) for a in got] == [("memory/cp/pages-1.img", 10)] and w.artifacts == got
    w2 = BundleWriter(tmp_path / "c")
    (tmp_path / "c/memory").mkdir()
    (tmp_path / "c/memory/a.img").write_bytes(b"x")
    (tmp_path / "c/memory/z").symlink_to("/etc/shadow")
    with pytest.raises(ForensicsError, match="not a regular file"):
        w2.adopt_tree("memory", "application/octet-stream", "memory", {})
    assert w2.artifacts == [] and not (tmp_path / "c/memory/z").is_symlink()


def test_diff_kinds_from_a_hostile_daemon() -> None:
    from mamori.forensics.files import kind_of

    assert [kind_of(k) for k in (0, 1, 2, 3, True, "1", None, [1])] == [
        "modified", "added", "deleted", "unknown", "unknown", "unknown", "unknown", "unknown"]


def test_a_deeply_nested_manifest_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    from mamori.forensics.signing import Trust
    from mamori.forensics.verify import verify_bundle

    (tmp_path / "b").mkdir()
    (tmp_path / "b/manifest.json").write_text("[" * 200_000)
    rep = verify_bundle(str(tmp_path / "b"), Trust())
    assert ("manifest", "manifest.json") in {(p.kind, p.path) for p in rep.problems} and not rep.ok


def test_encrypted_signing_key_needs_its_passphrase(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from mamori.forensics.signing import load_signer

    key = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.BestAvailableEncryption(b"s3cret-pass")))
    signer = load_signer(str(tmp_path / "k.pem"), b"s3cret-pass")
    assert signer.describe()["algorithm"] == "ecdsa-secp384r1-sha384"
    for wrong in (None, b"nope"):
        with pytest.raises(ForensicsError) as err:
            load_signer(str(tmp_path / "k.pem"), wrong)
        assert "s3cret" not in str(err.value)
    with pytest.raises(ForensicsError, match="cannot read signing key"):
        load_signer(str(tmp_path / "absent.pem"), None)
