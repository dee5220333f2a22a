from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

import mamori.store.vulndb  # noqa: F401 - registers the tables
from mamori.store.db import METADATA
from mamori.vuln.db import import_path
from tests.components import unavailable

# ../shared/vulndata next to the repository (real advisory records); MAMORI_VULNDATA overrides
VULNDATA = Path(os.environ.get("MAMORI_VULNDATA") or Path(__file__).resolve().parents[3] / "shared" / "vulndata")


def vulndata() -> Path:
    if not (VULNDATA / "osv").is_dir():
        unavailable("vulndata", f"real advisory data not found at {VULNDATA}")
    return VULNDATA


def new_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")
    METADATA.create_all(engine)
    return engine


@pytest.fixture(scope="module")
def real_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The shared real data: all OSV records, Alpine secdb v3.19, the tracker excerpt."""
    data = vulndata()
    engine = new_engine(tmp_path_factory.mktemp("vdb") / "v.db")
    for p in (data / "osv", data / "alpine-secdb" / "v3.19", data / "debian-tracker"):
        import_path(engine, p)
    yield engine
    engine.dispose()
