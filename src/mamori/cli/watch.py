"""``mamori watch`` (follow Docker events), ``mamori events``, ``mamori notifications`` and ``mamori drift``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mamori.live.events import LIFECYCLE

FILTER_KEYS = ("container", "image", "label")
MAX_WATCH_PATHS = 32


def _store(db: str | None) -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from mamori.store.events import open_store

    try:
        return open_store(db)
    except (SQLAlchemyError, OSError) as exc:
        click.echo(f"mamori: cannot open the store: {str(exc).splitlines()[0][:300]}", err=True)
        sys.exit(2)


def _since(text: str | None) -> int | None:
    if not text:
        return None
    from mamori.live.events import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


def _watch_paths(paths: tuple[str, ...]) -> tuple[str, ...]:
    if len(paths) > MAX_WATCH_PATHS:
        raise click.BadParameter(f"at most {MAX_WATCH_PATHS} paths", param_hint="--watch-path")
    out = []
    for p in paths:
        if not p.startswith("/") or len(p) > 4096 or "\0" in p or ".." in p.split("/"):
            raise click.BadParameter(f"{p[:100]!r} must be an absolute path without '..'", param_hint="--watch-path")
        out.append(p.rstrip("/") or "/")
    return tuple(dict.fromkeys(out))


def _filters(items: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in FILTER_KEYS or not value or len(value) > 1024:
            raise click.BadParameter(f"{item[:100]!r}: expected KEY=VALUE with KEY one of {', '.join(FILTER_KEYS)}",
                                     param_hint="--filter")
        out.setdefault(key, []).append(value)
    return out


@click.command()
@click.option("-H", "--host", "target", metavar="HOST",
              help="Docker daemon: docker://, unix:///path or tcp://host:port (default: DOCKER_HOST).")
@click.option("-c", "--config", "--policy", "config", type=click.Path(dir_okay=False),
              help="Policy that judges created containers (default: .mamori.yaml or mamori.yaml here).")
@click.option("--no-config", is_flag=True, help="Ignore any policy file in the current directory.")
@click.option("--db", metavar="URL", help="Store (default: SQLite under $MAMORI_HOME).")
@click.option("--webhook", "webhooks", multiple=True, metavar="URL", help="POST each record here (repeatable).")
@click.option("--webhook-secret-file", "secret_files", multiple=True, type=click.Path(dir_okay=False),
              help="HMAC secret of the webhook in the same position (one file: for every webhook).")
@click.option("--webhook-secret-env", default="MAMORI_WEBHOOK_SECRET", show_default=True, metavar="NAME",
              help="Environment variable with the secret when no --webhook-secret-file is given.")
@click.option("--events", "actions", default=",".join(LIFECYCLE), show_default=True, metavar="LIST",
              help="Container actions to record, comma-separated.")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE",
              help="Only events of matching containers: container=NAME|ID, image=REF, label=K[=V] (repeatable).")
@click.option("--since", metavar="TIME", help="Replay from this time (RFC 3339 or epoch seconds) on start; "
              "already stored events are skipped. Default: resume after the last stored event, else now.")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Record a drift baseline when a container starts.")
@click.option("--watch-path", "watch_paths", multiple=True, metavar="PATH",
              help="Hash the files under this path inside each container for drift (repeatable).")
@click.option("--drift-interval", type=click.FloatRange(min=0), default=0, show_default=True, metavar="SECONDS",
              help="Compare running containers with their baselines this often (0: only on demand).")
@click.option("--max-attempts", type=click.IntRange(1, 1000), default=12, show_default=True,
              help="Delivery attempts before a notification becomes a dead letter.")
@click.option("--max-age", type=click.FloatRange(min=1), default=86400, show_default=True, metavar="SECONDS",
              help="A notification older than this becomes a dead letter.")
@click.option("--retry-base", type=click.FloatRange(min=0.01), default=1.0, show_default=True, metavar="SECONDS",
              help="First retry delay; doubled on each failure, jittered.")
@click.option("--retry-cap", type=click.FloatRange(min=0.01), default=300, show_default=True, metavar="SECONDS")
@click.option("--timeout", type=click.FloatRange(min=0.1, max=300), default=10, show_default=True,
              metavar="SECONDS", help="HTTP timeout of one delivery.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def watch(target: str | None, config: str | None, no_config: bool, db: str | None, webhooks: tuple[str, ...],
          secret_files: tuple[str, ...], webhook_secret_env: str, actions: str, filters: tuple[str, ...],
          since: str | None, baseline: bool, watch_paths: tuple[str, ...], drift_interval: float, max_attempts: int,
          max_age: float, retry_base: float, retry_cap: float, timeout: float, log_level: str) -> None:
    """Follow the daemon's container events: record each, judge new containers, notify, watch drift.

    Runs until SIGTERM/SIGINT. Resumes after the last stored event; no event is stored or
    notified twice. Notifications are signed (X-Mamori-Signature) and kept in an outbox until
    delivered. See docs/watch.md.
    """
    import logging
    import signal

    from mamori.cli.common import load_cli_policy
    from mamori.live.notify import NotifyConfigError, Retry, Webhook, check_url, read_secret
    from mamori.live.watch import Watcher, WatchOptions

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "urllib3", "docker"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    wanted = tuple(dict.fromkeys(a.strip() for a in actions.split(",") if a.strip()))
    unknown = [a for a in wanted if a not in LIFECYCLE]
    if not wanted or unknown:
        raise click.BadParameter(f"unknown action(s) {', '.join(unknown)}; choose from {', '.join(LIFECYCLE)}",
                                 param_hint="--events")
    if len(secret_files) > 1 and len(secret_files) != len(webhooks):
        raise click.UsageError("give one --webhook-secret-file for all webhooks or one per --webhook, in order")
    hooks = []
    try:
        for i, url in enumerate(webhooks):
            path = secret_files[i] if len(secret_files) > 1 else (secret_files[0] if secret_files else None)
            hooks.append(Webhook(check_url(url), read_secret(path, webhook_secret_env)))
    except NotifyConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if len({h.url for h in hooks}) != len(hooks):
        raise click.UsageError("the same --webhook is given twice")
    opts = WatchOptions(target=target, actions=wanted, filters=_filters(filters), since=_since(since),
                        baseline=baseline, watch_paths=_watch_paths(watch_paths), drift_interval=drift_interval)
    policy, _path = load_cli_policy(config, no_config)
    engine = _store(db)
    watcher = Watcher(engine, policy, opts, tuple(hooks),
                      Retry(max_attempts=max_attempts, max_age=max_age, base=retry_base, cap=retry_cap,
                            timeout=timeout))

    def _stop(_sig: int, _frame: object) -> None:
        watcher.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stats = watcher.run()
    sent = sum(d.stats.sent for d in watcher.deliverers)
    click.echo(json.dumps({"received": stats.received, "stored": stats.stored, "duplicates": stats.duplicates,
                           "connections": stats.connections, "drift_reports": stats.drift_reports,
                           "notified": sent}), err=True)


def _line_event(r: dict[str, Any]) -> str:
    action = r["action"] + (f":{r['detail']}" if r["detail"] else "")
    extra = []
    if r["exit_code"] is not None:
        extra.append(f"exit={r['exit_code']}")
    if r["signal"]:
        extra.append(f"signal={r['signal']}")
    if r["allowed"] is not None or r["verdict"]:
        result = (r["verdict"] or {}).get("result", "allowed" if r["allowed"] else "denied")
        extra.append(f"verdict={result}")
    text = (f"{r['time']}  {action:<14} {r['container_name'] or '-'} ({r['container_id'][:12]})  "
            f"{r['image'] or '-'}  {' '.join(extra)}").rstrip()
    if r["rules"]:
        text += f"\n    rules: {', '.join(r['rules'])}"
    return text


@click.command()
@click.option("--db", metavar="URL", help="Store (default: SQLite under $MAMORI_HOME).")
@click.option("--container", metavar="NAME", help="Only this container (name or id prefix).")
@click.option("--action", type=click.Choice(LIFECYCLE), help="Only this action.")
@click.option("--since", metavar="TIME", help="Only events at or after this time (RFC 3339 or epoch seconds).")
@click.option("--denied", is_flag=True, help="Only create events whose container the policy denies.")
@click.option("-n", "--limit", type=click.IntRange(1, 1_000_000), default=100, show_default=True,
              help="The newest N events, printed oldest first.")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one record per line.")
def events(db: str | None, container: str | None, action: str | None, since: str | None, denied: bool, limit: int,
           fmt: str) -> None:
    """Container events recorded by `mamori watch`."""
    from mamori.store.events import query

    rows = list(query(_store(db), container=container, action=action, since_nano=_since(since), denied=denied,
                      limit=limit))
    rows.reverse()
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r, sort_keys=True))
        return
    if not rows:
        click.echo("no events recorded")
    for r in rows:
        click.echo(_line_event(r))


@click.command()
@click.option("--db", metavar="URL", help="Store (default: SQLite under $MAMORI_HOME).")
@click.option("--dead", "status", flag_value="dead", help="Only dead letters.")
@click.option("--pending", "status", flag_value="pending", help="Only notifications not yet delivered.")
@click.option("--delivered", "status", flag_value="delivered", help="Only delivered notifications.")
@click.option("--webhook", metavar="URL", help="Only this webhook.")
@click.option("--requeue", is_flag=True, help="Make dead letters pending again (after fixing the receiver).")
@click.option("-n", "--limit", type=click.IntRange(1, 1_000_000), default=50, show_default=True)
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def notifications(db: str | None, status: str | None, webhook: str | None, requeue: bool, limit: int,
                  fmt: str) -> None:
    """The notification outbox: pending, delivered and dead letters, newest first."""
    from mamori.store import outbox

    engine = _store(db)
    if requeue:
        n = outbox.requeue(engine, webhook)
        click.echo(f"{n} dead letter(s) pending again; a running `mamori watch` delivers them")
        return
    rows = list(outbox.query(engine, status=status, webhook=webhook, limit=limit))
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r, sort_keys=True))
        return
    counts = outbox.counts(engine)
    click.echo("outbox: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in (outbox.PENDING, outbox.DELIVERED,
                                                                             outbox.DEAD)))
    for r in rows:
        err = f"  last: {r['last_error']}" if r["last_error"] else ""
        click.echo(f"{r['created']}  {r['status']:<9} {r['kind']:<5} {r['key'][:16]}  attempts={r['attempts']}  "
                   f"{r['webhook']}{err}")


@click.command()
@click.argument("containers", nargs=-1)
@click.option("-H", "--host", "target", metavar="HOST",
              help="Docker daemon: docker://, unix:///path or tcp://host:port (default: DOCKER_HOST).")
@click.option("--db", metavar="URL", help="Store (default: SQLite under $MAMORI_HOME).")
@click.option("--baseline", "take_baseline", is_flag=True,
              help="Record the containers' current state as their baseline instead of comparing.")
@click.option("--watch-path", "watch_paths", multiple=True, metavar="PATH",
              help="With --baseline: hash the files under this path (repeatable).")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def drift(containers: tuple[str, ...], target: str | None, db: str | None, take_baseline: bool,
          watch_paths: tuple[str, ...], fmt: str) -> None:
    """Compare containers (default: every running one with a baseline) with their baselines.

    Exit 0: no drift; 1: drift found; 2: a container or its baseline is missing, or the daemon
    cannot be reached. Reports that differ from the previous one are stored.
    """
    import docker.errors  # type: ignore[import-untyped]

    from mamori.live import drift as d
    from mamori.live.connect import ConnectError, connect
    from mamori.live.watch import record_drift
    from mamori.store import drift as store

    paths = _watch_paths(watch_paths)
    engine = _store(db)
    try:
        client = connect(target)
        daemon = str(client.info().get("ID") or "")
        ctrs = [client.containers.get(c) for c in containers] if containers else client.containers.list()
    except ConnectError as exc:
        click.echo(f"mamori: {exc}", err=True)
        sys.exit(2)
    except docker.errors.NotFound as exc:
        click.echo(f"mamori: no such container: {str(exc.explanation or exc)[:200]}", err=True)
        sys.exit(2)
    except docker.errors.APIError as exc:
        click.echo(f"mamori: docker: {str(exc)[:300]}", err=True)
        sys.exit(2)
    worst = 0
    out: list[dict[str, Any]] = []
    for ctr in ctrs:
        if take_baseline:
            state = d.capture(ctr, paths)
            store.save_baseline(engine, ctr.id, ctr.name, daemon, state)
            click.echo(f"baseline recorded for {ctr.name} ({ctr.id[:12]}): config {state['config_hash'][:16]}, "
                       f"{len(state['processes'])} processes, {len(paths)} watched paths", err=fmt == "json")
            continue
        base = store.baseline(engine, ctr.id)
        if base is None:
            if containers:
                click.echo(f"mamori: {ctr.name}: no baseline (started before `mamori watch`; "
                           "record one with `mamori drift --baseline`)", err=True)
                worst = 2
            continue
        report = d.compare(base["data"], d.capture(ctr, tuple(base["data"].get("watch_paths", []))))
        record_drift(engine, report, daemon=daemon, container_id=ctr.id, name=ctr.name, source="cli")
        if not report["clean"]:
            worst = max(worst, 1)
        out.append({"container_id": ctr.id, "container_name": ctr.name, "baseline_time": base["time"],
                    "report": report})
    client.close()
    if fmt == "json":
        for item in out:
            click.echo(json.dumps(item, sort_keys=True))
    else:
        for item in out:
            click.echo(f"{item['container_name']} ({item['container_id'][:12]}), baseline {item['baseline_time']}:")
            for line in d.summary(item["report"]):
                click.echo(f"  {line}")
            for err in item["report"]["errors"]:
                click.echo(f"  error: {err}")
    sys.exit(worst)
