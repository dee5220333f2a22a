"""A Docker host: the daemon's security settings and the files that guard it.

Read from a live daemon (``docker info``, ``daemon.json``, the dockerd command line, file
modes, ``/etc/group``) or from a saved snapshot document, so the CIS Docker Benchmark's
daemon checks are rules over this one typed object, like every other rule in mamori.

A field is ``None`` when mamori could not learn it (a remote daemon's files and command
line, say): a rule about it then stays silent rather than guess. A setting that nothing
sets is the daemon's default with ``explicit=False``, located where the fix goes (the
``daemon.json`` file).
"""

from __future__ import annotations

from dataclasses import dataclass

from mamori.model.core import Loc, Val
from mamori.model.resources import Meta


@dataclass(frozen=True, slots=True)
class HostFile:
    """Owner and permission bits of a file that controls the daemon (``mode`` is ``st_mode & 0o7777``)."""

    role: str  # daemon.json, socket
    path: str
    uid: int
    gid: int
    mode: int
    loc: Loc
    owner: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class DockerHost:
    """One Docker Engine and how it is configured."""

    meta: Meta
    endpoint: str  # unix:///var/run/docker.sock, tcp://host:2376
    local: bool  # a unix socket: host files and the command line were inspected
    server_version: str | None = None
    # TCP listeners that accept clients without verifying a TLS client certificate.
    plain_tcp: Val[tuple[str, ...]] | None = None
    insecure_registries: Val[tuple[str, ...]] | None = None
    icc: Val[bool] | None = None  # inter-container communication on the default bridge
    userns_remap: Val[bool] | None = None
    live_restore: Val[bool] | None = None
    no_new_privileges: Val[bool] | None = None
    seccomp_profile: Val[str] | None = None  # default, unconfined or a profile path
    log_driver: Val[str] | None = None
    authorization_plugins: Val[tuple[str, ...]] | None = None
    experimental: Val[bool] | None = None
    files: tuple[HostFile, ...] = ()
    docker_group: Val[tuple[str, ...]] | None = None  # members of the group that owns the socket
