"""Tables of the tamper-evident audit log (see mamori.audit and docs/audit.md).

``audit_entries.data`` is the canonical entry JSON whose hash is the Merkle leaf; the other
entry columns are copies for queries. ``audit_head`` is a single row (size and the compact
frontier) locked by every append, which is what keeps sequence numbers gapless across
processes and replicas. ``audit_tiles`` keeps the hash of every complete block of 256
leaves so proofs and roots never read more than a few thousand hashes.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table, Text

from mamori.store.db import METADATA

TILE_HEIGHT = 8  # one stored node per 2**8 leaves

ENTRIES = Table(
    "audit_entries", METADATA,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("time", String(32), nullable=False),  # source timestamp, UTC RFC 3339 with microseconds
    Column("received", String(32), nullable=False),  # when the collector stored it, same format
    Column("source", String(256), nullable=False),  # authenticated identity (token name, certificate subject)
    Column("type", String(128), nullable=False),
    Column("container", String(256)),
    Column("image", String(512)),
    Column("data", Text, nullable=False),  # canonical JSON of the whole entry, payload included
    Index("ix_audit_entries_time", "time"),
    Index("ix_audit_entries_source", "source"),
    Index("ix_audit_entries_type", "type"),
    Index("ix_audit_entries_container", "container"),
    Index("ix_audit_entries_image", "image"),
)

TILES = Table(
    "audit_tiles", METADATA,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),  # covers leaves [idx*256, idx*256+256)
    Column("hash", LargeBinary(32), nullable=False),
)

HEAD = Table(
    "audit_head", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("origin", String(256), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("frontier", LargeBinary, nullable=False),  # one 32-byte hash per set bit of size, largest first
)

CHECKPOINTS = Table(
    "audit_checkpoints", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("size", BigInteger, nullable=False, index=True),
    Column("root", LargeBinary(32), nullable=False),
    Column("created", String(32), nullable=False),
    Column("note", Text, nullable=False),  # the signed checkpoint, verbatim
)
