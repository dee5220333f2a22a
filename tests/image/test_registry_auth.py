"""Bearer-token registries and multi-platform indexes, against a tiny registry on 127.0.0.1.

The server follows the Distribution token flow: 401 + ``WWW-Authenticate: Bearer realm=…`` →
``GET realm?service&scope`` with Basic credentials → ``{"token": …}`` → retry with the token.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from mamori.image import ImageError, RegistryOptions, load, parse_platform
from mamori.image.auth import Credentials
from tests.image.layouts import OCI_INDEX, OCI_MANIFEST, file, layer_tar, oci_layout, sha, write_blob

TOKEN = "tok-123"


class State:
    root: Path
    index: bytes
    port: int
    seen_scopes: list[str]
    tamper: bool = False


def handler(state: State) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/token":
                q = parse_qs(url.query)
                state.seen_scopes += q.get("scope", [])
                good = "Basic " + base64.b64encode(b"bob:hunter2").decode()
                if self.headers.get("Authorization") != good or q.get("service") != ["test-registry"]:
                    return self._send(401)
                return self._send(200, json.dumps({"token": TOKEN, "expires_in": 60}).encode())
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                challenge = (f'Bearer realm="http://127.0.0.1:{state.port}/token",service="test-registry",'
                             'scope="repository:team/app:pull"')
                return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge})
            if url.path == "/v2/":
                return self._send(200, b"{}")
            parts = url.path.split("/")
            if url.path.startswith("/v2/team/app/manifests/"):
                ref = parts[-1]
                if ref == "multi":
                    return self._send(200, state.index, {"Content-Type": OCI_INDEX,
                                                         "Docker-Content-Digest": sha(state.index)})
                blob = state.root / "blobs/sha256" / ref.split(":")[-1]
                return self._send(200, blob.read_bytes(), {"Content-Type": OCI_MANIFEST}) if blob.exists() \
                    else self._send(404)
            if url.path.startswith("/v2/team/app/blobs/"):
                blob = state.root / "blobs/sha256" / parts[-1].split(":")[-1]
                data = blob.read_bytes()
                if state.tamper and data:
                    data = data[:-1] + bytes([data[-1] ^ 1])
                return self._send(200, data)
            return self._send(404)

    return H


@pytest.fixture
def server(tmp_path: Path) -> Iterator[State]:
    state = State()
    state.root = tmp_path / "blobs"
    state.seen_scopes = []
    amd = oci_layout(state.root, [layer_tar([file("etc/os-release", "ID=debian\nVERSION_ID=12\n")])])
    arm = oci_layout(state.root, [layer_tar([file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n")])],
                     config_extra={"architecture": "arm64", "variant": "v8"})
    descs = []
    for d, plat in ((amd, {"os": "linux", "architecture": "amd64"}),
                    (arm, {"os": "linux", "architecture": "arm64", "variant": "v8"})):
        size = (state.root / "blobs/sha256" / d["manifest"].split(":")[1]).stat().st_size
        descs.append({"mediaType": OCI_MANIFEST, "digest": d["manifest"], "size": size, "platform": plat})
    state.index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}).encode()
    write_blob(state.root, state.index)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    state.port = srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield state
    srv.shutdown()
    srv.server_close()


def opts(password: str | None = "hunter2") -> RegistryOptions:
    return RegistryOptions(insecure=True, credentials=Credentials("bob", password) if password else None)


def test_bearer_flow_and_platform_choice(server: State) -> None:
    ref = f"registry:127.0.0.1:{server.port}/team/app:multi"
    amd = load(ref, registry=opts())
    assert amd.inventory.os is not None and amd.inventory.os.id == "debian"
    assert amd.image.digest != sha(server.index)  # the chosen child manifest, not the index
    arm = load(ref, platform=parse_platform("linux/arm64/v8"), registry=opts())
    assert arm.inventory.os is not None and arm.inventory.os.id == "alpine"
    assert str(arm.image.platform) == "linux/arm64/v8"
    assert server.seen_scopes and set(server.seen_scopes) == {"repository:team/app:pull"}
    with pytest.raises(ImageError, match=r"no image for platform linux/s390x \(available: linux/amd64, linux/arm64/v8"):
        load(ref, platform=parse_platform("linux/s390x"), registry=opts())


def test_bearer_token_refused_without_or_with_wrong_credentials(server: State) -> None:
    ref = f"registry:127.0.0.1:{server.port}/team/app:multi"
    with pytest.raises(ImageError, match="token server refused"):
        load(ref, registry=opts(None))
    with pytest.raises(ImageError, match="token server refused") as err:
        load(ref, registry=opts("nope"))
    assert "nope" not in str(err.value)


def test_tampered_blob_is_an_error(server: State) -> None:
    server.tamper = True
    with pytest.raises(ImageError, match=r"digest mismatch|corrupt|size"):
        load(f"registry:127.0.0.1:{server.port}/team/app:multi", registry=opts())
