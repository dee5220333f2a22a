"""Several processes appending at once get gapless, unique sequence numbers (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.audit.log import open_log
from mamori.audit.verify import verify_store
from tests import pg

WRITER = """
import sys
from mamori.audit.entry import new_entry
from mamori.audit.log import open_log
url, w, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
log = open_log(url)
for b in range(batches):
    log.append([new_entry({"type": "race", "payload": {"w": w, "i": b * size + i}}, "w" + w) for i in range(size)])
"""


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    cluster = pg.start()
    yield cluster.url
    cluster.stop()


def race(url: str, writers: int = 4, batches: int = 25, size: int = 8) -> None:
    open_log(url)  # create the tables once, before the race
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(w), str(batches), str(size)],
                              stderr=subprocess.PIPE) for w in range(writers)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    log = open_log(url)
    rows = log.query(limit=100_000)
    total = writers * batches * size
    assert [r.seq for r in rows] == list(range(total))  # no gap, no duplicate
    seen = {(r.json()["payload"]["w"], r.json()["payload"]["i"]) for r in rows}
    assert len(seen) == total
    for w in range(writers):  # each writer's own entries stay in its order
        mine = [r.json()["payload"]["i"] for r in rows if r.json()["payload"]["w"] == str(w)]
        assert mine == sorted(mine)
    assert log.head().size == total
    rep = verify_store(log.engine, [])
    assert rep.ok and rep.entries == total, json.dumps(rep.problems[:5])


def test_concurrent_processes_on_sqlite(tmp_path: Path) -> None:
    race(f"sqlite:///{tmp_path / 'race.db'}")


def test_concurrent_processes_on_postgresql(pg_url: str) -> None:
    race(pg_url)
