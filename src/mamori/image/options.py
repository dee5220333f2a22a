"""How to reach a registry: kept apart from the client so that reading a local image never imports httpx."""

from __future__ import annotations

from dataclasses import dataclass

from mamori.image.auth import Credentials


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    ca_file: str | None = None
    insecure: bool = False
    credentials: Credentials | None = None
    timeout: float = 60.0
    docker_config: bool = True  # fall back to auths in the Docker CLI's config.json
