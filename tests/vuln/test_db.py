"""The advisory database: idempotent re-import, replacement of modified and withdrawn records,
snapshots, zip dumps and their bounds, provenance and status, and the same schema on PostgreSQL."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from mamori.store.vulndb import VULN_AFFECTED, VULN_IMPORTS, VULN_RECORDS
from mamori.vuln.db import Limits, VulnDBError, import_path, status
from mamori.vuln.match import match_targets
from mamori.vuln.targets import target_from_purl
from tests import pg
from tests.vuln.conftest import new_engine, vulndata


def _rec(rid: str, modified: str, fixed: str, name: str = "demo", withdrawn: str | None = None) -> dict[str, object]:
    doc: dict[str, object] = {"id": rid, "modified": modified, "aliases": [f"CVE-{rid[-4:]}-0001"], "affected": [
        {"package": {"ecosystem": "PyPI", "name": name},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}
    if withdrawn:
        doc["withdrawn"] = withdrawn
    return doc


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def _fixed(engine: Engine, purl: str) -> dict[str, str | None]:
    t = target_from_purl(purl)
    assert t is not None
    return {f.id: f.fixed for f in match_targets(engine, [t]).findings}


def test_real_data_reimport_is_idempotent(tmp_path: Path) -> None:
    engine = new_engine(tmp_path / "v.db")
    first = {s.source: s for s in import_path(engine, vulndata() / "osv" / "PyPI")}["osv"]
    n_rec, n_aff = _count(engine, VULN_RECORDS), _count(engine, VULN_AFFECTED)
    assert first.added == n_rec > 400 and n_aff >= n_rec
    again = {s.source: s for s in import_path(engine, vulndata() / "osv" / "PyPI")}["osv"]
    assert again.added == again.replaced == 0 and again.unchanged == again.records
    assert (_count(engine, VULN_RECORDS), _count(engine, VULN_AFFECTED)) == (n_rec, n_aff)
    srcs, ecos = status(engine)
    assert [s.source for s in srcs] == ["osv"] and srcs[0].records == n_rec and ecos["PyPI"] > 400
    with engine.connect() as c:
        rows = c.execute(select(VULN_IMPORTS.c.path, VULN_IMPORTS.c.added)).all()
        files = {f for (f,) in c.execute(select(VULN_RECORDS.c.file))}
    assert len(rows) == 2 and rows[0][1] == n_rec and rows[1][1] == 0
    assert all(f.startswith(str(vulndata() / "osv" / "PyPI")) for f in files)  # provenance per record


def test_modified_replaces_older_and_withdrawn_removes(tmp_path: Path) -> None:
    engine = new_engine(tmp_path / "v.db")
    f = tmp_path / "r.json"
    f.write_text(json.dumps(_rec("GHSA-demo-0001", "2024-01-01T00:00:00Z", "1.5")))
    import_path(engine, f)
    assert _fixed(engine, "pkg:pypi/demo@1.0") == {"CVE-0001-0001": "1.5"}
    f.write_text(json.dumps(_rec("GHSA-demo-0001", "2023-01-01T00:00:00Z", "9.9")))  # older: ignored
    st = import_path(engine, f)[0]
    assert st.unchanged == 1 and _fixed(engine, "pkg:pypi/demo@1.0") == {"CVE-0001-0001": "1.5"}
    f.write_text(json.dumps(_rec("GHSA-demo-0001", "2024-02-01T00:00:00+00:00", "1.7")))
    assert import_path(engine, f)[0].replaced == 1
    assert _fixed(engine, "pkg:pypi/demo@1.6") == {"CVE-0001-0001": "1.7"}
    assert _count(engine, VULN_AFFECTED) == 1
    f.write_text(json.dumps(_rec("GHSA-demo-0001", "2024-03-01T00:00:00Z", "1.7", withdrawn="2024-03-01T00:00:00Z")))
    assert import_path(engine, f)[0].withdrawn == 1
    assert _fixed(engine, "pkg:pypi/demo@1.0") == {} and _count(engine, VULN_AFFECTED) == 0


def test_snapshot_sources_drop_what_they_no_longer_list(tmp_path: Path) -> None:
    engine = new_engine(tmp_path / "v.db")
    src = vulndata() / "alpine-secdb" / "v3.19" / "main.json"
    f = tmp_path / "main.json"
    shutil.copy(src, f)
    n = import_path(engine, f)[0].added
    assert n > 1000 and _fixed(engine, "pkg:apk/alpine/zlib@1.2.12-r1?distro=alpine-3.19.0")
    doc = json.loads(src.read_text())
    doc["packages"] = [p for p in doc["packages"] if p["pkg"]["name"] != "zlib"]
    f.write_text(json.dumps(doc))
    st = import_path(engine, f)[0]
    assert st.withdrawn > 0 and _fixed(engine, "pkg:apk/alpine/zlib@1.2.12-r1?distro=alpine-3.19.0") == {}
    # another release's file is another namespace: untouched
    import_path(engine, vulndata() / "alpine-secdb" / "v3.18" / "main.json")
    assert _fixed(engine, "pkg:apk/alpine/zlib@1.2.12-r1?distro=alpine-3.18.4")


def test_all_zip_and_its_bounds(tmp_path: Path) -> None:
    engine = new_engine(tmp_path / "v.db")
    z = tmp_path / "all.zip"
    files = sorted((vulndata() / "osv" / "npm").glob("*.json"))
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            zf.write(p, p.name)
    st = import_path(engine, z)[0]
    assert st.records == len(files) and st.added == len(files)
    assert "npm" in status(engine)[1]
    with pytest.raises(VulnDBError, match="members"):
        import_path(engine, z, Limits(max_members=10))
    with pytest.raises(VulnDBError, match="uncompressed"):
        import_path(engine, z, Limits(max_total_uncompressed=10_000))
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.json", b" " * (5 << 20) + b"{}")
    st = import_path(engine, bomb, Limits(max_member_bytes=1 << 20))[0]
    assert st.records == 0 and any("skipped" in n for n in st.notes)


@pytest.mark.parametrize("content", [b"not json", b"[1, 2", b'{"some": "thing"}', b'{"id": "X"}'])
def test_bad_input_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    engine = new_engine(tmp_path / "v.db")
    f = tmp_path / "x.json"
    f.write_bytes(content)
    with pytest.raises(VulnDBError):
        import_path(engine, f)
    with pytest.raises(VulnDBError, match="no such"):
        import_path(engine, tmp_path / "missing.json")


def test_oversized_file_refused(tmp_path: Path) -> None:
    engine = new_engine(tmp_path / "v.db")
    f = tmp_path / "big.json"
    f.write_text(json.dumps(_rec("GHSA-demo-0002", "2024-01-01T00:00:00Z", "1.0")))
    with pytest.raises(VulnDBError, match="limit"):
        import_path(engine, f, Limits(max_file_bytes=50))


@pytest.fixture(scope="module")
def cluster() -> Iterator[pg.Cluster]:
    c = pg.start()
    yield c
    c.stop()


def test_postgresql_same_schema_same_answers(cluster: pg.Cluster, tmp_path: Path) -> None:
    import mamori.store.vulndb  # noqa: F401
    from mamori.store.db import open_db

    engine = open_db(cluster.url)
    lite = new_engine(tmp_path / "v.db")
    for e in (engine, lite):
        import_path(e, vulndata() / "osv" / "Debian")
        import_path(e, vulndata() / "debian-tracker")
    again = {s.source: s for s in import_path(engine, vulndata() / "osv" / "Debian")}["osv"]
    assert again.added == 0 and again.unchanged == again.records
    purls = ["pkg:deb/debian/libc6@2.36-9?distro=debian-12&upstream=glibc",
             "pkg:deb/debian/openssl@3.0.11-1~deb12u1?distro=debian-12",
             "pkg:deb/debian/libc6@2.31-13?distro=debian-11&upstream=glibc"]
    for purl in purls:
        assert _fixed(engine, purl) == _fixed(lite, purl) != {}
    assert status(engine)[1] == status(lite)[1]
