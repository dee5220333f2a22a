"""The plugin's HTTP side: activation, answers, bounds, records and fail-closed errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from mamori.enforce import authz as az
from mamori.policy.config import Policy
from mamori.server.authz import authz_app
from mamori.server.state import ServerState
from mamori.store.decisions import DecisionRecord
from tests.authz.helpers import captured, message


class Client:
    """Synchronous calls into the ASGI app (no server, no socket)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def post(self, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://plugin") as client:
                return await client.post(path, content=content, headers=headers)

        return asyncio.run(call())


class Recorder:
    def __init__(self) -> None:
        self.records: list[DecisionRecord] = []

    def record(self, rec: DecisionRecord) -> None:
        self.records.append(rec)


@pytest.fixture
def setup() -> tuple[Client, ServerState, Recorder]:
    rec = Recorder()
    state = ServerState(policy=Policy(), recorder=rec)  # type: ignore[arg-type]
    return Client(authz_app(state)), state, rec


def post(client: Client, path: str, data: bytes | dict[str, Any]) -> dict[str, Any]:
    content = data if isinstance(data, bytes) else json.dumps(data).encode()
    r = client.post(path, content=content, headers={"Accept": "application/vnd.docker.plugins.v1+json"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(az.CONTENT_TYPE)
    body: dict[str, Any] = r.json()
    return body


def metric(state: ServerState, name: str, labels: dict[str, str]) -> float:
    value = state.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_activate(setup: tuple[Client, ServerState, Recorder]) -> None:
    client, _, _ = setup
    assert post(client, "/Plugin.Activate", b"") == {"Implements": ["authz"]}


def test_denial_is_answered_and_recorded(setup: tuple[Client, ServerState, Recorder]) -> None:
    client, state, rec = setup
    answer = post(client, "/AuthZPlugin.AuthZReq", captured("run-insecure"))
    assert answer["Allow"] is False and "[MAM-PRIV-001]" in answer["Msg"] and answer["Err"] == ""
    (r,) = rec.records
    assert (r.adapter, r.operation, r.allowed, r.result) == ("docker-authz", "container create", False, "denied")
    assert "MAM-PRIV-001" in r.rules and r.subject.startswith("insecure image")
    assert any(f["rule"] == "MAM-PRIV-001" and f["mode"] == "enforce" for f in r.detail["findings"])
    assert metric(state, "mamori_decisions_total", {"adapter": "docker-authz", "result": "denied"}) == 1


def test_other_requests_are_counted_not_recorded(setup: tuple[Client, ServerState, Recorder]) -> None:
    client, state, rec = setup
    for _ in range(3):
        assert post(client, "/AuthZPlugin.AuthZReq", message("GET", "/v1.41/containers/json"))["Allow"] is True
    assert rec.records == []
    assert metric(state, "mamori_decisions_total", {"adapter": "docker-authz", "result": "allowed"}) == 3


def test_refusals_are_recorded_with_their_reason(setup: tuple[Client, ServerState, Recorder]) -> None:
    client, state, rec = setup
    answer = post(client, "/AuthZPlugin.AuthZReq", message("POST", "/v1.41/containers/create", length=0))
    assert answer["Allow"] is False and "CVE-2024-41110" in answer["Msg"]
    assert rec.records[0].result == "error" and rec.records[0].detail == {"refused": "empty-body"}
    assert metric(state, "mamori_request_errors_total", {"adapter": "docker-authz", "reason": "empty-body"}) == 1


@pytest.mark.parametrize("data", [b"", b"garbage", b"[1]", b"{}"])
def test_unreadable_messages_are_refused(setup: tuple[Client, ServerState, Recorder], data: bytes) -> None:
    client, _, rec = setup
    answer = post(client, "/AuthZPlugin.AuthZReq", data)
    assert answer["Allow"] is False and answer["Msg"].startswith("mamori refused")
    assert rec.records[0].result == "error"


def test_oversized_messages_are_refused_unread(setup: tuple[Client, ServerState, Recorder]) -> None:
    client, _, _ = setup
    answer = post(client, "/AuthZPlugin.AuthZReq", b"x" * (az.MAX_MESSAGE_BYTES + 1))
    assert answer["Allow"] is False and "exceeds" in answer["Msg"]


def test_an_internal_error_fails_closed(setup: tuple[Client, ServerState, Recorder],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    client, state, _ = setup

    def boom(*_: object) -> az.Outcome:
        raise RuntimeError("bug")

    monkeypatch.setattr(az, "decide", boom)
    answer = post(client, "/AuthZPlugin.AuthZReq", captured("run-hardened"))
    assert answer["Allow"] is False and answer["Err"].startswith("mamori: internal error")
    assert metric(state, "mamori_request_errors_total", {"adapter": "docker-authz", "reason": "internal"}) == 1


def test_policy_reload_is_seen_by_the_next_request(setup: tuple[Client, ServerState, Recorder]) -> None:
    client, state, _ = setup
    from dataclasses import replace

    from mamori.policy.enforcement import Enforcement, Mode

    assert post(client, "/AuthZPlugin.AuthZReq", captured("exec-privileged"))["Allow"] is False
    state.policy = replace(Policy(), enforcement=Enforcement(mode=Mode.AUDIT))
    assert post(client, "/AuthZPlugin.AuthZReq", captured("exec-privileged"))["Allow"] is True


def test_response_phase_is_allowed(setup: tuple[Client, ServerState, Recorder]) -> None:
    client, _, rec = setup
    assert post(client, "/AuthZPlugin.AuthZRes", captured("run-insecure"))["Allow"] is True
    assert rec.records == []
