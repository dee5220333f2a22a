"""``mamori ambassador server|client``: the mTLS ambassador proxy (see docs/ambassador.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

F = Callable[..., Any]


def _common(fn: F) -> F:
    opts = [
        click.option("--listen", required=True, metavar="HOST:PORT", help="Where to accept connections."),
        click.option("--target", required=True, metavar="HOST:PORT|unix:PATH", help="Where to forward them."),
        click.option("--cert", required=True, type=click.Path(dir_okay=False), help="Own certificate chain (PEM)."),
        click.option("--key", required=True, type=click.Path(dir_okay=False), help="Own private key (PEM, "
                     "unencrypted)."),
        click.option("--ca", required=True, type=click.Path(dir_okay=False), help="CA bundle that peers' "
                     "certificates must chain to (PEM)."),
        click.option("--allow-uri", multiple=True, metavar="URI", help="Admit peers with this URI SAN; a trailing "
                     "/* admits any path below (spiffe://td/ns/x/*), * inside matches one segment. Repeatable."),
        click.option("--allow-dns", multiple=True, metavar="NAME", help="Admit peers with this DNS SAN "
                     "(*.domain: one label). Repeatable."),
        click.option("--allow-subject", multiple=True, metavar="DN", help="Admit peers with exactly this subject "
                     "(RFC 4514, e.g. CN=web,O=shop). Repeatable."),
        click.option("--allow-cn", multiple=True, metavar="CN", help="Admit peers with this subject common name."),
        click.option("--flow-log", default="-", show_default=True, metavar="FILE|-",
                     help="Flow records as ECS JSON lines: a file (appended) or - for stderr."),
        click.option("--audit-db", metavar="URL", help="Also append flow records to mamori's audit log in this "
                     "store ('default': SQLite under $MAMORI_HOME)."),
        click.option("--status", "status_addr", metavar="HOST:PORT", help="Serve /healthz, /metrics and /status."),
        click.option("--handshake-timeout", type=click.FloatRange(0.1, 3600), default=10.0, show_default=True),
        click.option("--connect-timeout", type=click.FloatRange(0.1, 3600), default=10.0, show_default=True),
        click.option("--idle-timeout", type=click.FloatRange(0.1, 86400), default=300.0, show_default=True),
        click.option("--max-connections", type=click.IntRange(1, 1_000_000), default=1024, show_default=True),
        click.option("--max-buffer", type=click.IntRange(16 * 1024, 64 * 1024 * 1024), default=256 * 1024,
                     show_default=True, help="Bytes buffered per connection and direction before back-pressure."),
        click.option("--shutdown-timeout", type=click.FloatRange(0.1, 86400), default=30.0, show_default=True,
                     help="On SIGTERM, seconds to let open connections finish."),
        click.option("--reload-interval", type=click.FloatRange(0.1, 86400), default=5.0, show_default=True,
                     help="Seconds between checks of the certificate files (SIGHUP reloads at once)."),
        click.option("--ready-file", type=click.Path(dir_okay=False), hidden=True),
        click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
                     show_default=True),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


@click.group()
def ambassador() -> None:
    """mTLS ambassador proxy: terminate or originate mutual TLS for an application that cannot."""


@ambassador.command()
@_common
@click.option("--allow-all", is_flag=True, help="Admit any peer with a certificate from --ca (no identity check).")
@click.option("--unsafe-target", is_flag=True, help="Allow a --target that is not on this host.")
def server(**kw: Any) -> None:
    """Terminate mTLS (client certificates required) in front of a plaintext application."""
    _run("server", kw)


@ambassador.command()
@_common
@click.option("--server-name", metavar="NAME", help="Name to send (SNI) and verify; default: the target host. "
              "With --allow-* and no --server-name, the allow-list replaces the host name check.")
@click.option("--unsafe-listen", is_flag=True, help="Allow a --listen address that is not loopback.")
def client(**kw: Any) -> None:
    """Accept plaintext from the local application and originate mTLS to a remote service."""
    _run("client", kw)


def _setup_logging(level: str) -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mamori ambassador: %(levelname)s: %(message)s"))
    lg = logging.getLogger("mamori.ambassador")
    lg.handlers[:] = [handler]
    lg.setLevel(level.upper())
    lg.propagate = False


def _run(mode: str, kw: dict[str, Any]) -> None:
    from mamori.ambassador.addr import AddressError, parse
    from mamori.ambassador.identity import AllowList, IdentityError
    from mamori.ambassador.proxy import ConfigError, Options
    from mamori.ambassador.run import RunConfig, run
    from mamori.ambassador.tls import Files, TlsConfigError

    _setup_logging(kw["log_level"])
    try:
        allow = AllowList.build(tuple(kw["allow_uri"]), tuple(kw["allow_dns"]), tuple(kw["allow_subject"]),
                                tuple(kw["allow_cn"]), bool(kw.get("allow_all")))
        listen = parse(kw["listen"], unix=False)
        target = parse(kw["target"], unix=mode == "server")
        status = parse(kw["status_addr"], unix=False) if kw["status_addr"] else None
        opts = Options(mode, listen, target, Files(kw["cert"], kw["key"], kw["ca"]), allow,
                       server_name=kw.get("server_name"), handshake_timeout=kw["handshake_timeout"],
                       connect_timeout=kw["connect_timeout"], idle_timeout=kw["idle_timeout"],
                       max_connections=kw["max_connections"], max_buffer=kw["max_buffer"],
                       shutdown_timeout=kw["shutdown_timeout"], reload_interval=kw["reload_interval"],
                       unsafe_target=bool(kw.get("unsafe_target")), unsafe_listen=bool(kw.get("unsafe_listen")))
        opts.check()
        run(RunConfig(opts, kw["flow_log"], kw["audit_db"], status, kw["ready_file"]))
    except (IdentityError, AddressError, ConfigError, TlsConfigError) as exc:
        click.echo(f"mamori ambassador: error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"mamori ambassador: error: {exc.strerror or exc}", err=True)
        sys.exit(2)
