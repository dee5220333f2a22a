"""Import advisories offline into the store: OSV (files, directories, ``all.zip``), the Debian
Security Tracker JSON and Alpine secdb JSON, all normalised to OSV.

Re-importing is idempotent: an OSV record is replaced only when its ``modified`` is newer; a
tracker or secdb file is a complete snapshot of its namespace, so records it no longer lists are
removed. Every input is hostile: sizes, member counts and nesting are bounded before parsing.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, tuple_

from mamori.store.vulndb import VULN_AFFECTED, VULN_IMPORTS, VULN_RECORDS
from mamori.vuln.ecosystems import DEBIAN_CODENAMES, canonical_ecosystem, canonical_package


class VulnDBError(ValueError):
    """Input that is not an advisory source, or breaks a size bound."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_file_bytes: int = 1 << 30  # the whole Debian tracker JSON is ~100 MB
    max_member_bytes: int = 32 << 20  # one OSV record inside a zip
    max_members: int = 2_000_000
    max_total_uncompressed: int = 16 << 30
    max_files: int = 2_000_000  # files walked under a directory
    max_affected: int = 20_000  # affected entries of one record
    max_versions: int = 200_000  # explicit versions of one affected entry


@dataclass(frozen=True, slots=True)
class Record:
    namespace: str
    id: str
    modified: str
    withdrawn: str | None
    aliases: tuple[str, ...]
    related: tuple[str, ...]
    summary: str
    severity: list[dict[str, str]]
    db_specific: dict[str, Any]
    affected: tuple[tuple[str, str, str], ...]  # (ecosystem, package, JSON data)
    source: str
    file: str


@dataclass
class ImportStats:
    source: str
    path: str
    records: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    newest_modified: str | None = None
    notes: list[str] = field(default_factory=list)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def norm_time(t: Any) -> str:
    """RFC 3339 → ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` so that string order is time order."""
    if not isinstance(t, str) or not t:
        raise VulnDBError("record without a valid 'modified' time")
    try:
        d = datetime.fromisoformat(t.strip().replace("Z", "+00:00"))
    except ValueError:
        raise VulnDBError(f"bad timestamp {t[:40]!r}") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(x: Any) -> str:
    return json.dumps(x, separators=(",", ":"), sort_keys=True)


def _strs(x: Any, limit: int = 1000) -> tuple[str, ...]:
    return tuple(s for s in x[:limit] if isinstance(s, str)) if isinstance(x, list) else ()


# ---------------------------------------------------------------- OSV

_DERIVED = re.compile(r"[A-Z]+-(CVE-\d{4}-\d+)\Z")


def osv_record(doc: Any, file: str, limits: Limits) -> Record:
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str) or not doc["id"]:
        raise VulnDBError("not an OSV record (no id)")
    rid = doc["id"][:128]
    withdrawn = norm_time(doc["withdrawn"]) if doc.get("withdrawn") else None
    affected: list[tuple[str, str, str]] = []
    raw_aff = doc.get("affected") or []
    if not isinstance(raw_aff, list) or len(raw_aff) > limits.max_affected:
        raise VulnDBError(f"{rid}: 'affected' is not a list of at most {limits.max_affected}")
    for a in raw_aff if not withdrawn else []:
        pkg = a.get("package") if isinstance(a, dict) else None
        if not isinstance(pkg, dict) or not isinstance(pkg.get("ecosystem"), str) or not isinstance(
                pkg.get("name"), str):
            continue  # GIT-only entries without a package cannot match an inventory
        eco = canonical_ecosystem(pkg["ecosystem"])
        versions = a.get("versions") or []
        if not isinstance(versions, list) or len(versions) > limits.max_versions:
            raise VulnDBError(f"{rid}: too many explicit versions")
        data = {
            "ranges": [r for r in (a.get("ranges") or []) if isinstance(r, dict) and r.get("type") != "GIT"],
            "versions": [v for v in versions if isinstance(v, str)],
        }
        for key in ("severity", "ecosystem_specific"):
            if a.get(key):
                data[key] = a[key]
        affected.append((eco[:128], canonical_package(eco, pkg["name"])[:512], _dumps(data)))
    raw_dbs = doc.get("database_specific")
    dbs: dict[str, Any] = raw_dbs if isinstance(raw_dbs, dict) else {}
    sev = [s for s in (doc.get("severity") or []) if isinstance(s, dict)] if isinstance(
        doc.get("severity"), list) else []
    summary = doc.get("summary") or (doc.get("details") or "")[:300]
    aliases, related = list(_strs(doc.get("aliases"))), list(_strs(doc.get("related")))
    derived = _DERIVED.match(rid)  # UBUNTU-CVE-2023-4911, DEBIAN-CVE-...: a distro's copy of one CVE
    upstream = list(_strs(doc.get("upstream")))
    if derived:
        upstream.append(derived.group(1))
    if len(set(upstream)) == 1:
        aliases += [u for u in upstream if u not in aliases]
    else:
        related += [u for u in upstream if u not in related]
    return Record(
        "osv", rid, norm_time(doc.get("modified")), withdrawn, tuple(aliases), tuple(related),
        str(summary)[:1000], sev, {k: dbs[k] for k in ("severity", "cwe_ids") if k in dbs}, tuple(affected),
        "osv", file)


# ---------------------------------------------------------------- Debian Security Tracker


def _tracker_state(rel: dict[str, Any]) -> tuple[str, str | None] | None:
    """(state, fixed version) of one release entry; None for entries no one can act on."""
    status = rel.get("status")
    fixed = rel.get("fixed_version")
    urgency = str(rel.get("urgency") or "")
    if status == "resolved":
        if fixed == "0":
            return "not-affected", None
        if isinstance(fixed, str) and fixed:
            return "fixed", fixed
        return None
    if status != "open":
        return None  # undetermined: the tracker itself does not know
    reason = str(rel.get("nodsa_reason") or "")
    if reason == "ignored" or urgency.startswith("end-of-life"):
        return "wont-fix", None
    if reason == "postponed":
        return "deferred", None
    if rel.get("nodsa") or urgency.startswith("unimportant"):
        return "minor", None
    return "not-fixed", None


def tracker_records(doc: Any, file: str, modified: str) -> Iterator[Record]:
    if not isinstance(doc, dict):
        raise VulnDBError("not a Debian Security Tracker document")
    by_cve: dict[str, list[tuple[str, str, str]]] = {}
    summaries: dict[str, str] = {}
    for src, cves in doc.items():
        if not isinstance(src, str) or not isinstance(cves, dict):
            continue
        for cve, entry in cves.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("releases"), dict):
                continue
            summaries.setdefault(cve, str(entry.get("description") or "")[:1000])
            for codename, rel in entry["releases"].items():
                num = DEBIAN_CODENAMES.get(codename)
                if num is None or not isinstance(rel, dict):
                    continue
                st = _tracker_state(rel)
                if st is None:
                    continue
                state, fixed = st
                events: list[dict[str, str]] = [{"introduced": "0"}]
                if fixed:
                    events.append({"fixed": fixed})
                data: dict[str, Any] = {"ranges": [] if state == "not-affected" else
                                        [{"type": "ECOSYSTEM", "events": events}], "versions": [], "state": state}
                for k in ("urgency", "nodsa", "nodsa_reason"):
                    if rel.get(k):
                        data[k] = str(rel[k])[:200]
                by_cve.setdefault(cve[:128], []).append((f"Debian:{num}", src[:512], _dumps(data)))
    for cve, aff in by_cve.items():
        aliases = (cve,) if not cve.startswith("CVE-") else ()
        yield Record("debian-tracker", cve, modified, None, aliases, (), summaries.get(cve, ""), [], {},
                     tuple(aff), "debian-tracker", file)


# ---------------------------------------------------------------- Alpine secdb

_ID = re.compile(r"[A-Z][A-Z0-9]*-[A-Za-z0-9._:-]+")


def secdb_records(doc: Any, file: str, modified: str) -> tuple[str, list[Record]]:
    dv, repo = doc.get("distroversion"), doc.get("reponame")
    if not isinstance(dv, str) or not re.fullmatch(r"v\d+\.\d+|edge", dv) or not isinstance(repo, str):
        raise VulnDBError("secdb document without a valid distroversion/reponame")
    ns = f"alpine-secdb:{dv}/{repo[:32]}"
    eco = f"Alpine:{dv}"
    by_id: dict[str, list[tuple[str, str, str]]] = {}
    for p in doc.get("packages") or []:
        pkg = p.get("pkg") if isinstance(p, dict) else None
        if not isinstance(pkg, dict) or not isinstance(pkg.get("name"), str) or not isinstance(
                pkg.get("secfixes"), dict):
            continue
        for fixed, ids in pkg["secfixes"].items():
            if not isinstance(ids, list):
                continue
            if fixed == "0":
                data: dict[str, Any] = {"ranges": [], "versions": [], "state": "not-affected"}
            else:
                data = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": str(fixed)}]}],
                        "versions": [], "state": "fixed"}
            for raw in ids:
                m = _ID.match(str(raw).strip())
                if m:
                    by_id.setdefault(m.group(0)[:128], []).append((eco, pkg["name"][:512], _dumps(data)))
    return ns, [Record(ns, i, modified, None, (), (), "", [], {}, tuple(a), "alpine-secdb", file)
                for i, a in by_id.items()]


# ---------------------------------------------------------------- reading files


def _read_bounded(path: Path, limit: int) -> bytes:
    size = path.stat().st_size
    if size > limit:
        raise VulnDBError(f"{path}: {size} bytes, over the limit of {limit}")
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise VulnDBError(f"{path}: over the limit of {limit} bytes")
    return data


def _loads(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise VulnDBError(f"{where}: not JSON ({str(e)[:100]})") from None


def _zip_records(path: Path, limits: Limits, stats: ImportStats) -> Iterator[Record]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise VulnDBError(f"{path}: not a zip file ({e})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise VulnDBError(f"{path}: {len(infos)} members, over the limit of {limits.max_members}")
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_total_uncompressed:
            raise VulnDBError(f"{path}: {declared} bytes uncompressed, over the limit")
        total = 0
        for info in infos:
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            if info.file_size > limits.max_member_bytes:
                stats.notes.append(f"{path}!{info.filename}: skipped, {info.file_size} bytes")
                continue
            with zf.open(info) as fh:
                data = fh.read(limits.max_member_bytes + 1)  # the declared size may lie
            total += len(data)
            if len(data) > limits.max_member_bytes or total > limits.max_total_uncompressed:
                raise VulnDBError(f"{path}!{info.filename}: decompresses beyond its bound (zip bomb?)")
            try:
                yield osv_record(_loads(data, f"{path}!{info.filename}"), f"{path}!{info.filename}", limits)
            except VulnDBError as e:
                stats.notes.append(str(e))


def classify(doc: Any) -> str:
    if isinstance(doc, dict) and "id" in doc and "modified" in doc:
        return "osv"
    if isinstance(doc, list):
        return "osv-list"
    if isinstance(doc, dict) and "packages" in doc and "distroversion" in doc:
        return "alpine-secdb"
    if isinstance(doc, dict) and doc and all(isinstance(v, dict) for v in list(doc.values())[:50]) and any(
            isinstance(e, dict) and "releases" in e for v in list(doc.values())[:50] for e in v.values()):
        return "debian-tracker"
    if isinstance(doc, dict) and not doc:
        return "debian-tracker"
    raise VulnDBError("unrecognised JSON: not OSV, Debian Security Tracker or Alpine secdb")


def _files(path: Path, limits: Limits) -> list[Path]:
    if path.is_dir():
        out: list[Path] = []
        for root, dirs, files in os.walk(path, followlinks=False):
            dirs.sort()
            for f in sorted(files):
                if f.endswith((".json", ".zip")):
                    out.append(Path(root) / f)
                    if len(out) > limits.max_files:
                        raise VulnDBError(f"{path}: more than {limits.max_files} files")
        return out
    if not path.is_file():
        raise VulnDBError(f"{path}: no such file or directory")
    return [path]


# ---------------------------------------------------------------- writing


class Writer:
    """Batches records into the store; one transaction per batch keeps the import rate high."""

    def __init__(self, engine: Engine, stats: ImportStats, batch: int = 500) -> None:
        self.engine, self.stats, self.batch = engine, stats, batch
        self.pending: dict[tuple[str, str], Record] = {}
        self.now = utc_now()

    def add(self, rec: Record) -> None:
        key = (rec.namespace, rec.id)
        old = self.pending.get(key)
        if old is None or rec.modified > old.modified:
            self.pending[key] = rec  # the same id twice (osv.dev per-ecosystem copies): keep the newest
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        recs = list(self.pending.values())
        self.pending = {}
        st = self.stats
        with self.engine.begin() as conn:
            keys = [(r.namespace, r.id) for r in recs]
            existing = dict(((ns, i), m) for ns, i, m in conn.execute(
                select(VULN_RECORDS.c.namespace, VULN_RECORDS.c.id, VULN_RECORDS.c.modified).where(
                    tuple_(VULN_RECORDS.c.namespace, VULN_RECORDS.c.id).in_(keys))))
            todo: list[Record] = []
            for r in recs:
                st.records += 1
                if st.newest_modified is None or r.modified > st.newest_modified:
                    st.newest_modified = r.modified
                old = existing.get((r.namespace, r.id))
                if old is not None and (old >= r.modified if r.source == "osv" else old == r.modified):
                    st.unchanged += 1
                    continue
                if r.withdrawn:
                    st.withdrawn += 1
                elif old is not None:
                    st.replaced += 1
                else:
                    st.added += 1
                todo.append(r)
            if not todo:
                return
            replace = [(r.namespace, r.id) for r in todo if (r.namespace, r.id) in existing]
            for ns in {n for n, _ in replace}:
                ids = [i for n, i in replace if n == ns]
                conn.execute(delete(VULN_AFFECTED).where(VULN_AFFECTED.c.namespace == ns,
                                                         VULN_AFFECTED.c.record_id.in_(ids)))
                conn.execute(delete(VULN_RECORDS).where(VULN_RECORDS.c.namespace == ns, VULN_RECORDS.c.id.in_(ids)))
            conn.execute(insert(VULN_RECORDS), [{
                "namespace": r.namespace, "id": r.id, "modified": r.modified, "withdrawn": r.withdrawn,
                "aliases": _dumps(list(r.aliases)), "related": _dumps(list(r.related)), "summary": r.summary,
                "severity": _dumps(r.severity), "db_specific": _dumps(r.db_specific), "source": r.source,
                "file": r.file[:4000], "imported_at": self.now} for r in todo])
            rows = [{"namespace": r.namespace, "record_id": r.id, "ecosystem": e, "package": p, "data": d}
                    for r in todo for e, p, d in r.affected]
            if rows:
                conn.execute(insert(VULN_AFFECTED), rows)

    def drop_missing(self, namespace: str, keep: set[str]) -> None:
        """A snapshot source: records of ``namespace`` it no longer lists are gone upstream."""
        self.flush()
        with self.engine.begin() as conn:
            have = {i for (i,) in conn.execute(select(VULN_RECORDS.c.id).where(VULN_RECORDS.c.namespace == namespace))}
            gone = sorted(have - keep)
            for k in range(0, len(gone), 500):
                chunk = gone[k:k + 500]
                conn.execute(delete(VULN_AFFECTED).where(VULN_AFFECTED.c.namespace == namespace,
                                                         VULN_AFFECTED.c.record_id.in_(chunk)))
                conn.execute(delete(VULN_RECORDS).where(VULN_RECORDS.c.namespace == namespace,
                                                        VULN_RECORDS.c.id.in_(chunk)))
            self.stats.withdrawn += len(gone)

    def finish(self) -> None:
        self.flush()
        st = self.stats
        with self.engine.begin() as conn:
            conn.execute(insert(VULN_IMPORTS).values(
                source=st.source, path=st.path[:4000], imported_at=self.now, newest_modified=st.newest_modified,
                records=st.records, added=st.added, replaced=st.replaced, unchanged=st.unchanged,
                withdrawn=st.withdrawn))


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def import_path(engine: Engine, path: str | Path, limits: Limits | None = None) -> list[ImportStats]:
    """Import one file or directory; returns one :class:`ImportStats` per source kind written."""
    limits = limits or Limits()
    root = Path(path)
    by_source: dict[str, tuple[ImportStats, Writer]] = {}

    def writer(source: str) -> Writer:
        if source not in by_source:
            st = ImportStats(source, str(root))
            by_source[source] = (st, Writer(engine, st))
        return by_source[source][1]

    def feed(recs: Iterable[Record], source: str) -> None:
        w = writer(source)
        for r in recs:
            w.add(r)

    files = _files(root, limits)
    for f in files:
        try:
            if f.suffix == ".zip":
                feed(_zip_records(f, limits, writer("osv").stats), "osv")
                continue
            doc = _loads(_read_bounded(f, limits.max_file_bytes), str(f))
            kind = classify(doc)
            if kind == "osv":
                feed([osv_record(doc, str(f), limits)], "osv")
            elif kind == "osv-list":
                feed((osv_record(d, str(f), limits) for d in doc), "osv")
            elif kind == "alpine-secdb":
                ns, recs = secdb_records(doc, str(f), _mtime(f))
                feed(recs, "alpine-secdb")
                writer("alpine-secdb").drop_missing(ns, {r.id for r in recs})
            else:
                recs = list(tracker_records(doc, str(f), _mtime(f)))
                feed(recs, "debian-tracker")
                writer("debian-tracker").drop_missing("debian-tracker", {r.id for r in recs})
        except VulnDBError as e:
            if not root.is_dir():
                raise
            writer("osv").stats.notes.append(str(e))
        except OSError as e:
            raise VulnDBError(f"{f}: {e.strerror or e}") from None
    for _st, w in by_source.values():
        w.finish()
    return [st for st, _ in by_source.values()]


# ---------------------------------------------------------------- status


@dataclass(frozen=True, slots=True)
class SourceStatus:
    source: str
    last_import: str
    newest_modified: str | None
    records: int


def status(engine: Engine) -> tuple[list[SourceStatus], dict[str, int]]:
    """Per source: last import and the newest data; per ecosystem: advisory count."""
    with engine.connect() as conn:
        srcs = []
        for source, last, newest in conn.execute(
                select(VULN_IMPORTS.c.source, func.max(VULN_IMPORTS.c.imported_at),
                       func.max(VULN_IMPORTS.c.newest_modified)).group_by(VULN_IMPORTS.c.source)):
            n = conn.execute(select(func.count()).select_from(VULN_RECORDS).where(
                VULN_RECORDS.c.source == source)).scalar_one()
            srcs.append(SourceStatus(source, last, newest, int(n)))
        ecos = {e: int(n) for e, n in conn.execute(
            select(VULN_AFFECTED.c.ecosystem, func.count(func.distinct(VULN_AFFECTED.c.record_id))).group_by(
                VULN_AFFECTED.c.ecosystem).order_by(VULN_AFFECTED.c.ecosystem))}
    return sorted(srcs, key=lambda s: s.source), ecos
