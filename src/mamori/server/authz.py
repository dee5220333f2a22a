"""The Docker AuthZ plugin as an ASGI app, served on a unix socket in /run/docker/plugins.

Routes: ``/Plugin.Activate`` (implements ``authz``), ``/AuthZPlugin.AuthZReq`` and
``/AuthZPlugin.AuthZRes``. The decision logic is :mod:`mamori.enforce.authz`; this module
adds the bounded body read, timing, metrics, the log line for warnings and the record.

Which requests are recorded: every judged operation (container create, exec, image pull,
plugin install, volume create), allowed or not, and every refusal. Other requests (``ps``,
``inspect``, ``logs``, ``events``, ...) are counted in the metrics but not stored: every
docker command makes several of them, and they would bury the decisions an auditor looks for.
An unexpected error answers ``Err`` (the daemon then fails the request: fail closed).
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mamori.enforce import authz as az
from mamori.server.state import ServerState, verdict_detail
from mamori.store.decisions import DecisionRecord

ADAPTER = "docker-authz"
log = logging.getLogger("mamori.authz")


def _reply(payload: dict[str, object]) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), media_type=az.CONTENT_TYPE)


async def _read(request: Request, limit: int) -> bytes | None:
    """The body, or None when it exceeds ``limit`` (whatever Content-Length claims)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def authz_app(state: ServerState) -> Starlette:
    """The plugin app; ``state`` supplies the policy (reloadable), image trust, metrics and recorder."""

    async def activate(_: Request) -> Response:
        return _reply(az.ACTIVATE)

    async def authz_request(request: Request) -> Response:
        start = time.perf_counter()
        try:
            raw = await _read(request, az.MAX_MESSAGE_BYTES)
            if raw is None:
                out = az.refusal("(unread request)", az.Refused("message", "the authorization message exceeds "
                                                                            f"{az.MAX_MESSAGE_BYTES} bytes"))
                user = None
            else:
                try:
                    req = az.parse_message(raw)
                except az.Refused as exc:
                    out, user = az.refusal("(unreadable request)", exc), None
                else:
                    out, user = az.decide(req, state.policy, state.trust), req.user or None
        except Exception:  # never answer "allow" by accident: with Err the daemon fails the request
            log.exception("authorization request failed")
            state.metrics.errors.labels(ADAPTER, "internal").inc()
            return _reply({"Allow": False, "Msg": "", "Err": "mamori: internal error while deciding; see its log"})
        seconds = time.perf_counter() - start
        _observe(state, out, user, seconds)
        return _reply(out.answer())

    async def authz_response(request: Request) -> Response:
        await _read(request, az.MAX_MESSAGE_BYTES)
        return _reply(az.response_answer(b""))

    return Starlette(routes=[
        Route("/Plugin.Activate", activate, methods=["POST"]),
        Route("/AuthZPlugin.AuthZReq", authz_request, methods=["POST"]),
        Route("/AuthZPlugin.AuthZRes", authz_response, methods=["POST"]),
    ])


def _observe(state: ServerState, out: az.Outcome, user: str | None, seconds: float) -> None:
    if out.reason is not None:
        state.metrics.errors.labels(ADAPTER, out.reason).inc()
    if out.result == "warned":
        log.warning("%s", out.msg)
    if not out.record:
        state.metrics.decisions.labels(ADAPTER, out.result).inc()
        state.metrics.latency.labels(ADAPTER).observe(seconds)
        return
    v = out.verdict
    detail = verdict_detail(v) if v is not None else {"refused": out.reason} if out.reason else {}
    rec = DecisionRecord(
        adapter=ADAPTER, request_id=uuid.uuid4().hex, operation=out.operation, subject=out.subject,
        allowed=out.allow, result=out.result, rules=out.rules, message=out.msg, user=user,
        latency_ms=round(seconds * 1000, 3), detail=detail,
    )
    state.observe(rec, v, seconds)
