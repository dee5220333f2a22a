"""Match targets against the advisory database with OSV range semantics, per distro release.

Distro packages are looked up by *source* package in their own release's ecosystem
(``Debian:12`` advisories never see a Debian 11 package). Fix states stay apart: ``fixed`` (with
the version), ``not-fixed``, ``deferred``, ``minor`` (no-dsa/unimportant), ``wont-fix``; a
``not-affected`` statement from the distro suppresses the same id from other sources.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, select

from mamori.store.vulndb import VULN_AFFECTED, VULN_RECORDS
from mamori.vuln import versions
from mamori.vuln.cvss import MAX_VECTOR, Cvss, CvssError, rating, score_v3, score_v4
from mamori.vuln.targets import Target, targets_from_inventory

STATES = ("fixed", "not-fixed", "deferred", "minor", "wont-fix", "not-affected")
SEVERITIES = ("unknown", "negligible", "low", "medium", "high", "critical")
_NATIVE = ("debian-tracker", "alpine-secdb")  # distro-native statements win over converted copies

_RATING = {  # a source's own words → mamori's scale
    "critical": "critical", "high": "high", "important": "high", "moderate": "medium", "medium": "medium",
    "low": "low", "negligible": "negligible", "unimportant": "negligible", "end-of-life": "negligible",
}


@dataclass(frozen=True, slots=True)
class VulnFinding:
    id: str
    aliases: tuple[str, ...]
    package: str
    source_package: str
    installed: str
    ecosystem: str
    state: str
    fixed: str | None
    severity: str  # one of SEVERITIES: from the computed CVSS score, else the source's rating
    score: float | None
    vector: str | None
    source_rating: str | None
    summary: str
    purl: str
    sources: tuple[str, ...]
    related: tuple[str, ...] = ()
    note: str | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in (
            (s, getattr(self, s)) for s in self.__slots__)}


@dataclass
class MatchReport:
    findings: list[VulnFinding]
    unmatched_release: list[str] = field(default_factory=list)  # distro packages without a known release
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- OSV range semantics


def _event_key(cmp: Callable[[str, str], int]) -> Callable[[tuple[str, str]], Any]:
    from functools import cmp_to_key

    def c(a: tuple[str, str], b: tuple[str, str]) -> int:
        (ka, va), (kb, vb) = a, b
        if va == vb:
            return 0
        if ka == "introduced" and va == "0":
            return -1
        if kb == "introduced" and vb == "0":
            return 1
        return cmp(va, vb)

    return cmp_to_key(c)


def range_affects(cmp: Callable[[str, str], int], v: str, events: list[dict[str, str]]) -> tuple[bool, str | None]:
    """OSV evaluation of one range: (affected, the first fix after ``v``). Raises VersionError."""
    evs: list[tuple[str, str]] = []
    limits: list[str] = []
    for e in events:
        if not isinstance(e, dict) or len(e) != 1:
            continue
        ((k, val),) = e.items()
        if not isinstance(val, str):
            continue
        if k == "limit":
            limits.append(val)
        elif k in ("introduced", "fixed", "last_affected"):
            evs.append((k, val))
    if limits and not any(lim == "*" or cmp(v, lim) < 0 for lim in limits):
        return False, None
    if not (len(evs) == 2 and evs[0] == ("introduced", "0")):  # the common shape is already sorted
        evs.sort(key=_event_key(cmp))
    affected = False
    fix: str | None = None
    for k, val in evs:
        if k == "introduced":
            if val == "0" or cmp(v, val) >= 0:
                affected = True
                fix = None
        elif k == "fixed":
            if cmp(v, val) >= 0:
                affected = False
            elif affected and fix is None:
                fix = val
        elif k == "last_affected":
            if cmp(v, val) > 0:
                affected = False
            elif affected and fix is None:
                fix = f"> {val}"
    return affected, fix if affected else None


def affected_entry(eco: str, v: str, data: dict[str, Any]) -> tuple[bool, str | None]:
    """An OSV ``affected[]`` entry: explicit ``versions`` or any range. Raises VersionError."""
    hit = v in (data.get("versions") or ())
    fix: str | None = None
    for r in data.get("ranges") or ():
        t = r.get("type")
        cmp: Callable[[str, str], int]
        if t == "SEMVER":
            cmp = versions.semver_compare
        elif t == "ECOSYSTEM":
            cmp = versions.comparator(eco)
        else:
            continue
        a, f = range_affects(cmp, v.removeprefix("v") if t == "SEMVER" else v, r.get("events") or [])
        if a:
            hit = True
            if f and (fix is None or (not f.startswith(">") and not fix.startswith(">")
                                      and versions.compare(eco, f, fix) < 0)):
                fix = f
    return hit, fix


# ---------------------------------------------------------------- severity


def _severity(sev: list[dict[str, Any]], data: dict[str, Any], dbs: dict[str, Any]) -> tuple[
        str, float | None, str | None, str | None]:
    """(severity, computed score, vector, the source's own rating): a v4 vector decides, else v3, else
    the source's rating; a vector that does not parse is passed over, never guessed from."""
    v3: Cvss | None = None
    v4: Cvss | None = None
    shown: str | None = None
    own: str | None = None
    for s in list(sev) + list(data.get("severity") or []):
        if not isinstance(s, dict):
            continue
        t, sc = s.get("type"), s.get("score")
        if t in ("CVSS_V3", "CVSS_V4") and isinstance(sc, str):
            shown = shown or sc.strip()[:MAX_VECTOR]
            try:
                if t == "CVSS_V4" and v4 is None:
                    v4 = score_v4(sc)
                elif t == "CVSS_V3" and v3 is None:
                    v3 = score_v3(sc)
            except CvssError:
                pass
        elif t == "Ubuntu" and isinstance(sc, str):
            own = sc.lower()
    es = data.get("ecosystem_specific") if isinstance(data.get("ecosystem_specific"), dict) else {}
    for cand in (dbs.get("severity"), data.get("urgency"), (es or {}).get("urgency"), (es or {}).get("severity"),
                 (es or {}).get("ubuntu_priority")):
        if isinstance(cand, str) and cand and own is None:
            own = cand.lower()
    best = v4 or v3
    if best is not None:
        r = rating(best.score)
        return ("negligible" if r == "none" else r), best.score, best.vector, own
    if own:
        return _RATING.get(own.rstrip("*").strip(), "unknown"), None, shown, own
    return "unknown", None, shown, own


# ---------------------------------------------------------------- matching


def _candidates(engine: Engine, keys: set[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
    """Every affected row for the keys; per ecosystem, ``package IN (...)`` so the index is used."""
    out: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    by_eco: dict[str, list[str]] = {}
    for eco, pkg in keys:
        by_eco.setdefault(eco, []).append(pkg)
    a, r = VULN_AFFECTED, VULN_RECORDS
    q = select(a.c.ecosystem, a.c.package, a.c.data, r.c.namespace, r.c.id, r.c.aliases, r.c.related, r.c.summary,
               r.c.severity, r.c.db_specific).join(r, (r.c.namespace == a.c.namespace) & (r.c.id == a.c.record_id))
    with engine.connect() as conn:
        for eco, pkgs in sorted(by_eco.items()):
            pkgs.sort()
            for k in range(0, len(pkgs), 500):
                rows = conn.execute(q.where(a.c.ecosystem == eco, a.c.package.in_(pkgs[k:k + 500]),
                                            r.c.withdrawn.is_(None))).all()
                for row in rows:
                    out.setdefault((row[0], row[1]), []).append(tuple(row))
    return out


def _evaluate(eco: str, version: str, rows: list[tuple[Any, ...]], cache: dict[Any, Any],
              notes: list[str]) -> list[VulnFinding]:
    """Findings of one (ecosystem, package, version), before they are given a target's name."""
    raw: list[VulnFinding] = []
    naks: set[str] = set()
    for row in rows:
        _eco, _pkg, data_s, ns, rid, aliases_s, related_s, summary, sev_s, dbs_s = row
        data = cache.get(data_s)
        if data is None:
            data = cache[data_s] = json.loads(data_s)
        rec = cache.get((ns, rid))
        if rec is None:
            rec = cache[(ns, rid)] = (tuple(json.loads(aliases_s)), tuple(json.loads(related_s)),
                                      json.loads(sev_s), json.loads(dbs_s))
        aliases, related, sev, dbs = rec
        state = data.get("state")
        if state == "not-affected":
            naks.update((rid, *aliases))
            continue
        try:
            hit, fix = affected_entry(eco, version, data)
        except versions.VersionError as e:
            if len(notes) < 1000:
                notes.append(f"{eco} {_pkg} {version}: {rid}: {e}")
            continue
        if not hit:
            continue
        if state in (None, "fixed"):
            es = data.get("ecosystem_specific")
            urgency = str(es.get("urgency", "")) if isinstance(es, dict) else ""
            state = "fixed" if fix else ("minor" if urgency.startswith("unimportant") else "not-fixed")
        skey = ("sev", ns, rid, data_s)
        sv = cache.get(skey)
        if sv is None:
            sv = cache[skey] = _severity(sev, data, dbs)
        severity, score, vector, own = sv
        raw.append(VulnFinding(rid, aliases, "", _pkg, version, eco, state, fix, severity, score, vector, own,
                               summary, "", (ns,), related))
    return dedupe([f for f in raw if not (set(f.ids) & naks)])


def match_targets(engine: Engine, targets: Iterable[Target]) -> MatchReport:
    tlist = list(targets)
    report = MatchReport([])
    keys = {(t.ecosystem, t.key) for t in tlist if t.ecosystem}
    for t in tlist:
        if t.ecosystem is None:
            report.unmatched_release.append(t.purl)
    cands = _candidates(engine, keys)
    cache: dict[Any, Any] = {}
    memo: dict[tuple[str, str, str], list[VulnFinding]] = {}  # binaries of one source share the answer
    for t in tlist:
        if t.ecosystem is None:
            continue
        mk = (t.ecosystem, t.key, t.match_version)
        protos = memo.get(mk)
        if protos is None:
            protos = memo[mk] = _evaluate(t.ecosystem, t.match_version, cands.get((t.ecosystem, t.key), []),
                                          cache, report.notes)
        note = f"files owned by {t.owner}: the distro may have patched it" if t.owner else None
        report.findings.extend(replace(f, package=t.name, installed=t.version, purl=t.purl, note=note)
                               for f in protos)
    return report


def _merge(group: list[VulnFinding]) -> VulnFinding:
    group.sort(key=lambda f: (not any(s.startswith(_NATIVE) for s in f.sources), f.id))
    best = group[0]
    ids: list[str] = []
    for f in group:
        for i in f.ids:
            if i not in ids:
                ids.append(i)
    primary = next((i for i in ids if i.startswith("CVE-")), ids[0])
    scored = [f for f in group if f.score is not None]
    # a v4 score wins over v3 copies of the same vulnerability, then the highest score
    top = max(scored, key=lambda f: ((f.vector or "").startswith("CVSS:4.0/"), f.score or 0.0)) if scored else best
    return replace(
        best, id=primary, aliases=tuple(i for i in ids if i != primary),
        severity=top.severity if scored else max((f.severity for f in group), key=SEVERITIES.index),
        score=top.score, vector=top.vector or best.vector,
        source_rating=best.source_rating or next((f.source_rating for f in group if f.source_rating), None),
        summary=best.summary or next((f.summary for f in group if f.summary), ""),
        sources=tuple(sorted({s for f in group for s in f.sources})),
        related=tuple(sorted({r for f in group for r in f.related} - set(ids))))


def dedupe(findings: list[VulnFinding]) -> list[VulnFinding]:
    """One finding per vulnerability of a package: ids joined through aliases; an advisory (DSA)
    whose related CVEs are all reported folds into them as ``related``."""
    if len(findings) <= 1:
        return [_merge(list(findings))] if findings else []
    parent = list(range(len(findings)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for n, f in enumerate(findings):
        for i in f.ids:
            if i in owner:
                parent[find(n)] = find(owner[i])
            else:
                owner[i] = n
    groups: dict[int, list[VulnFinding]] = {}
    for n, f in enumerate(findings):
        groups.setdefault(find(n), []).append(f)
    merged = [_merge(g) for g in groups.values()]
    by_id = {i: m for m in merged for i in m.ids}
    out = []
    for m in merged:
        rel = [r for r in m.related if r in by_id and by_id[r] is not m]
        if rel and len(rel) == len(m.related) and not any(i.startswith("CVE-") for i in m.ids):
            continue  # an advisory (DSA, USN) whose CVEs are all listed themselves
        out.append(m)
    final = []
    for m in out:
        extra = sorted({o.id for o in merged if o not in out and set(o.related) & set(m.ids)})
        final.append(replace(m, related=tuple(sorted(set(m.related) | set(extra)))) if extra else m)
    return sorted(final, key=lambda f: (f.package, f.installed, -SEVERITIES.index(f.severity), f.id))


def scan_inventory(inventory: Any, db: Engine) -> list[VulnFinding]:
    """Findings for a :class:`mamori.image.catalog.model.Inventory` (the ``image scan --vulns`` seam)."""
    return match_targets(db, targets_from_inventory(inventory)).findings
