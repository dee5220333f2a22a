"""``mamori image``: read an image without unpacking it, and inventory it (SBOM, inspect).

Later subcommands (``scan``) build on ``mamori.image.load``, which returns the merged filesystem
view and the inventory in one pass.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from mamori.cli.vuln_options import db_option, vuln_filter_options

EXIT_ERROR = 2
F = TypeVar("F", bound=Callable[..., Any])


def source_options(fn: F) -> F:
    """Options every image subcommand shares: platform, registry TLS and credentials, daemon."""
    opts = [
        click.option("--platform", metavar="OS/ARCH[/VARIANT]",
                     help="Choose from a multi-platform image (default linux/amd64)."),
        click.option("--ca-file", type=click.Path(dir_okay=False, exists=True),
                     help="Trust this CA bundle for the registry's TLS certificate."),
        click.option("--insecure", is_flag=True,
                     help="Loopback registries only: skip TLS verification, fall back to plain HTTP."),
        click.option("--username", envvar="MAMORI_REGISTRY_USERNAME",
                     help="Registry user (or MAMORI_REGISTRY_USERNAME)."),
        click.option("--password-stdin", is_flag=True,
                     help="Read the registry password from stdin (else MAMORI_REGISTRY_PASSWORD)."),
        click.option("--docker-host", metavar="URL", help="Docker daemon for docker: references (default: env)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _load(ref: str, platform: str | None, ca_file: str | None, insecure: bool, username: str | None,
          password_stdin: bool, docker_host: str | None, sbom_format: str | None = None) -> Any:
    import os

    from mamori.image import ImageError, RegistryOptions, load, parse_platform
    from mamori.image.auth import Credentials

    creds = None
    if password_stdin and not username:
        click.echo("mamori: --password-stdin needs --username", err=True)
        sys.exit(EXIT_ERROR)
    if username:
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else \
            os.environ.get("MAMORI_REGISTRY_PASSWORD", "")
        creds = Credentials(username, password)
    try:
        plat = parse_platform(platform) if platform else None
        return load(ref, plat, registry=RegistryOptions(ca_file=ca_file, insecure=insecure, credentials=creds),
                    docker_host=docker_host, while_waiting=lambda: _prepare(sbom_format))
    except ImageError as exc:
        click.echo(f"mamori: {exc}", err=True)
        sys.exit(EXIT_ERROR)


def _prepare(sbom_format: str | None) -> None:
    """Imports needed once the image is read, done while a daemon prepares its save (idle time)."""
    from mamori.image.catalog import prepare

    prepare()
    if sbom_format:
        from mamori.image import sbom as sb

        sb.prepare(sbom_format)


# Generation-0 threshold for an image command, as mypy sets for its batch runs. Reading an image
# allocates hundreds of thousands of objects that live until the command ends (tar members, the
# view, the SBOM model): with the default of 700, the cyclic collector ran 129 times on the Debian
# archive's SBOM and took 0.05 s of 0.7 s while finding almost nothing (reference counting frees
# the rest); at this threshold it does not run, and peak memory grows by 1 MiB.
GC_THRESHOLD = (200_000, 30, 30)


@click.group("image")
@click.pass_context
def image(ctx: click.Context) -> None:
    """Read container images (registry:, docker:, docker-archive:, oci-dir:) and inventory them."""
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    ctx.call_on_close(lambda: gc.set_threshold(*before))


@image.command()
@click.argument("ref")
@click.option("--format", "fmt", type=click.Choice(["cyclonedx", "spdx"]), default="cyclonedx", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the SBOM to FILE instead of stdout.")
@source_options
def sbom(ref: str, fmt: str, output: str | None, **src: Any) -> None:
    """Write a CycloneDX 1.6 or SPDX 2.3 JSON SBOM of REF."""
    from mamori.image import sbom as sb

    loaded = _load(ref, **src, sbom_format=fmt)
    try:
        text = sb.cyclonedx(loaded.image, loaded.inventory) if fmt == "cyclonedx" else \
            sb.spdx(loaded.image, loaded.inventory)
    except sb.SbomError as exc:
        click.echo(f"mamori: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    for note in loaded.inventory.notes[:50]:
        click.echo(f"mamori: note: {note}", err=True)
    if loaded.view.refused:
        click.echo(f"mamori: {loaded.view.refused} layer member(s) refused as unsafe "
                   f"(first: {loaded.view.refusals[0].path}: {loaded.view.refusals[0].reason})", err=True)
    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            click.echo(f"mamori: cannot write {output}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_ERROR)
    else:
        click.echo(text, nl=not text.endswith("\n"))


@image.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@source_options
def inspect(ref: str, as_json: bool, **src: Any) -> None:
    """Digest, platform, layers, os-release and package counts of REF."""
    loaded = _load(ref, **src)
    img, inv, view = loaded.image, loaded.inventory, loaded.view
    doc = {
        "name": img.name, "source": img.source, "digest": img.digest, "config": img.config.digest,
        "mediaType": img.media_type, "platform": str(img.platform),
        "layers": [{"index": lyr.index, "digest": lyr.digest, "diff_id": lyr.diff_id,
                    "size": img.compressed_sizes[lyr.index] if lyr.index < len(img.compressed_sizes) else None}
                   for lyr in img.layers],
        "os": None if inv.os is None else {"id": inv.os.id, "version_id": inv.os.version_id,
                                           "pretty_name": inv.os.pretty_name},
        "files": len(view.entries), "packages": inv.counts(), "refused": view.refused,
        "refusals": [{"layer": r.layer, "path": r.path, "reason": r.reason} for r in view.refusals[:20]],
        "notes": inv.notes[:50],
    }
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"{img.name}\n  digest:   {img.digest or '-'}\n  config:   {img.config.digest}\n"
               f"  platform: {img.platform}")
    for lyr in doc["layers"]:
        click.echo(f"  layer {lyr['index']}: {lyr['digest'] or lyr['diff_id']}  {lyr['size'] or '?'} bytes")
    os_name = (inv.os.pretty_name or inv.os.id) if inv.os else "unknown"
    click.echo(f"  os:       {os_name}")
    click.echo(f"  files:    {len(view.entries)}")
    counts = ", ".join(f"{k} {v}" for k, v in inv.counts().items()) or "none"
    click.echo(f"  packages: {counts}")
    if view.refused:
        click.echo(f"  refused:  {view.refused} layer member(s) refused as unsafe")
    for note in inv.notes[:50]:
        click.echo(f"  note: {note}")


@image.command("scan")
@click.argument("ref")
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json", "sarif", "junit")), default="text",
              show_default=True, help="Report format (as `mamori scan`).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report to FILE instead of stdout.")
@click.option("--fail-on", type=click.Choice(["info", "low", "medium", "high", "critical"], case_sensitive=False),
              help="Exit 1 when a finding at or above this severity remains.")
@click.option("-c", "--config", "config", type=click.Path(dir_okay=False),
              help="Policy file (default: .mamori.yaml or mamori.yaml in the current directory).")
@click.option("--no-config", is_flag=True, help="Ignore any policy file in the current directory.")
@click.option("--show-dockerfile", is_flag=True,
              help="Print the Dockerfile reconstructed from the image config (what config findings point at).")
@click.option("--vulns", is_flag=True,
              help="Also match the image's packages against the advisory database (see `mamori vuln`).")
@db_option
@vuln_filter_options
@source_options
def scan_image(ref: str, fmt: str, output: str | None, fail_on: str | None, config: str | None, no_config: bool,
               show_dockerfile: bool, vulns: bool, db_url: str | None, ignore_unfixed: bool, ignore_file: str | None,
               **src: Any) -> None:
    """Judge REF: its config by the Dockerfile rules, its layers by the image-content rules (MAM-IMGFS-*),
    and with --vulns its packages against the advisory database (--fail-on gates both).

    Exit codes as `mamori scan`: 0 nothing at or above --fail-on, 1 findings, 2 unreadable image, policy or database.
    """
    from datetime import date

    from mamori.cli.common import load_cli_policy
    from mamori.cli.main import EXIT_FINDINGS, EXIT_OK, _write
    from mamori.image import ImageError, RegistryOptions, parse_platform
    from mamori.image.auth import Credentials
    from mamori.image.contents import load_with_contents
    from mamori.image.model import config_scan, reconstruct
    from mamori.policy.engine import active_rules, decide
    from mamori.report import render

    policy, _ = load_cli_policy(config, no_config, fail_on)
    vctx = None
    if vulns:  # the database and the ignore file are checked before the image is downloaded
        from mamori.cli.vuln import VulnContext

        vctx = VulnContext(db_url, ignore_file, ignore_unfixed)
    elif ignore_unfixed or ignore_file:  # not --db: it may come from MAMORI_DB
        click.echo("mamori: --ignore-unfixed and --ignore-file need --vulns", err=True)
        sys.exit(EXIT_ERROR)
    import os

    creds = None
    if src["password_stdin"] and not src["username"]:
        click.echo("mamori: --password-stdin needs --username", err=True)
        sys.exit(EXIT_ERROR)
    if src["username"]:
        password = sys.stdin.readline().rstrip("\r\n") if src["password_stdin"] else \
            os.environ.get("MAMORI_REGISTRY_PASSWORD", "")
        creds = Credentials(src["username"], password)
    try:
        plat = parse_platform(src["platform"]) if src["platform"] else None
        loaded, contents = load_with_contents(
            ref, plat, registry=RegistryOptions(ca_file=src["ca_file"], insecure=src["insecure"], credentials=creds),
            docker_host=src["docker_host"], while_waiting=lambda: _prepare(None))
    except ImageError as exc:
        click.echo(f"mamori: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    if show_dockerfile:
        click.echo(reconstruct(loaded.image.config.raw, display=True), err=True)
    scan_set = config_scan(loaded.image.config.raw, loaded.image.name)
    scan_set.resources.append(contents)
    if loaded.view.refused:
        click.echo(f"mamori: {loaded.view.refused} layer member(s) refused as unsafe "
                   f"(first: {loaded.view.refusals[0].path}: {loaded.view.refusals[0].reason})", err=True)
    decision = decide(scan_set, policy, today=date.today())
    text = render(fmt, decision, active_rules(policy), color=False)
    vuln_blocking = False
    if vctx is not None:
        from mamori.vuln.report import with_policy_report
        from mamori.vuln.targets import targets_from_inventory

        rep = vctx.report(loaded.image.name, targets_from_inventory(loaded.inventory))
        text = with_policy_report(fmt, text, rep)
        vuln_blocking = rep.blocking(policy.fail_on.name.lower() if policy.fail_on else None)
    _write(text, output)
    for err in decision.errors:
        click.echo(f"mamori: error: {err}", err=True)
    if decision.errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if decision.blocking or vuln_blocking else EXIT_OK)
