"""References, platforms, WWW-Authenticate parsing, realms and digests."""

from __future__ import annotations

import pytest

from mamori.image import ImageError
from mamori.image.auth import check_realm, is_loopback, parse_challenges
from mamori.image.digest import parse, verify
from mamori.image.reference import parse_docker_ref, parse_platform, parse_source
from mamori.image.registry import Registry, RegistryOptions


@pytest.mark.parametrize(("ref", "want"), [
    ("busybox", ("docker.io", "library/busybox", "latest", None)),
    ("127.0.0.1:5000/team/app:v1", ("127.0.0.1:5000", "team/app", "v1", None)),
    ("localhost/app", ("localhost", "app", "latest", None)),
    ("ghcr.io/o/r@sha256:" + "a" * 64, ("ghcr.io", "o/r", None, "sha256:" + "a" * 64)),
    ("[::1]:5000/app:1", ("[::1]:5000", "app", "1", None)),
])
def test_docker_refs(ref: str, want: tuple[str, str, str | None, str | None]) -> None:
    r = parse_docker_ref(ref)
    assert (r.registry, r.repository, r.tag, r.digest) == want


@pytest.mark.parametrize("ref", ["UPPER/case", "a b", "app@sha256:zz", "app:" + "t" * 200, "", "host:99/../x"])
def test_bad_refs(ref: str) -> None:
    with pytest.raises(ImageError):
        parse_docker_ref(ref)


def test_sources_and_platforms() -> None:
    assert parse_source("docker-archive:/tmp/a.tar").scheme == "docker-archive"
    assert parse_source("oci-dir:./x:1").target == "./x:1"
    assert parse_source("127.0.0.1:5000/app:1").scheme == ""
    assert str(parse_platform("linux/arm/v7")) == "linux/arm/v7"
    with pytest.raises(ImageError, match="os/arch"):
        parse_platform("linux")


def test_challenges_recorded_headers() -> None:
    # recorded from Docker Hub, GHCR and a Harbor registry (values shortened)
    hub = parse_challenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                           'scope="repository:library/busybox:pull"')
    assert hub[0].scheme == "bearer" and hub[0].params == {
        "realm": "https://auth.docker.io/token", "service": "registry.docker.io",
        "scope": "repository:library/busybox:pull"}
    two = parse_challenges('Basic realm="Registry Realm", Bearer realm="https://x/t",scope="a:b:pull,push"')
    assert [c.scheme for c in two] == ["basic", "bearer"] and two[1].params["scope"] == "a:b:pull,push"
    esc = parse_challenges(r'Bearer realm="https://x/t",error="invalid_token",error_description="say \"hi\""')
    assert esc[0].params["error_description"] == 'say "hi"'
    for bad in ('Bearer realm="unterminated', "Bearer realm=", "=x"):
        with pytest.raises(ImageError):
            parse_challenges(bad)


def test_realm_and_loopback_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("[::1]") and is_loopback("localhost")
    assert not is_loopback("10.0.0.1") and not is_loopback("example.com")
    check_realm("http://127.0.0.1:1/token", sending_credentials=True)
    check_realm("https://auth.example/token", sending_credentials=True)
    with pytest.raises(ImageError, match="plain-HTTP"):
        check_realm("http://auth.example/token", sending_credentials=True)
    with pytest.raises(ImageError, match="not an http"):
        check_realm("file:///etc/passwd", sending_credentials=False)


def test_insecure_only_for_loopback() -> None:
    from mamori.image.limits import Limits

    with pytest.raises(ImageError, match="only accepted for loopback"):
        Registry(parse_docker_ref("registry.example/app:1"), RegistryOptions(insecure=True), Limits())


def test_digests() -> None:
    with pytest.raises(ImageError):
        parse("sha256:abc")
    with pytest.raises(ImageError):
        parse("md5:" + "a" * 32)
    with pytest.raises(ImageError, match="digest mismatch"):
        verify(b"x", "sha256:" + "0" * 64, "blob")


def test_registry_stream_reader_reassembles_any_read_sizes() -> None:
    import os as _os

    import httpx

    from mamori.image.registry import _StreamReader

    data = _os.urandom((3 << 20) + 12345)

    class Chunks(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            for i in range(0, len(data), 70_000):  # uneven network chunks
                yield data[i:i + 70_000]

    for sizes in ([1 << 20], [512, 3, 1 << 21, 7], [-1]):
        reader = _StreamReader(httpx.Response(200, stream=Chunks()))
        got, i = [], 0
        while True:
            piece = reader.read(sizes[i % len(sizes)])
            i += 1
            if not piece:
                break
            assert sizes[(i - 1) % len(sizes)] < 0 or len(piece) <= sizes[(i - 1) % len(sizes)]
            got.append(piece)
        assert b"".join(got) == data
