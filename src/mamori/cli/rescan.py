"""``mamori rescan``: re-match registry, daemon and running images; report what is new since the last scan."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, NoReturn

import click

from mamori.cli.vuln import EXIT_ERROR, EXIT_FINDINGS, _line, db_option

_SEVERITIES = ("negligible", "low", "medium", "high", "critical")


def _fail(msg: str) -> NoReturn:
    click.echo(f"mamori: {msg}", err=True)
    sys.exit(EXIT_ERROR)


def _engine(url: str | None) -> Any:
    import mamori.store.rescan  # noqa: F401 - registers its table before open_db creates them
    from mamori.cli.vuln import _engine as vuln_engine

    return vuln_engine(url)


@click.command("rescan")
@click.option("--registry", "registries", multiple=True, metavar="registry:HOST[/PREFIX]",
              help="Walk every tag of every repository (under PREFIX) of this registry. Repeatable.")
@click.option("--docker", "docker_target", is_flag=False, flag_value="docker://", default=None,
              metavar="[docker://HOST]", help="Every image of the Docker daemon (default: DOCKER_HOST).")
@click.option("--running", is_flag=True, help="Images of running containers (with the containers' names).")
@db_option
@click.option("--fail-on", type=click.Choice(_SEVERITIES), help="Exit 1 when a NEW finding has this severity or worse.")
@click.option("--webhook", metavar="URL", help="POST each image's new findings, signed, to this URL.")
@click.option("--webhook-secret-file", type=click.Path(dir_okay=False),
              help="HMAC secret file (else $MAMORI_WEBHOOK_SECRET).")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--every", type=click.IntRange(min=1), metavar="SECONDS", help="Repeat every SECONDS (loop mode).")
@click.option("--runs", type=click.IntRange(min=0), default=0, help="With --every: stop after N rounds (0: never).")
@click.option("--insecure", is_flag=True, help="Loopback registries only: skip TLS verification, allow plain HTTP.")
@click.option("--ca-file", type=click.Path(dir_okay=False, exists=True), help="CA bundle for the registries.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Platform chosen from multi-platform images.")
def rescan(registries: tuple[str, ...], docker_target: str | None, running: bool, db_url: str | None,
           fail_on: str | None, webhook: str | None, webhook_secret_file: str | None, fmt: str, every: int | None,
           runs: int, insecure: bool, ca_file: str | None, platform: str | None) -> None:
    """Rescan known images against the advisory database; report new findings per image and where they run.

    Inventories are stored by digest: an image is downloaded once, later runs only re-match it.
    Exit 1 when new findings reach --fail-on, 2 on errors.
    """
    from mamori.live.notify import NotifyConfigError, check_url, read_secret

    if not registries and docker_target is None and not running:
        _fail("nothing to rescan: give --registry, --docker and/or --running")
    secret = b""
    if webhook:
        try:
            check_url(webhook)
            secret = read_secret(webhook_secret_file)
        except NotifyConfigError as exc:
            _fail(str(exc))
    engine = _engine(db_url)
    rounds = 0
    while True:
        code = _round(engine, registries, docker_target, running, fail_on, webhook, secret, fmt, insecure, ca_file,
                      platform)
        rounds += 1
        if every is None or (runs and rounds >= runs):
            sys.exit(code)
        time.sleep(every)


def _round(engine: Any, registries: tuple[str, ...], docker_target: str | None, running: bool, fail_on: str | None,
           webhook: str | None, secret: bytes, fmt: str, insecure: bool, ca_file: str | None,
           platform: str | None) -> int:
    from mamori.image import ImageError, RegistryOptions, load, parse_platform
    from mamori.image.auth import Credentials
    from mamori.live.connect import ConnectError, connect, endpoint
    from mamori.vuln.rescan import ImageResult, reaches, rescan_one
    from mamori.vuln.walk import Subject, docker_subjects, registry_subjects, repo_digests

    errors: list[str] = []
    user = os.environ.get("MAMORI_REGISTRY_USERNAME")
    creds = Credentials(user, os.environ.get("MAMORI_REGISTRY_PASSWORD", "")) if user else None
    options = RegistryOptions(ca_file=ca_file, insecure=insecure, credentials=creds)
    try:
        plat = parse_platform(platform) if platform else None
    except ImageError as exc:
        _fail(str(exc))
    subjects: list[Subject] = []
    for target in registries:
        try:
            subjects += registry_subjects(target, options, errors=errors)
        except ImageError as exc:
            errors.append(f"{target}: {exc}")
    docker_host: str | None = None
    running_at: dict[str, list[str]] = {}
    if docker_target is not None or running:
        try:
            docker_host = endpoint(docker_target).base_url
            client = connect(docker_target)
            try:
                subjects += docker_subjects(client, docker_target is not None, running)
                running_at = repo_digests(client)
            finally:
                client.close()
        except ConnectError as exc:
            errors.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - the SDK's errors become one line
            errors.append(f"docker: {type(exc).__name__}: {str(exc)[:300]}")
    for s in subjects:  # registry images that run here (pulled from that registry)
        s.platform = platform
        if s.ref.startswith("registry:"):
            s.containers += running_at.get(s.digest, [])

    def loader(ref: str) -> Any:
        return load(ref, plat, registry=options, docker_host=docker_host).inventory

    notify = _webhook(webhook, secret) if webhook else None
    results: list[ImageResult] = [rescan_one(engine, s, loader, notify) for s in subjects]
    errors += [f"{r.subject.ref}: {r.error}" for r in results if r.error]
    new_total = sum(len(r.new) for r in results)
    if fmt == "json":
        click.echo(json.dumps({"images": [r.as_dict() for r in results], "errors": errors,
                               "new": new_total}, indent=2))
    else:
        for r in results:
            if r.error:
                continue
            where = f" running as {', '.join(r.subject.containers)}" if r.subject.containers else ""
            how = "downloaded" if r.downloaded else "stored inventory"
            names = ", ".join(r.subject.names[:5]) or r.subject.ref
            click.echo(f"{names} ({r.subject.digest[:19]}){where}: {len(r.findings)} findings, {len(r.new)} new "
                       f"({how})")
            for f in r.new:
                click.echo(f"  NEW {_line(f)}")
        click.echo(f"{len(results)} images, {new_total} new findings, {len(errors)} errors")
    for e in errors:
        click.echo(f"mamori: {e}", err=True)
    if errors:
        return EXIT_ERROR
    if fail_on and any(reaches(f, fail_on) for r in results for f in r.new):
        return EXIT_FINDINGS
    return 0


def _webhook(url: str, secret: bytes) -> Any:
    """One signed POST per image with new findings; a refusal raises, so the image's result is kept for next time."""
    import httpx

    from mamori.live.notify import sign
    from mamori.store.decisions import utc_now
    from mamori.vuln.rescan import ImageResult, event_id, notification

    def send(res: ImageResult) -> None:
        created = utc_now()
        body = notification(res, created)
        headers = {"Content-Type": "application/json", "User-Agent": "mamori-rescan",
                   "X-Mamori-Signature": sign(secret, body), "X-Mamori-Event-Id": event_id(body),
                   "X-Mamori-Timestamp": created}
        try:
            resp = httpx.post(url, content=body, headers=headers, timeout=10.0, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise RuntimeError(f"webhook {url[:200]}: {type(exc).__name__}") from None
        if not 200 <= resp.status_code < 300:
            raise RuntimeError(f"webhook {url[:200]}: HTTP {resp.status_code}")

    return send
