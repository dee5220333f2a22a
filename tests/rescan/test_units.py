"""rescan_one without a registry: the stored-inventory path, unreadable stored rows, failed notifications."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

import mamori.store.rescan as store
import mamori.store.vulndb  # noqa: F401 - registers the advisory tables
from mamori.image.catalog.model import Inventory, OsRelease, Package
from mamori.image.errors import ImageError
from mamori.store.db import open_db
from mamori.vuln.db import import_path
from mamori.vuln.rescan import ImageResult, inventory_from_json, inventory_to_json, rescan_one
from mamori.vuln.walk import Subject, parse_registry_target
from tests.rescan.test_rescan import osv

DIGEST = "sha256:" + "ab" * 32


def inventory() -> Inventory:
    os_ = OsRelease("debian", "12", codename="bookworm", id_like=("x",))
    q = "?arch=amd64&distro=debian-12"
    return Inventory(os_, [Package("deb", "demo-lib", "1.0-1", f"pkg:deb/debian/demo-lib@1.0-1{q}",
                                   "/var/lib/dpkg/status", 0, "demo-lib", "1.0-1", "amd64", ("MIT",), ("/a", "/b"))])


def engine(tmp_path: Path) -> Engine:
    e = open_db(f"sqlite:///{tmp_path / 'm.db'}")
    import_path(e, osv(tmp_path / "a.json", "OSV-U-1", "demo-lib", "1.0-2"))
    return e


def test_round_trip_drops_file_lists_only() -> None:
    inv = inventory()
    back = inventory_from_json(json.loads(json.dumps(inventory_to_json(inv))))
    assert back.os == inv.os
    assert back.packages[0].files == () and back.packages[0].licenses == ("MIT",)
    assert back.packages[0].purl == inv.packages[0].purl and back.packages[0].source_version == "1.0-1"


def test_stored_inventory_and_bad_rows(tmp_path: Path) -> None:
    e = engine(tmp_path)
    calls: list[str] = []

    def load(ref: str) -> Inventory:
        calls.append(ref)
        return inventory()

    s = Subject(DIGEST, "registry:h/r@" + DIGEST)
    first = rescan_one(e, s, load)
    assert first.error is None and first.downloaded and first.first_scan and calls == [s.ref]
    assert [f.id for f in first.new] == ["OSV-U-1"]
    second = rescan_one(e, s, load)
    assert not second.downloaded and second.new == [] and len(second.findings) == 1 and len(calls) == 1
    with e.begin() as c:  # a row this version cannot read: the image is read again, history kept
        c.execute(update(store.RESCAN_IMAGES).values(inventory=json.dumps({"os": {"bogus": 1}})))
    third = rescan_one(e, s, load)
    assert third.error is None and third.downloaded and not third.first_scan and third.new == [] and len(calls) == 2


def test_failed_notification_keeps_previous_result(tmp_path: Path) -> None:
    e = engine(tmp_path)
    s = Subject(DIGEST, "docker:" + DIGEST, containers=["web"])

    def refuse(res: ImageResult) -> None:
        raise RuntimeError("webhook http://127.0.0.1:1/: HTTP 500")

    bad = rescan_one(e, s, lambda ref: inventory(), refuse)
    assert bad.error is not None and "HTTP 500" in bad.error
    sent: list[ImageResult] = []
    again = rescan_one(e, s, lambda ref: inventory(), sent.append)
    assert again.error is None and not again.downloaded and [f.id for f in again.new] == ["OSV-U-1"]
    assert sent == [again] and sent[0].subject.containers == ["web"]


def test_load_failure_is_one_line(tmp_path: Path) -> None:
    e = engine(tmp_path)

    def broken(ref: str) -> Inventory:
        raise ValueError("layer 3 is not a tar\nsecond line")

    res = rescan_one(e, Subject(DIGEST, "docker:x"), broken)
    assert res.error == "ValueError: layer 3 is not a tar"
    assert store.get(e, DIGEST) is None


def test_registry_target() -> None:
    assert parse_registry_target("registry:127.0.0.1:5000/shop/web") == ("127.0.0.1:5000", "shop/web")
    assert parse_registry_target("127.0.0.1:5000") == ("127.0.0.1:5000", "")
    for bad in ("registry:", "registry:a b", "registry:" + "h" * 2000):
        with pytest.raises(ImageError, match="invalid registry target"):
            parse_registry_target(bad)
