"""Connect to a Docker daemon from a ``docker://`` target or from the environment.

One place decides what ``docker://``, ``docker://unix:///run/docker.sock`` or
``docker://tcp://host:2376`` mean, so ``mamori scan`` and ``mamori watch`` reach the same
daemon the same way the docker CLI does: ``DOCKER_HOST`` when the target names no host,
TLS client certificates from ``DOCKER_CERT_PATH`` and verification from
``DOCKER_TLS_VERIFY`` (the docker CLI's variables) for TCP daemons.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]
import requests

SCHEME = "docker://"
DEFAULT_HOST = "unix:///var/run/docker.sock"
DEFAULT_TIMEOUT = 30.0
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


def _tls_config(env: Mapping[str, str]) -> object:
    """The SDK's TLSConfig from the docker CLI's variables; missing files are a ConnectError."""
    from docker.tls import TLSConfig  # type: ignore[import-untyped]

    cert_path = env.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")
    verify = env.get("DOCKER_TLS_VERIFY", "") != ""
    files = {n: os.path.join(cert_path, n) for n in ("cert.pem", "key.pem", "ca.pem")}
    missing = [n for n, p in files.items() if not os.path.isfile(p) and (n != "ca.pem" or verify)]
    if missing:
        raise ConnectError(f"TLS client files missing in {cert_path}: {', '.join(missing)} "
                           "(set DOCKER_CERT_PATH to the folder with cert.pem, key.pem and ca.pem)")
    try:
        return TLSConfig(client_cert=(files["cert.pem"], files["key.pem"]),
                         ca_cert=files["ca.pem"] if verify else None, verify=verify)
    except docker.errors.TLSParameterError as exc:
        raise ConnectError(f"TLS settings: {exc}") from None


def connect(target: str | None, *, env: Mapping[str, str] | None = None,
            timeout: float = DEFAULT_TIMEOUT) -> docker.DockerClient:
    """A client for the daemon named by ``target`` that has answered a ping.

    Raises :class:`ConnectError` with a one-line reason (never the SDK's traceback).
    """
    env = os.environ if env is None else env
    ep = endpoint(target, env)
    url = ep.base_url
    if ep.tls and url.startswith("tcp://"):
        url = "https://" + url[len("tcp://"):]
    if ep.local and not os.path.exists(ep.socket_path or ""):
        raise ConnectError(f"cannot reach the docker daemon at {ep.base_url}: no such socket")
    try:
        tls = _tls_config(env) if ep.tls else False
        if tls:
            client = docker.DockerClient.__new__(docker.DockerClient)
            client.api = _IsolatedAPIClient(base_url=url, tls=tls, timeout=timeout)
        else:
            client = docker.DockerClient(base_url=url, tls=False, timeout=timeout)
        client.ping()
    except ConnectError:
        raise
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise ConnectError(f"cannot reach the docker daemon at {ep.base_url}: {_reason(exc)}") from None
    return client


class _IsolatedAPIClient(docker.APIClient):  # type: ignore[misc]
    """An API client that ignores requests' environment (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, proxies).

    requests lets those variables replace the session's CA file on every request, including
    the version probe made while the client is built, so the daemon's CA from
    ``DOCKER_CERT_PATH`` would not be the one trusted. ``DockerClient`` only holds ``.api``.
    """

    @property
    def trust_env(self) -> bool:
        return False

    @trust_env.setter
    def trust_env(self, value: bool) -> None:
        pass  # requests.Session.__init__ sets it


def _reason(exc: BaseException) -> str:
    """The innermost cause, shortened: the SDK wraps socket errors two or three times."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        nxt = exc.__cause__ or exc.__context__
        assert nxt is not None
        exc = nxt
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."
