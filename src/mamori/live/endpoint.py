"""Where a Docker daemon listens, from a ``docker://`` target or the environment, as the docker CLI decides it.

Kept apart from :mod:`mamori.live.connect` (which needs the docker SDK) so that readers which talk
to a local socket themselves (``mamori.image.daemon``) resolve the daemon the same way without
importing the SDK.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

SCHEME = "docker://"
DEFAULT_HOST = "unix:///var/run/docker.sock"
MAX_TARGET = 4096


class ConnectError(Exception):
    """The daemon cannot be reached or the target is malformed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the daemon listens: ``base_url`` as the SDK takes it, and whether it is local."""

    base_url: str
    tls: bool

    @property
    def local(self) -> bool:
        """A unix socket: the daemon runs on this machine, so its files can be inspected."""
        return self.base_url.startswith("unix://")

    @property
    def socket_path(self) -> str | None:
        return self.base_url[len("unix://"):] if self.local else None


def is_target(path: str) -> bool:
    return path.startswith(SCHEME)


def endpoint(target: str | None, env: Mapping[str, str] | None = None) -> Endpoint:
    """Resolve ``target`` (``docker://[HOST]``, a bare HOST, or None) to an endpoint.

    HOST forms: ``unix:///path``, ``tcp://host:port``, ``/path/to/docker.sock`` (a unix
    socket) and ``host:port`` (TCP). Without a HOST, ``DOCKER_HOST`` or the default socket.
    """
    env = os.environ if env is None else env
    host = (target or "").strip()
    if len(host) > MAX_TARGET:
        raise ConnectError(f"docker target is over {MAX_TARGET} characters")
    if host.startswith(SCHEME):
        host = host[len(SCHEME):]
    if not host:
        host = env.get("DOCKER_HOST", "") or DEFAULT_HOST
    if host.startswith("/"):
        host = "unix://" + host
    elif "://" not in host:
        host = "tcp://" + host
    scheme, _, rest = host.partition("://")
    if scheme not in ("unix", "tcp", "http", "https") or not rest.strip("/"):
        raise ConnectError(f"unsupported docker host {host!r} (expected unix:///path or tcp://host:port)")
    if scheme == "unix" and not rest.startswith("/"):
        raise ConnectError(f"docker host {host!r}: a unix socket needs an absolute path (unix:///path)")
    tls = scheme == "https" or (scheme == "tcp" and _tls_wanted(env))
    return Endpoint(host, tls)


def _tls_wanted(env: Mapping[str, str]) -> bool:
    verify = env.get("DOCKER_TLS_VERIFY")
    return bool(env.get("DOCKER_CERT_PATH")) or (verify is not None and verify != "")
