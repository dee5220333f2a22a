"""The ``mamori`` command: parse arguments, call the library, choose the exit code.

Exit codes follow the peers' convention: 0 no finding at or above ``--fail-on`` (or no
``--fail-on``), 1 such findings remain, 2 usage error or incomplete input.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from datetime import date
from typing import TYPE_CHECKING

import click

from mamori import __version__
from mamori.model.core import Severity

if TYPE_CHECKING:
    from mamori.controls.catalog import Control
    from mamori.rules.registry import Rule

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FORMATS = ("text", "json", "sarif", "junit")
SEVERITIES = [s.name.lower() for s in Severity]


# Command groups in their own modules, imported only when asked for: `mamori scan` does not pay
# for the web server, the database layer or the crypto libraries of the other commands.
LAZY = {
    "admission": "mamori.cli.admission:admission",
    "ambassador": "mamori.cli.ambassador:ambassador",
    "attest": "mamori.cli.attest:attest",
    "authz": "mamori.cli.authz:authz",
    "decisions": "mamori.cli.serve:decisions",
    "drift": "mamori.cli.watch:drift",
    "events": "mamori.cli.watch:events",
    "forensics": "mamori.cli.forensics:forensics",
    "image": "mamori.cli.image:image",
    "log": "mamori.cli.log:log_group",
    "netpol": "mamori.cli.netpol:netpol",
    "notifications": "mamori.cli.watch:notifications",
    "pki": "mamori.cli.pki:pki",
    "promote": "mamori.cli.promote:promote",
    "rescan": "mamori.cli.rescan:rescan",
    "seal": "mamori.cli.seal:seal",
    "serve": "mamori.cli.serve:serve",
    "sign": "mamori.cli.sign:sign",
    "status": "mamori.cli.promote:status",
    "unseal": "mamori.cli.seal:unseal",
    "verify": "mamori.cli.sign:verify",
    "verify-attestation": "mamori.cli.attest:verify_attestation",
    "vuln": "mamori.cli.vuln:vuln",
    "watch": "mamori.cli.watch:watch",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY and cmd_name not in self.commands:
            import importlib

            module, attr = LAZY[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mamori")
def cli() -> None:
    """mamori - the CSA secure container architecture, checked from commit to forensics."""


def _write(text: str, output: str | None) -> None:
    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise click.UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        click.echo(text, nl=not text.endswith("\n"))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report to FILE instead of stdout.")
@click.option("--fail-on", type=click.Choice(SEVERITIES, case_sensitive=False),
              help="Exit 1 when a finding at or above this severity remains.")
@click.option("-c", "--config", "config", type=click.Path(dir_okay=False),
              help="Policy file (default: .mamori.yaml or mamori.yaml in the current directory).")
@click.option("--no-config", is_flag=True, help="Ignore any policy file in the current directory.")
@click.option("--rule", "only_rules", multiple=True, metavar="ID", help="Run only these rules (glob, repeatable).")
@click.option("--skip-rule", multiple=True, metavar="ID", help="Do not run these rules (glob, repeatable).")
@click.option("--severity", "min_severity", type=click.Choice(SEVERITIES, case_sensitive=False),
              help="Report only findings at or above this severity.")
@click.option("--color/--no-color", default=None, help="Colour text output (default: when stdout is a terminal).")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="docker://: audit only matching containers (docker ps filters: name=, label=, status=, ...).")
@click.option("--daemon-json", type=click.Path(dir_okay=False), help="docker://: the daemon.json to check "
              "(default: dockerd's --config-file, else /etc/docker/daemon.json).")
@click.option("--save-snapshot", type=click.Path(dir_okay=False), help="docker://: also write the host settings "
              "as a DockerHost snapshot that `mamori scan FILE` reads offline.")
def scan(paths: tuple[str, ...], fmt: str, output: str | None, fail_on: str | None, config: str | None,
         no_config: bool, only_rules: tuple[str, ...], skip_rule: tuple[str, ...], min_severity: str | None,
         color: bool | None, filters: tuple[str, ...], daemon_json: str | None, save_snapshot: str | None) -> None:
    """Scan Dockerfiles, Compose files, Kubernetes manifests (files or directories) and docker://[HOST].

    Given only SBOMs (CycloneDX or SPDX JSON), report their packages' vulnerabilities instead
    (the advisory database of `mamori vuln`, or MAMORI_DB).
    """
    from dataclasses import replace

    from mamori.cli.common import load_cli_policy
    from mamori.policy.engine import active_rules, decide
    from mamori.report import render
    from mamori.scan import load_paths, sbom_inputs

    policy, _ = load_cli_policy(config, no_config, fail_on)
    if (sboms := sbom_inputs(paths)) and len(sboms) == len(paths):  # SBOMs only: the vulnerability report
        from mamori.cli.vuln import scan_sboms

        scan_sboms(sboms, os.environ.get("MAMORI_DB"), policy.fail_on.name.lower() if policy.fail_on else None,
                   False, None, fmt, output)
    if skip_rule:
        policy = replace(policy, disable=policy.disable + skip_rule)
    if only_rules:
        import fnmatch

        from mamori.rules.registry import all_rules

        keep = {r.id for r in all_rules() if any(fnmatch.fnmatchcase(r.id, p) for p in only_rules)}
        if not keep:
            raise click.UsageError(f"--rule {', '.join(only_rules)} matches no rule (see `mamori rules`)")
        policy = replace(policy, enable=tuple(keep), disable=policy.disable + tuple(
            r.id for r in all_rules() if r.id not in keep))
    interactive = sys.stderr.isatty()
    if interactive:
        click.echo(f"mamori: scanning {', '.join(paths)} ...", err=True)
    from mamori.live.docker_host import FilterError, LiveOptions, parse_filters

    try:
        live = LiveOptions(filters=parse_filters(filters), daemon_json=daemon_json, save_snapshot=save_snapshot)
    except FilterError as exc:
        raise click.UsageError(f"--filter: {exc}") from None
    scan_set = load_paths(paths, live)
    decision = decide(scan_set, policy, today=date.today())
    if min_severity:
        floor = Severity.parse(min_severity)
        decision = replace(decision, findings=tuple(f for f in decision.findings if f.severity >= floor))
    use_color = color if color is not None else (fmt == "text" and not output and sys.stdout.isatty())
    _write(render(fmt, decision, active_rules(policy), color=use_color), output)
    if output and interactive:
        click.echo(f"mamori: {len(decision.findings)} findings written to {output}", err=True)
    for err in decision.errors:
        click.echo(f"mamori: error: {err}", err=True)
    if decision.errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if decision.blocking else EXIT_OK)


@cli.command()
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.option("--perspective", type=click.Choice(("dev", "ops")), help="Only controls for this perspective.")
def controls(fmt: str, perspective: str | None) -> None:
    """The CSA control catalog, the rules implementing each control, and coverage."""
    from mamori.controls.catalog import load_catalog
    from mamori.rules.registry import all_rules

    rules = all_rules()
    by_control: dict[str, list[str]] = {}
    for r in rules:
        for cid in r.controls:
            by_control.setdefault(cid, []).append(r.id)
    catalog: list[Control] = [c for c in load_catalog() if perspective is None or perspective in c.perspective]
    if fmt == "json":
        click.echo(json.dumps({
            "controls": [{"id": c.id, "area": c.area, "area_title": c.area_title, "perspective": list(c.perspective),
                          "how": list(c.how), "summary": c.summary, "rules": sorted(by_control.get(c.id, []))}
                         for c in catalog],
            "coverage": _coverage(catalog, by_control),
        }, indent=2))
        return
    area: str | None = None
    for c in catalog:
        if c.area != area:
            area = c.area
            click.echo(f"\n{c.area}  {c.area_title}")
        ids = sorted(by_control.get(c.id, []))
        mark = "checked " if ids else ("GAP     " if "check" in c.how else "no check")
        click.echo(f"  {c.id:<12} [{'/'.join(c.perspective):<7}] {mark} {len(ids):>2} rules  "
                   f"{c.summary[:70]}{'...' if len(c.summary) > 70 else ''}")
        if ids:
            click.echo(f"               {', '.join(ids)}")
    cov = _coverage(catalog, by_control)
    click.echo("\n`no check`: the catalog says the practice is provided or enforced, not checked by a rule.")
    click.echo("Coverage (controls with at least one rule / controls that a check can cover):")
    for key, (have, want) in sorted(cov.items(), key=lambda kv: _natural(kv[0])):
        click.echo(f"  {key:<22} {have:>3} / {want:<3}")


def _natural(key: str) -> tuple[object, ...]:
    """Sort "area CSA-3.1.2" before "area CSA-3.1.10"."""
    return tuple(int(p) if p.isdigit() else p for p in key.replace(".", " ").split())


def _coverage(catalog: list[Control], by_control: dict[str, list[str]]) -> dict[str, tuple[int, int]]:
    cov: dict[str, list[int]] = {}
    for c in catalog:
        checkable = "check" in c.how
        for key in (f"area {c.area}", *(f"perspective {p}" for p in c.perspective), "all"):
            entry = cov.setdefault(key, [0, 0])
            if checkable:
                entry[1] += 1
                if by_control.get(c.id):
                    entry[0] += 1
    return {k: (v[0], v[1]) for k, v in cov.items()}


@cli.command(name="rules")
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json", "markdown")), default="text",
              show_default=True)
def rules_cmd(fmt: str) -> None:
    """Every rule: id, severity, CSA controls and the equivalent peer checks."""
    from mamori.rules.registry import all_rules

    rules = all_rules()
    if fmt == "markdown":
        click.echo(rules_markdown(rules), nl=False)
        return
    if fmt == "json":
        click.echo(json.dumps([{"id": r.id, "title": r.title, "severity": r.severity.name.lower(),
                                "controls": list(r.controls), "refs": list(r.refs), "scope": r.scope.value,
                                "default_enabled": r.default_enabled, "remediation": r.remediation}
                               for r in rules], indent=2))
        return
    counts = Counter(r.severity.name for r in rules)
    for r in rules:
        flag = "" if r.default_enabled else " (off by default)"
        click.echo(f"{r.id:<16} {r.severity.name:<8} {','.join(r.controls):<28} {r.title}{flag}")
        if r.refs:
            click.echo(f"{'':<16} {'':<8} refs: {', '.join(r.refs)}")
    click.echo(f"\n{len(rules)} rules ({', '.join(f'{k.lower()} {v}' for k, v in sorted(counts.items()))})")


def rules_markdown(rules: list[Rule]) -> str:
    """The rule catalog as a Markdown table (docs/rules.md is generated from it)."""
    lines = ["# Rules", "", f"{len(rules)} rules. Generated by `mamori rules --format markdown`; do not edit.", "",
             "Refs are the equivalent checks of other tools (`tool:ID`), for migrating suppressions.", "",
             "| Rule | Severity | Title | CSA controls | Scope | Refs |", "|---|---|---|---|---|---|"]
    for r in rules:
        off = " (off by default)" if not r.default_enabled else ""
        lines.append(f"| {r.id} | {r.severity.name.lower()} | {r.title}{off} | {', '.join(r.controls)} | "
                     f"{r.scope.value} | {', '.join(r.refs)} |")
    lines += ["", "## Remediation", ""]
    for r in rules:
        lines += [f"### {r.id}: {r.title}", "", r.description.split(chr(10))[0] if r.description else "", "",
                  f"Fix: {r.remediation}", ""]
    return chr(10).join(lines)




def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        cli()
    except SystemExit as exc:
        _exit(exc.code)
    _exit(0)


def _exit(code: str | int | None) -> None:
    """End the process once the command is done, without the interpreter's teardown.

    Tearing down the modules an image command imports (cyclonedx-python-lib, python-debian, click)
    takes 0.05-0.07 s, a tenth of an SBOM run. Exit handlers still run, and the standard streams
    are flushed; if a thread that is not a daemon still runs, the interpreter's normal exit (which
    waits for it) is kept.
    """
    import atexit
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    if code is not None and not isinstance(code, int):  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said there
            code = code or 1
    os._exit(code or 0)


if __name__ == "__main__":
    main()
