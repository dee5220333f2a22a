"""Image references normalised as Docker does."""

from __future__ import annotations

import pytest

from mamori.sources.imageref import image_ref_problem, parse_image_ref


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), [
    ("nginx", "docker.io", "library/nginx", None, None),
    ("nginx:1.27", "docker.io", "library/nginx", "1.27", None),
    ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
    ("docker.io/nginx", "docker.io", "library/nginx", None, None),
    ("index.docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", None),
    ("localhost/app", "localhost", "app", None, None),
    ("localhost:5000/team/app:2", "localhost:5000", "team/app", "2", None),
    ("ghcr.io/org/app@sha256:" + "a" * 64, "ghcr.io", "org/app", None, "sha256:" + "a" * 64),
    ("quay.io/org/app:v1@sha256:" + "b" * 64, "quay.io", "org/app", "v1", "sha256:" + "b" * 64),
    ("Registry/app", "Registry", "app", None, None),
    ("registry:5000/app", "registry:5000", "app", None, None),
    ("  ubuntu:22.04  ", "docker.io", "library/ubuntu", "22.04", None),
])
def test_parse(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = parse_image_ref(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert ref.raw == text.strip()


def test_floating() -> None:
    assert parse_image_ref("nginx").floating
    assert parse_image_ref("nginx:latest").floating
    assert not parse_image_ref("nginx:1.27").floating
    assert not parse_image_ref("nginx@sha256:" + "c" * 64).floating


@pytest.mark.parametrize("text", ["", "a b", "Nginx", "app:bad/tag", "app@sha256:x", "/app", "a//b"])
def test_problems(text: str) -> None:
    assert image_ref_problem(text) is not None
    parse_image_ref(text)  # never raises


def test_valid_has_no_problem() -> None:
    assert image_ref_problem("ghcr.io/org/app:1.2.3@sha256:" + "d" * 64) is None
    assert image_ref_problem("localhost:5000/a/b_c.d-e:tag") is None
