"""``mamori serve`` (the enforcement endpoints) and ``mamori decisions`` (what they decided)."""

from __future__ import annotations

import json
import sys

import click

from mamori.cli.common import load_cli_policy


def _hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


@click.command()
@click.option("--listen", default="127.0.0.1:8443", show_default=True, metavar="HOST:PORT",
              help="Address of the admission webhook (HTTPS when --tls-cert is given).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="Serving certificate (PEM).")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="Key of the serving certificate.")
@click.option("--tls-client-ca", type=click.Path(exists=True, dir_okay=False),
              help="Require client certificates signed by this CA (API server client auth).")
@click.option("--no-webhook", is_flag=True, help="Do not serve the admission webhook (only the AuthZ socket).")
@click.option("--authz-socket", type=click.Path(dir_okay=False), metavar="PATH",
              help="Also serve the Docker AuthZ plugin on this unix socket "
                   "(normally /run/docker/plugins/mamori.sock).")
@click.option("-c", "--config", "--policy", "config", type=click.Path(dir_okay=False),
              help="Policy file (default: .mamori.yaml or mamori.yaml in the current directory).")
@click.option("--no-config", is_flag=True, help="Ignore any policy file in the current directory.")
@click.option("--db", metavar="URL", help="Decision store (default: SQLite under $MAMORI_HOME).")
@click.option("--no-record", is_flag=True, help="Do not store decisions (metrics and logs only).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One JSON line per HTTP request on stderr.")
@click.option("--audit-db", metavar="URL", help="Serve the audit log collector (POST /v1/logs) into this store "
              "('default': SQLite under $MAMORI_HOME).")
@click.option("--ingest-tokens", type=click.Path(dir_okay=False), help="Collector bearer tokens: "
              "'sha256:<hex> <identity>' lines (`mamori log token`).")
@click.option("--checkpoint-key", type=click.Path(dir_okay=False), help="Key that signs audit checkpoints "
              "(`mamori log keygen`); passphrase from $MAMORI_CHECKPOINT_PASSPHRASE.")
@click.option("--checkpoint-interval", type=click.FloatRange(0.1), default=60.0, show_default=True,
              help="Seconds between audit checkpoints.")
@click.option("--syslog-tls", metavar="HOST:PORT", help="Also collect RFC 5424 syslog over TLS (RFC 5425, port 6514 "
              "by convention) into --audit-db; uses --tls-cert/--tls-key, and --tls-client-ca for mTLS sources.")
@click.option("--syslog-tcp", metavar="HOST:PORT", help="Also collect syslog over plain TCP (RFC 6587): senders are "
              "not authenticated (recorded as unauthenticated:<address>) and messages travel in clear.")
@click.option("--syslog-max-message", type=click.IntRange(2048, 60_000), default=32_768, show_default=True,
              help="Largest syslog message in octets; a larger frame is recorded as malformed and closes the "
              "connection.")
@click.option("--syslog-max-connections", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--syslog-rate", type=click.FloatRange(1), default=50_000.0, show_default=True,
              help="Syslog messages per second per source; a faster source is read more slowly, never dropped.")
def serve(listen: str, tls_cert: str | None, tls_key: str | None, tls_client_ca: str | None, no_webhook: bool,
          authz_socket: str | None, config: str | None, no_config: bool, db: str | None, no_record: bool,
          log_level: str, access_log: bool, audit_db: str | None, ingest_tokens: str | None,
          checkpoint_key: str | None, checkpoint_interval: float, syslog_tls: str | None, syslog_tcp: str | None,
          syslog_max_message: int, syslog_max_connections: int, syslog_rate: float) -> None:
    """Run the enforcement endpoints in one process.

    The admission webhook (/validate, /mutate, /healthz, /readyz, /metrics) on --listen,
    and with --authz-socket the Docker AuthZ plugin. Both judge with the same policy as
    `mamori scan`. SIGHUP reloads the policy; SIGTERM drains and stops.
    """
    import asyncio
    import logging

    from mamori.server.app import build_app
    from mamori.server.http import configure_logging
    from mamori.server.run import Listener, serve_all
    from mamori.server.state import ServerState

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if tls_client_ca and not tls_cert:
        raise click.UsageError("--tls-client-ca needs --tls-cert/--tls-key")
    if (syslog_tls or syslog_tcp) and not audit_db:
        raise click.UsageError("--syslog-tls/--syslog-tcp write into the audit log: add --audit-db")
    if syslog_tls and not tls_cert:
        raise click.UsageError("--syslog-tls needs --tls-cert/--tls-key")
    if no_webhook and not (authz_socket or syslog_tls or syslog_tcp):
        raise click.UsageError("nothing to serve: --no-webhook without --authz-socket")
    if audit_db and no_webhook and not (syslog_tls or syslog_tcp):
        raise click.UsageError("--audit-db serves POST /v1/logs on the --listen address: drop --no-webhook")
    configure_logging(log_level, access_log)
    log = logging.getLogger("mamori.server")
    policy, path = load_cli_policy(config, no_config)
    recorder = None
    if not no_record:
        from sqlalchemy.exc import SQLAlchemyError

        from mamori.store.db import open_db
        from mamori.store.decisions import DecisionRecorder

        try:
            recorder = DecisionRecorder(open_db(db))
        except (SQLAlchemyError, OSError) as exc:
            click.echo(f"mamori: cannot open the decision store: {exc}", err=True)
            sys.exit(2)
    state = ServerState(policy=policy, recorder=recorder, policy_path=path)
    state.warm_up()
    import gc

    # Everything loaded so far (rules, catalog, libraries) lives as long as the process: keep it out
    # of the collector's scans, and collect young objects less often, so no request waits on a
    # full collection of a large heap (measured: p99 latency at 200 req/s, bench/admission.py).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    log.info("policy: %s", path or "built-in defaults")
    listeners = []
    collector = None
    if audit_db:
        import os

        from mamori.server.ingest import setup

        phrase = os.environ.get("MAMORI_CHECKPOINT_PASSPHRASE")
        try:
            collector = setup(state, None if audit_db == "default" else audit_db, ingest_tokens, checkpoint_key,
                              checkpoint_interval, phrase.encode() if phrase else None)
        except Exception as exc:  # noqa: BLE001 - any unusable store, token file or key: say which, exit 2
            click.echo(f"mamori: cannot start the audit collector: {str(exc).splitlines()[0]}", err=True)
            sys.exit(2)
    if not no_webhook:
        host, port = _hostport(listen)
        if not tls_cert:
            log.warning("serving plain HTTP on %s: the Kubernetes API server only calls webhooks over HTTPS", listen)
        app = build_app(state, collector.routes if collector else ())
        listeners.append(Listener("admission", app, host=host, port=port, tls_cert=tls_cert,
                                  tls_key=tls_key, tls_client_ca=tls_client_ca))
    if authz_socket:
        from mamori.server.authz import authz_app

        listeners.append(Listener("docker-authz", authz_app(state), uds=authz_socket))
    services = []
    if collector is not None and (syslog_tls or syslog_tcp):
        from mamori.server import syslog

        try:
            ctx = syslog.tls_context(tls_cert, tls_key, tls_client_ca) if syslog_tls and tls_cert and tls_key else None
        except (OSError, ValueError) as exc:
            click.echo(f"mamori: cannot load the syslog TLS certificate: {exc}", err=True)
            sys.exit(2)
        services = syslog.servers(collector.writer, state.metrics.registry, tls=_hostport(syslog_tls) if syslog_tls
                                  else None, tcp=_hostport(syslog_tcp) if syslog_tcp else None, tls_ctx=ctx,
                                  rate=syslog_rate, limits=syslog.Limits(syslog_max_message, syslog_max_connections))
        if syslog_tcp:
            log.warning("syslog over plain TCP on %s: senders are unauthenticated and messages unencrypted", syslog_tcp)
        if syslog_tls and not tls_client_ca:
            log.warning("syslog over TLS without --tls-client-ca: senders are recorded by address, not authenticated")
    import uvloop

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve_all(listeners, state, services))
    except OSError as exc:  # a syslog address that cannot be bound
        click.echo(f"mamori: cannot listen: {exc}", err=True)
        sys.exit(2)
    finally:
        if recorder is not None:
            recorder.close()
        if collector is not None:
            collector.close()


@click.command()
@click.option("--db", metavar="URL", help="Decision store (default: SQLite under $MAMORI_HOME).")
@click.option("-n", "--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--denied", is_flag=True, help="Only denials (and refused requests).")
@click.option("--adapter", type=click.Choice(["admission-validate", "admission-mutate", "docker-authz"]),
              help="Only decisions of this endpoint.")
@click.option("--since", metavar="TIME", help="Only decisions at or after this UTC time (RFC 3339 prefix).")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def decisions(db: str | None, limit: int, denied: bool, adapter: str | None, since: str | None, fmt: str) -> None:
    """Show the decisions recorded by `mamori serve` (who, what, verdict, rules)."""
    from mamori.store.db import open_db
    from mamori.store.decisions import query

    rows = list(query(open_db(db), limit=limit, denied_only=denied, adapter=adapter, since=since))
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    if not rows:
        click.echo("no decisions recorded")
        return
    for r in rows:
        flags = " (dry run)" if r["dry_run"] else ""
        click.echo(f"{r['time']}  {r['result']:<8} {r['adapter']:<19} {r['operation']:<8} {r['subject']}"
                   f"  user={r['user'] or '-'}{flags}")
        if r["rules"]:
            click.echo(f"    rules: {', '.join(r['rules'])}")
