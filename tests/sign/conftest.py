"""A real docker-registry on 127.0.0.1 (the image tests' launcher), synthetic images and the busybox image."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from mamori.image.reference import parse_docker_ref
from mamori.image.registry import RegistryOptions
from mamori.sign.registry_push import PushRegistry
from tests import components, dockerd
from tests.image import components as comp

OPTS = RegistryOptions(insecure=True)


@pytest.fixture(scope="session")
def registry() -> Iterator[comp.Registry]:
    r = comp.start_registry()
    yield r
    r.stop()


def push_image(ref: str, content: bytes, options: RegistryOptions = OPTS) -> str:
    """Push a one-layer OCI image made of ``content``; returns its manifest digest."""
    dref = parse_docker_ref(ref)
    reg = PushRegistry(dref, options)
    try:
        layer = reg.put_blob(content)
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}},
                         separators=(",", ":")).encode()
        cdigest = reg.put_blob(cfg)
        man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest,
                                     "size": len(cfg)},
                          "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer,
                                      "size": len(content)}]}).encode()
        return reg.put_manifest(dref.tag or "latest", man, "application/vnd.oci.image.manifest.v1+json")
    finally:
        reg.close()


@pytest.fixture
def image(registry: comp.Registry, request: pytest.FixtureRequest) -> str:
    """A fresh synthetic image ``127.0.0.1:PORT/t/<test>:v1`` unique to the test."""
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")[:60]
    ref = f"{registry.host}/t/{name}:v1"
    push_image(ref, f"layer of {request.node.nodeid} {os.urandom(8).hex()}".encode())
    return ref


@pytest.fixture(scope="session")
def busybox(registry: comp.Registry) -> Iterator[str]:
    """The busybox test image built by a private dockerd and pushed with the real docker CLI."""
    daemon = dockerd.start()
    try:
        tag = dockerd.busybox_image(daemon)
        pushed = f"{registry.host}/busybox:1"
        daemon.docker("tag", tag, pushed)
        r = daemon.docker("push", pushed, check=False, timeout=600)
        if r.returncode != 0:
            components.unavailable("registry push", r.stderr[-2000:])
        yield pushed
    finally:
        daemon.stop()
