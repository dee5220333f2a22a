"""``mamori vuln``: the offline advisory database (import, status) and scans of SBOMs and images."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from mamori.cli.image import source_options
from mamori.cli.vuln_options import db_option as db_option  # re-exported: mamori.cli.rescan uses it
from mamori.cli.vuln_options import vuln_filter_options

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
    """One text row of a finding (``mamori rescan`` prints its new findings with it)."""
    from mamori.vuln.report import line

    return line(f)


class VulnContext:
    """What a vulnerability report needs before the input is read: the database and the ignore rules.

    Opened first, so a bad ``--db`` or ignore file fails (exit 2) before an image is downloaded.
    """

    def __init__(self, db_url: str | None, ignore_file: str | None, ignore_unfixed: bool) -> None:
        from mamori.vuln.ignore import IgnoreError, load_ignores

        try:
            self.ignores = load_ignores(ignore_file) if ignore_file else []
        except IgnoreError as exc:
            click.echo(f"mamori: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        self.engine = _engine(db_url)
        self.ignore_unfixed = ignore_unfixed
        from mamori.vuln.report import EmptyDatabase, loaded_sources

        try:
            loaded_sources(self.engine)
        except EmptyDatabase as exc:
            click.echo(f"mamori: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except Exception as exc:  # noqa: BLE001 - a broken database is a message, not a traceback
            click.echo(f"mamori: cannot read the advisory database: {type(exc).__name__}: "
                       f"{str(exc).splitlines()[0][:200] if str(exc) else ''}", err=True)
            sys.exit(EXIT_ERROR)

    def report(self, target: str, targets: Any) -> Any:
        """The :class:`mamori.vuln.report.VulnReport` of ``targets``; warnings go to stderr."""
        from mamori.vuln.report import EmptyDatabase, build

        try:
            rep = build(self.engine, target, targets, self.ignores, self.ignore_unfixed)
        except EmptyDatabase as exc:
            click.echo(f"mamori: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        for w in rep.warnings():
            click.echo(f"mamori: {'' if w.startswith('note:') else 'warning: '}{w}", err=True)
        return rep


def sbom_targets(path: str) -> Any:
    """Targets of an SBOM file; a bad SBOM is one line naming the file and the problem (exit 2)."""
    from mamori.sources.sbom import SbomError, read_sbom
    from mamori.vuln.targets import targets_of

    try:
        sbom = read_sbom(path)
    except SbomError as exc:
        click.echo(f"mamori: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    for note in sbom.notes:
        click.echo(f"mamori: warning: {path}: {note}", err=True)
    targets = targets_of(sbom)
    if sbom.packages and not targets:
        click.echo(f"mamori: warning: {path}: none of its {len(sbom.packages)} package URLs is one advisories "
                   "are keyed by", err=True)
    return targets


def render(rep: Any, fmt: str) -> str:
    from mamori.vuln.report import as_json, as_junit, as_sarif, as_text

    if fmt == "json":
        return json.dumps(as_json(rep), indent=2) + "\n"
    if fmt == "junit":
        return as_junit(rep)
    return as_sarif(rep) if fmt == "sarif" else as_text(rep)


def write(text: str, output: str | None) -> None:
    if not output:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        click.echo(f"mamori: cannot write {output}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_ERROR)


def scan_sboms(paths: tuple[str, ...] | list[str], db_url: str | None, fail_on: str | None, ignore_unfixed: bool,
               ignore_file: str | None, fmt: str, output: str | None) -> NoReturn:
    """``mamori scan FILE.cdx.json`` routes here: one report over the packages of every SBOM given."""
    targets = [t for p in paths for t in sbom_targets(p)]
    ctx = VulnContext(db_url, ignore_file, ignore_unfixed)
    rep = ctx.report(", ".join(paths), targets)
    write(render(rep, fmt), output)
    sys.exit(EXIT_FINDINGS if rep.blocking(fail_on) else 0)


@vuln.command("scan")
@click.argument("target")
@db_option
@click.option("--fail-on", type=click.Choice(_SEVERITIES), help="Exit 1 when a finding has this severity or worse.")
@vuln_filter_options
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json", "sarif", "junit"]), default="text",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report to FILE instead of stdout.")
@source_options
def scan(target: str, db_url: str | None, fail_on: str | None, ignore_unfixed: bool, ignore_file: str | None,
         fmt: str, output: str | None, **src: Any) -> None:
    """Match an SBOM file (CycloneDX/SPDX JSON, any tool) or an image reference against the database."""
    from mamori.vuln.targets import targets_from_inventory

    if Path(target).is_file():
        scan_sboms([target], db_url, fail_on, ignore_unfixed, ignore_file, fmt, output)
    ctx = VulnContext(db_url, ignore_file, ignore_unfixed)
    from mamori.cli.image import _load

    rep = ctx.report(target, targets_from_inventory(_load(target, **src).inventory))
    write(render(rep, fmt), output)
    sys.exit(EXIT_FINDINGS if rep.blocking(fail_on) else 0)
