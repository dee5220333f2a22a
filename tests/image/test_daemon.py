"""``docker:NAME``: the unix-socket Engine API path and the SDK path (TCP) read the same image; daemon errors.

The TCP daemon is the test's private dockerd behind a loopback relay made here, so both paths talk
to one real daemon. The failing daemons are small unix-socket servers that answer what a broken or
hostile daemon could.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import socketserver
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mamori.image import ImageError, load
from mamori.image.daemon import DaemonMissing, open_daemon
from mamori.image.limits import Limits
from tests.image.conftest import Forms


@pytest.fixture()
def tcp_relay(daemon) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """tcp://127.0.0.1:PORT forwarding to the private daemon's unix socket."""
    path = daemon.host[len("unix://"):]
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(path)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    t.join()
    listener.close()


def test_unix_socket_and_sdk_paths_read_the_same_image(kitchen: Forms, daemon, tcp_relay: str) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    unix = load(f"docker:{kitchen.pushed}", docker_host=daemon.host, while_waiting=lambda: calls.append(1))
    sdk = load(f"docker:{kitchen.pushed}", docker_host=tcp_relay, while_waiting=lambda: calls.append(2))
    assert calls == [1]  # the unix path runs the warm-up once; the SDK path has no waiting point to use
    assert unix.image.config.digest == sdk.image.config.digest
    assert unix.image.digest == sdk.image.digest is not None  # RepoDigests: pushed under this name
    assert sorted(unix.view.entries) == sorted(sdk.view.entries)
    assert sorted(p.purl for p in unix.inventory.packages) == sorted(p.purl for p in sdk.inventory.packages)


def test_unix_socket_by_image_id_and_from_docker_host(kitchen: Forms, daemon, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    image_id = json.loads(daemon.docker("image", "inspect", kitchen.tag).stdout)[0]["Id"]
    monkeypatch.setenv("DOCKER_HOST", daemon.host)
    by_id = load(f"docker:{image_id}")
    by_tag = load(f"docker:{kitchen.tag}")
    assert by_id.image.config.digest == by_tag.image.config.digest == image_id
    # the host is resolved as `mamori scan docker://` resolves it: a bare socket path is a unix socket too
    monkeypatch.setenv("DOCKER_HOST", daemon.host[len("unix://"):])
    assert load(f"docker:{kitchen.tag}").image.config.digest == image_id


def test_missing_image_and_unreachable_daemon_are_daemon_missing(daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DaemonMissing, match=r"has no image 'mamori-test/absent:1'"):
        open_daemon("mamori-test/absent:1", None, Limits(), daemon.host)
    with pytest.raises(DaemonMissing, match=r"cannot reach the Docker daemon at unix://.*nowhere.sock"):
        open_daemon("x:1", None, Limits(), f"unix://{tmp_path}/nowhere.sock")


def _fake_daemon(tmp_path: Path, answer: Callable[[str], bytes]) -> Iterator[str]:
    """A unix-socket server that answers each request line with ``answer(path)`` and closes."""
    sock = tmp_path / "fake.sock"

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline().decode()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            with contextlib.suppress(OSError):
                self.wfile.write(answer(line.split()[1]))

    server = socketserver.ThreadingUnixStreamServer(str(sock), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"unix://{sock}"
    server.shutdown()
    server.server_close()


INSPECT = json.dumps({"Id": "sha256:" + "a" * 64, "RepoTags": ["fake/img:1"], "RepoDigests": []}).encode()


def _http(status: str, body: bytes, length: bool = True) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\n" if length else "Connection: close\r\n"
    return head.encode() + b"\r\n" + body


@pytest.fixture()
def fake(tmp_path: Path) -> Iterator[Callable[[Callable[[str], bytes]], str]]:
    made: list[Iterator[str]] = []
    seen: list[str] = []

    def start(answer: Callable[[str], bytes]) -> str:
        seen.clear()

        def versioned(path: str) -> bytes:
            seen.append(path)
            if path == "/_ping":
                return b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK"
            return answer(path)

        gen = _fake_daemon(tmp_path, versioned)
        made.append(gen)
        return next(gen)

    start.seen = seen  # type: ignore[attr-defined]  # the request paths, in order
    yield start
    for gen in made:
        next(gen, None)


def test_daemon_error_on_save_is_reported_with_its_message(fake) -> None:  # type: ignore[no-untyped-def]
    host = fake(lambda path: _http("200 OK", INSPECT) if path.endswith("/json")
                else _http("500 Internal Server Error", b'{"message":"no space left on device"}'))
    with pytest.raises(ImageError, match=r"docker save fake/img:1 failed: the daemon answered 500: no space left"):
        open_daemon("fake/img:1", None, Limits(), host)
    # the version the daemon names in /_ping prefixes every request (unversioned calls are deprecated)
    assert fake.seen == ["/_ping", "/v1.41/images/fake/img:1/json", "/v1.41/images/fake/img:1/get"]


def test_api_version_comes_from_the_environment_like_the_cli(fake, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    host = fake(lambda path: _http("404 Not Found", b'{"message":"No such image"}'))
    monkeypatch.setenv("DOCKER_API_VERSION", "1.40")
    with pytest.raises(DaemonMissing, match="has no image"):
        open_daemon("fake/img:1", None, Limits(), host)
    assert fake.seen == ["/v1.40/images/fake/img:1/json"]  # no /_ping: the environment decides
    monkeypatch.setenv("DOCKER_API_VERSION", "latest")
    with pytest.raises(ImageError, match=r"DOCKER_API_VERSION='latest' is not an API version like 1\.41"):
        open_daemon("fake/img:1", None, Limits(), host)


def test_inspect_that_is_not_json_is_an_error_not_a_traceback(fake) -> None:  # type: ignore[no-untyped-def]
    host = fake(lambda path: _http("200 OK", b"<html>proxy</html>"))
    with pytest.raises(ImageError, match="image inspect that is not a JSON object"):
        open_daemon("fake/img:1", None, Limits(), host)


def _archive(layer_size: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("blob")
        info.size = layer_size
        tar.addfile(info, io.BytesIO(b"\0" * layer_size))
    return buf.getvalue()


def test_save_larger_than_the_bound_is_refused(fake) -> None:  # type: ignore[no-untyped-def]
    big = _archive(3 << 20)
    host = fake(lambda path: _http("200 OK", INSPECT) if path.endswith("/json")
                else _http("200 OK", big, length=False))
    with pytest.raises(ImageError, match=r"docker save of fake/img:1 is larger than 1048576 bytes"):
        open_daemon("fake/img:1", None, Limits(max_archive=1 << 20), host)


def test_save_cut_short_is_an_error(fake) -> None:  # type: ignore[no-untyped-def]
    body = _archive(1 << 20)
    cut = _http("200 OK", body)[: len(body) // 2]  # Content-Length promises more than is sent
    host = fake(lambda path: _http("200 OK", INSPECT) if path.endswith("/json") else cut)
    with pytest.raises(ImageError, match=r"docker save fake/img:1 failed: the stream ended \d+ bytes early"):
        open_daemon("fake/img:1", None, Limits(), host)


def test_chunked_save_cut_short_is_an_error(fake) -> None:  # type: ignore[no-untyped-def]
    cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"8000\r\n" + b"x" * 100
    host = fake(lambda path: _http("200 OK", INSPECT) if path.endswith("/json") else cut)
    with pytest.raises(ImageError, match=r"docker save fake/img:1 failed: IncompleteRead"):
        open_daemon("fake/img:1", None, Limits(), host)
