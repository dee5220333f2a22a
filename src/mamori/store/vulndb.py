"""Tables of the offline advisory database: records, their affected packages, and import provenance.

Every advisory, whatever its source format, is stored as OSV: one ``vuln_records`` row (keyed by
namespace and id, so the Debian tracker's CVE-X and osv.dev's CVE-X do not overwrite each other)
and one ``vuln_affected`` row per affected package, indexed by (ecosystem, package) because that
is the only question a matcher asks.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from mamori.store.db import METADATA

VULN_RECORDS = Table(
    "vuln_records", METADATA,
    Column("namespace", String(64), primary_key=True),  # osv, debian-tracker, alpine-secdb:v3.19/main
    Column("id", String(128), primary_key=True),
    Column("modified", String(40), nullable=False),
    Column("withdrawn", String(40)),
    Column("aliases", Text, nullable=False),  # JSON list
    Column("related", Text, nullable=False),  # JSON list
    Column("summary", Text, nullable=False),
    Column("severity", Text, nullable=False),  # JSON: OSV severity list
    Column("db_specific", Text, nullable=False),  # JSON: source-specific rating (urgency, GHSA severity...)
    Column("source", String(64), nullable=False),  # osv, debian-tracker, alpine-secdb
    Column("file", Text, nullable=False),
    Column("imported_at", String(40), nullable=False),
)

VULN_AFFECTED = Table(
    "vuln_affected", METADATA,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(64), nullable=False),
    Column("record_id", String(128), nullable=False),
    Column("ecosystem", String(128), nullable=False),  # canonical: Debian:12, Alpine:v3.19, PyPI, Ubuntu:22.04
    Column("package", String(512), nullable=False),  # canonical name (PEP 503 for PyPI)
    Column("data", Text, nullable=False),  # JSON: ranges, versions, ecosystem/database specific, state
    Index("ix_vuln_affected_eco_pkg", "ecosystem", "package"),
    Index("ix_vuln_affected_record", "namespace", "record_id"),
)

VULN_IMPORTS = Table(
    "vuln_imports", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("imported_at", String(40), nullable=False),
    Column("newest_modified", String(40)),  # the data's own age: the latest `modified` seen
    Column("records", Integer, nullable=False),
    Column("added", Integer, nullable=False),
    Column("replaced", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("withdrawn", Integer, nullable=False),
)
