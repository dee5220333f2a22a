"""``mamori authz``: install the Docker Engine authorization plugin.

``mamori authz install`` writes the plugin spec file and prints the two other changes a host
needs (``daemon.json`` and a systemd unit that starts mamori before dockerd), so that nothing
is changed on a host behind its administrator's back; ``--unit-file`` writes the unit too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys

import click

DEFAULT_SOCKET = "/run/docker/plugins/mamori.sock"
DEFAULT_PLUGINS_DIR = "/etc/docker/plugins"
SOCKET_DIR = "/run/docker/plugins"  # the only directory where dockerd finds .sock files itself
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@click.group()
def authz() -> None:
    """Docker Engine authorization plugin (served by `mamori serve --authz-socket`)."""


def plugin_name(socket: str) -> str:
    """The plugin name dockerd knows: the socket's file name without ``.sock``."""
    base = os.path.basename(socket)
    return base[: -len(".sock")] if base.endswith(".sock") else base


def spec_text(socket: str) -> str:
    return f"unix://{socket}\n"


def unit_text(socket: str, policy: str, mamori: list[str]) -> str:
    """A systemd unit that starts the plugin before dockerd and keeps it running."""
    cmd = " ".join(shlex.quote(p) for p in (*mamori, "serve", "--no-webhook", "--authz-socket", socket,
                                             "--config", policy))
    return (
        "[Unit]\n"
        "Description=mamori Docker authorization plugin\n"
        "Before=docker.service\n"
        "After=local-fs.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStartPre=/bin/mkdir -p {shlex.quote(os.path.dirname(socket))}\n"
        f"ExecStart={cmd}\n"
        "ExecReload=/bin/kill -HUP $MAINPID\n"
        "Restart=always\n"
        "RestartSec=1\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target docker.service\n"
    )


def daemon_json(name: str) -> str:
    return json.dumps({"authorization-plugins": [name]}, indent=2)


@authz.command()
@click.option("--socket", default=DEFAULT_SOCKET, show_default=True, metavar="PATH",
              help="Unix socket mamori serves the plugin on; its file name (without .sock) is the plugin name.")
@click.option("--plugins-dir", default=DEFAULT_PLUGINS_DIR, show_default=True, metavar="DIR",
              help="Where dockerd looks for plugin spec files.")
@click.option("-c", "--config", "--policy", "policy", default="/etc/mamori/policy.yaml", show_default=True,
              metavar="FILE", help="Policy file the systemd unit passes to `mamori serve`.")
@click.option("--unit-file", type=click.Path(dir_okay=False), metavar="PATH",
              help="Also write the systemd unit here (e.g. /etc/systemd/system/mamori-authz.service).")
@click.option("--dry-run", is_flag=True, help="Write nothing; print what would be written.")
def install(socket: str, plugins_dir: str, policy: str, unit_file: str | None, dry_run: bool) -> None:
    """Write the plugin spec file and print the daemon.json change and the systemd unit."""
    if not socket.startswith("/"):
        raise click.UsageError(f"--socket must be an absolute path, not {socket!r}")
    name = plugin_name(socket)
    if not _NAME.match(name):
        raise click.UsageError(f"plugin name {name!r} (from --socket) must be letters, digits, '.', '_' or '-'")
    spec = os.path.join(plugins_dir, f"{name}.spec")
    beside = os.path.join(os.path.dirname(sys.executable), "mamori")  # the venv's script when not on PATH
    found = shutil.which("mamori") or (beside if os.access(beside, os.X_OK) else None)
    mamori = [os.path.abspath(found)] if found else [sys.executable, "-m", "mamori.cli.main"]
    unit = unit_text(socket, policy, mamori)
    for path, text in ((spec, spec_text(socket)), *(((unit_file, unit),) if unit_file else ())):
        if dry_run:
            click.echo(f"# would write {path}:\n{text}")
            continue
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
        click.echo(f"wrote {path}")
    where = ("dockerd also finds the socket itself, since it is in " + SOCKET_DIR) if (
        os.path.dirname(socket) == SOCKET_DIR) else "the socket is outside " + SOCKET_DIR + ": the spec file is needed"
    click.echo(f"\nPlugin name: {name} ({where}).")
    click.echo("\n1. Start mamori before dockerd (systemd unit"
               + (f" written to {unit_file}" if unit_file and not dry_run else ", e.g. "
                  "/etc/systemd/system/mamori-authz.service") + "):\n")
    if not unit_file or dry_run:
        click.echo(unit)
    click.echo("   systemctl daemon-reload && systemctl enable --now mamori-authz.service\n")
    click.echo("2. Add the plugin to /etc/docker/daemon.json (merge with what is there):\n")
    click.echo(daemon_json(name))
    click.echo("\n   then: systemctl restart docker (or `kill -HUP $(pidof dockerd)` to reload daemon.json)\n")
    click.echo("While the plugin is down, dockerd refuses every API request. To recover: stop dockerd, remove "
               f"{name!r} from authorization-plugins (or start mamori), start dockerd. See docs/authz.md.")
