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

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]
import requests

from mamori.live.endpoint import ConnectError, Endpoint, endpoint

__all__ = ["ConnectError", "Endpoint", "connect", "endpoint"]  # the first, second and last live in .endpoint

DEFAULT_TIMEOUT = 30.0


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
