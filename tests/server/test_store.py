"""The decision store: SQLite by default, one PostgreSQL database shared by several replicas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mamori.store.db import open_db
from mamori.store.decisions import DecisionRecord, DecisionRecorder, query
from tests import pg
from tests.server.conftest import Served
from tests.server.reviews import HARDENED_POD, insecure_pod, review, workload


@pytest.fixture(scope="module")
def cluster() -> Iterator[pg.Cluster]:
    c = pg.start()
    yield c
    c.stop()


def _rec(i: int) -> DecisionRecord:
    return DecisionRecord(adapter="admission-validate", request_id=f"r{i}", operation="CREATE",
                          subject=f"Pod/shop/p{i}", allowed=i % 2 == 0, result="allowed" if i % 2 == 0 else "denied",
                          rules=() if i % 2 == 0 else ("MAM-PRIV-001",), message="", detail={"i": i})


def test_sqlite_store_under_mamori_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMORI_HOME", str(tmp_path / "home"))
    engine = open_db()
    assert (tmp_path / "home" / "mamori.db").is_file()
    assert oct((tmp_path / "home").stat().st_mode & 0o777) == "0o700"
    rec = DecisionRecorder(engine)
    for i in range(1200):  # more than one batch
        rec.record(_rec(i))
    rec.flush()
    rec.close()
    rows = list(query(engine, limit=5000))
    assert len(rows) == 1200 and rows[0]["request_id"] == "r1199"
    assert len(list(query(engine, limit=5000, denied_only=True))) == 600
    assert rows[0]["rules"] == ["MAM-PRIV-001"] and rows[0]["detail"] == {"i": 1199}


def test_postgresql_store_is_shared_by_concurrent_writers(cluster: pg.Cluster) -> None:
    engines = [open_db(cluster.url) for _ in range(3)]
    recorders = [DecisionRecorder(e) for e in engines]

    def write(k: int) -> None:
        for i in range(k * 1000, k * 1000 + 300):
            recorders[k].record(_rec(i))

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(write, range(3)))
    for r in recorders:
        r.flush()
        r.close()
    ids = {row["request_id"] for row in query(engines[0], limit=10_000)}
    assert len(ids) == 900
    assert {r.written for r in recorders} == {300} and not any(r.failed for r in recorders)


def test_two_webhook_replicas_record_into_one_database(cluster: pg.Cluster, serve: Callable[..., Served]) -> None:
    a = serve(None, "--db", cluster.url)
    b = serve(None, "--db", cluster.url)
    a.review("/validate", review(workload("Pod", insecure_pod(), name="from-a")))
    b.review("/validate", review(workload("Pod", HARDENED_POD, name="from-b")))
    import time

    time.sleep(0.5)
    out = subprocess.run([sys.executable, "-m", "mamori.cli.main", "decisions", "--db", cluster.url, "--format",
                          "json", "-n", "1000"], capture_output=True, text=True, check=True,
                         env={**os.environ, "MAMORI_HOME": str(a.home)})
    rows = {json.loads(x)["subject"]: json.loads(x) for x in out.stdout.splitlines()}
    assert rows["Pod/shop/from-a"]["result"] == "denied" and rows["Pod/shop/from-b"]["result"] == "allowed"
