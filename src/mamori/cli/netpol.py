"""``mamori netpol generate | check``: per-tenant network isolation from labels (CSA-3.1.9.3, 3.1.5.4)."""

from __future__ import annotations

import json
import os
import sys

import click
import yaml

from mamori.netpol.inventory import Inventory

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR = 0, 1, 2
TENANT_HELP = "Pod (Compose: service) label naming the tenant."
APP_HELP = "Pod label naming the application."


@click.group(name="netpol")
def netpol() -> None:
    """Generate and check per-tenant network isolation (NetworkPolicies, Compose networks)."""


def _inventory(paths: tuple[str, ...]) -> Inventory:
    from mamori.netpol.inventory import load_inventory

    inv = load_inventory(paths)
    for err in inv.errors:
        click.echo(f"mamori: error: {err.file}:{err.line}: {err.message}", err=True)
    return inv


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise click.UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


@netpol.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Directory (policies + Compose overrides) or file.")
@click.option("--tenant-label", default="tenant", show_default=True, help=TENANT_HELP)
@click.option("--app-label", default="app", show_default=True, help=APP_HELP)
def generate(paths: tuple[str, ...], output: str | None, tenant_label: str, app_label: str) -> None:
    """Write NetworkPolicies (and Compose network overrides) that isolate tenants."""
    from mamori.netpol.generate import generate as run

    inv = _inventory(paths)
    if inv.errors:
        sys.exit(EXIT_ERROR)  # fail closed: policies from half-read input would be wrong
    gen = run(inv, tenant_label, app_label)
    for w in gen.warnings:
        click.echo(f"mamori: warning: {w}", err=True)
    k8s = yaml.safe_dump_all(gen.policies, sort_keys=False) if gen.policies else ""
    if output and os.path.isdir(output):
        if k8s:
            _write(os.path.join(output, "mamori-networkpolicies.yaml"), k8s)
        for file, text in gen.compose.items():
            name = "docker-compose.mamori.yaml" if len(gen.compose) == 1 else \
                os.path.splitext(os.path.basename(file))[0] + ".mamori.yaml"
            _write(os.path.join(output, name), text)
    elif output:
        if k8s and gen.compose:
            raise click.UsageError("both Kubernetes and Compose inputs: give a directory to -o")
        _write(output, k8s or next(iter(gen.compose.values()), ""))
    else:
        parts = [k8s] if k8s else []
        parts += [text for text in gen.compose.values()]
        click.echo("---\n".join(parts), nl=False)
    if not gen.policies and not gen.compose:
        click.echo("mamori: no workloads found", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_OK)


@netpol.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.option("--tenant-label", default="tenant", show_default=True, help=TENANT_HELP)
@click.option("--app-label", default="app", show_default=True, help=APP_HELP)
def check(paths: tuple[str, ...], fmt: str, tenant_label: str, app_label: str) -> None:
    """Report traffic that is not isolated, exposure without allowed sources and unused declarations."""
    from mamori.netpol.check import check as run

    inv = _inventory(paths)
    problems = run(inv, tenant_label, app_label)
    if fmt == "json":
        click.echo(json.dumps({
            "problems": [{"code": p.code, "subject": p.subject, "message": p.message, "file": p.file, "line": p.line}
                         for p in problems],
            "errors": [{"file": e.file, "line": e.line, "message": e.message} for e in inv.errors],
            "summary": {"problems": len(problems), "workloads": len(inv.workloads),
                        "policies": len(inv.policies)}}, indent=2))
    else:
        for p in problems:
            where = f"{p.file}:{p.line}: " if p.file else ""
            click.echo(f"{where}{p.code}: {p.subject}: {p.message}")
        click.echo(f"{len(problems)} problem(s) in {len(inv.workloads)} workload(s), {len(inv.policies)} "
                   "NetworkPolicy(ies)")
    if inv.errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_PROBLEMS if problems else EXIT_OK)
