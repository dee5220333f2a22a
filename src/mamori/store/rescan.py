"""Stored image inventories and the last rescan result per image digest.

A rescan after an advisory update re-matches the stored inventory instead of downloading the
image again; the finding keys of the last scan tell which findings are new.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Engine, Integer, String, Table, Text, insert, select, update

from mamori.store.db import METADATA
from mamori.store.decisions import utc_now

RESCAN_IMAGES = Table(
    "rescan_images", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(200), nullable=False, unique=True),  # manifest or config digest [#platform]
    Column("ref", String(1024), nullable=False),  # where it was last seen
    Column("first_seen", String(40), nullable=False),
    Column("last_scan", String(40)),
    Column("inventory", Text, nullable=False),  # JSON: os release and packages (file lists dropped)
    Column("keys", Text),  # JSON list of finding keys of the last scan; NULL: never matched
)


@dataclass(frozen=True, slots=True)
class StoredImage:
    digest: str
    ref: str
    inventory: dict[str, Any]
    keys: frozenset[str] | None  # None: no scan result stored yet


def get(engine: Engine, digest: str) -> StoredImage | None:
    with engine.connect() as conn:
        row = conn.execute(select(RESCAN_IMAGES).where(RESCAN_IMAGES.c.digest == digest)).first()
    if row is None:
        return None
    m = row._mapping
    keys = None if m["keys"] is None else frozenset(json.loads(m["keys"]))
    return StoredImage(m["digest"], m["ref"], json.loads(m["inventory"]), keys)


def save_inventory(engine: Engine, digest: str, ref: str, inventory: dict[str, Any]) -> None:
    data = json.dumps(inventory, sort_keys=True, separators=(",", ":"))
    with engine.begin() as conn:
        got = conn.execute(select(RESCAN_IMAGES.c.id).where(RESCAN_IMAGES.c.digest == digest)).first()
        if got is None:
            conn.execute(insert(RESCAN_IMAGES), {"digest": digest, "ref": ref, "first_seen": utc_now(),
                                                 "inventory": data, "keys": None})
        else:
            conn.execute(update(RESCAN_IMAGES).where(RESCAN_IMAGES.c.id == got[0]).values(ref=ref, inventory=data))


def save_result(engine: Engine, digest: str, ref: str, keys: set[str]) -> None:
    with engine.begin() as conn:
        conn.execute(update(RESCAN_IMAGES).where(RESCAN_IMAGES.c.digest == digest).values(
            ref=ref, last_scan=utc_now(), keys=json.dumps(sorted(keys))))
