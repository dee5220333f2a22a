"""AuthZ messages built the way dockerd builds them, and the captured real ones."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from mamori.policy.config import Policy, load_policy

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "docker"


def captured(name: str) -> dict[str, Any]:
    """A message the daemon really sent (tests/fixtures/docker/authz)."""
    data: dict[str, Any] = json.loads((FIXTURES / "authz" / f"{name}.json").read_text())
    return data


def captured_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(base64.b64decode(captured(name)["RequestBody"]))
    return body


def inspected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "inspect" / f"{name}.json").read_text())
    return data


def message(method: str, uri: str, body: object = None, *, raw: bytes | None = None,
            headers: dict[str, str] | None = None, length: int | None = None, ctype: str = "application/json",
            user: str | None = None) -> bytes:
    """An AuthZReq message: the body base64-encoded, Content-Length as the client declared it."""
    msg: dict[str, Any] = {"RequestMethod": method, "RequestUri": uri}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"User-Agent": "Docker-Client/28.2.2 (linux)"}
    if data is not None:
        msg["RequestBody"] = base64.b64encode(data).decode()
        hdrs["Content-Type"] = ctype
    declared = length if length is not None else (len(data) if data is not None else None)
    if declared is not None:
        hdrs["Content-Length"] = str(declared)
    hdrs.update(headers or {})
    msg["RequestHeaders"] = hdrs
    if user is not None:
        msg["User"] = user
    return json.dumps(msg).encode()


def with_body(name: str, body: object) -> bytes:
    """A captured message with its body replaced (and Content-Length kept consistent)."""
    m = captured(name)
    return message(m["RequestMethod"], m["RequestUri"], body)


def policy(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return load_policy(str(path))
