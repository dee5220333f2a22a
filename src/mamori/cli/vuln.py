"""``mamori vuln``: the offline advisory database (import, status) and scans of SBOMs and images."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from mamori.cli.image import source_options

EXIT_FINDINGS = 1
EXIT_ERROR = 2
_SEVERITIES = ("negligible", "low", "medium", "high", "critical")


def _engine(url: str | None) -> Any:
    import mamori.store.vulndb  # noqa: F401 - registers the advisory tables before open_db creates them
    from mamori.store.db import open_db

    try:
        return open_db(url)
    except Exception as exc:  # noqa: BLE001 - any driver error becomes a clear message, not a traceback
        click.echo(f"mamori: cannot open the database: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                   err=True)
        sys.exit(EXIT_ERROR)


def _age(text: str) -> timedelta:
    m = re.fullmatch(r"(\d+)([hdw])", text.strip())
    if not m:
        raise click.BadParameter("use N followed by h, d or w (e.g. 36h, 7d, 2w)")
    n = int(m.group(1))
    return {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[m.group(2)]


db_option = click.option("--db", "db_url", metavar="URL", envvar="MAMORI_DB",
                         help="SQLAlchemy URL (default: SQLite under $MAMORI_HOME; postgresql://... to share).")


@click.group("vuln")
def vuln() -> None:
    """Vulnerabilities: an offline advisory database and scans of SBOMs and images."""


@vuln.group("db")
def db_group() -> None:
    """Import advisories (OSV, Debian Security Tracker, Alpine secdb) and show what is loaded."""


@db_group.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@db_option
def db_import(paths: tuple[str, ...], db_url: str | None) -> None:
    """Load advisories from OSV JSON files, directories or all.zip dumps, tracker or secdb JSON."""
    from mamori.vuln.db import VulnDBError, import_path

    engine = _engine(db_url)
    for path in paths:
        try:
            for st in import_path(engine, path):
                click.echo(f"{path}: {st.source}: {st.records} records: {st.added} added, {st.replaced} replaced, "
                           f"{st.unchanged} unchanged, {st.withdrawn} withdrawn or removed")
                for note in st.notes[:20]:
                    click.echo(f"mamori: note: {note}", err=True)
                if len(st.notes) > 20:
                    click.echo(f"mamori: note: ... and {len(st.notes) - 20} more", err=True)
        except VulnDBError as exc:
            click.echo(f"mamori: {exc}", err=True)
            sys.exit(EXIT_ERROR)


@db_group.command("status")
@db_option
@click.option("--max-age", default="7d", show_default=True, help="Warn when the newest data is older (36h, 7d, 2w).")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def db_status(db_url: str | None, max_age: str, fmt: str) -> None:
    """Sources, counts per ecosystem and the age of the data."""
    from mamori.vuln.db import status

    limit = _age(max_age)
    srcs, ecos = status(_engine(db_url))
    now = datetime.now(UTC)
    stale = []
    rows = []
    for s in srcs:
        newest = s.newest_modified or s.last_import
        age = now - datetime.fromisoformat(newest.replace("Z", "+00:00"))
        if age > limit:
            stale.append(s.source)
        rows.append({"source": s.source, "records": s.records, "last_import": s.last_import,
                     "newest_data": s.newest_modified, "age_hours": round(age.total_seconds() / 3600, 1)})
    if fmt == "json":
        click.echo(json.dumps({"sources": rows, "ecosystems": ecos, "stale": stale}, indent=2))
    else:
        if not rows:
            click.echo("no advisories imported (mamori vuln db import PATH...)")
        for r in rows:
            click.echo(f"{r['source']:<16} {r['records']:>8} records  imported {r['last_import']}  "
                       f"newest data {r['newest_data']}  age {r['age_hours']} h")
        for e, n in ecos.items():
            click.echo(f"  {e:<28} {n:>8}")
    for name in stale:
        click.echo(f"mamori: warning: {name} data is older than {max_age}; import a fresh copy", err=True)


def _line(f: Any) -> str:
    ids = f.id + (f" ({', '.join(f.aliases[:4])}{', ...' if len(f.aliases) > 4 else ''})" if f.aliases else "")
    sev = f.severity + (f" {f.score}" if f.score is not None else "")
    return f"{f.package:<28} {f.installed:<24} {f.fixed or '-':<24} {f.state:<12} {sev:<14} {ids}"


@vuln.command("scan")
@click.argument("target")
@db_option
@click.option("--fail-on", type=click.Choice(_SEVERITIES), help="Exit 1 when a finding has this severity or worse.")
@click.option("--ignore-unfixed", is_flag=True, help="Report only findings with a fixed version available.")
@click.option("--ignore-file", type=click.Path(dir_okay=False, exists=True),
              help="YAML ignore list (id, reason, optional package and expires) or an OpenVEX document.")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@source_options
def scan(target: str, db_url: str | None, fail_on: str | None, ignore_unfixed: bool, ignore_file: str | None,
         fmt: str, **src: Any) -> None:
    """Match an SBOM file (CycloneDX/SPDX JSON, any tool) or an image reference against the database."""
    from mamori.vuln.ignore import IgnoreError, apply_ignores, load_ignores
    from mamori.vuln.match import SEVERITIES, match_targets
    from mamori.vuln.targets import SbomError, targets_from_inventory, targets_from_sbom

    try:
        ignores = load_ignores(ignore_file) if ignore_file else []
    except IgnoreError as exc:
        click.echo(f"mamori: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    if Path(target).is_file():
        try:
            targets = targets_from_sbom(target)
        except SbomError as exc:
            click.echo(f"mamori: {exc}", err=True)
            sys.exit(EXIT_ERROR)
    else:
        from mamori.cli.image import _load

        targets = targets_from_inventory(_load(target, **src).inventory)
    engine = _engine(db_url)
    report = match_targets(engine, targets)
    findings = [f for f in report.findings if not (ignore_unfixed and f.state != "fixed")]
    kept, ignored, expired = apply_ignores(findings, ignores)
    for rule in expired:
        click.echo(f"mamori: warning: ignore for {rule.id} expired on {rule.expires}; it no longer applies", err=True)
    if report.unmatched_release:
        click.echo(f"mamori: warning: {len(report.unmatched_release)} OS package(s) without a known distro release "
                   f"were not matched (first: {report.unmatched_release[0]})", err=True)
    for note in report.notes[:20]:
        click.echo(f"mamori: note: {note}", err=True)
    if fmt == "json":
        from mamori.vuln.db import status

        srcs, _ = status(engine)
        click.echo(json.dumps({
            "target": target, "packages": len(targets),
            "db": [{"source": x.source, "records": x.records, "last_import": x.last_import,
                    "newest_data": x.newest_modified} for x in srcs],
            "findings": [f.as_dict() for f in kept],
            "ignored": [{"id": f.id, "package": f.package, "reason": r.reason} for f, r in ignored],
            "unmatched_release": report.unmatched_release}, indent=2))
    else:
        click.echo(f"{'PACKAGE':<28} {'INSTALLED':<24} {'FIXED':<24} {'STATE':<12} {'SEVERITY':<14} ID (ALIASES)")
        for f in kept:
            click.echo(_line(f))
        by_state: dict[str, int] = {}
        for f in kept:
            by_state[f.state] = by_state.get(f.state, 0) + 1
        click.echo(f"{len(targets)} packages, {len(kept)} findings "
                   f"({', '.join(f'{n} {s}' for s, n in sorted(by_state.items())) or 'none'}), {len(ignored)} ignored")
    if fail_on and any(SEVERITIES.index(f.severity) >= SEVERITIES.index(fail_on) for f in kept):
        sys.exit(EXIT_FINDINGS)
