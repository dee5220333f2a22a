"""Assemble ``mamori serve``: admission routes, health, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mamori.server import admission
from mamori.server.state import ServerState


def build_app(state: ServerState, extra_routes: Sequence[Route] = ()) -> Starlette:
    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        recorder_ok = state.recorder is None or state.recorder.alive
        if state.ready and recorder_ok:
            return PlainTextResponse("ready")
        return JSONResponse({"ready": False, "recorder": recorder_ok}, status_code=503)

    async def metrics(_: Request) -> Response:
        if state.recorder is not None:
            state.metrics.pending.set(state.recorder.queue.qsize())
            state.metrics.dropped.set(state.recorder.dropped + state.recorder.failed)
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[
        Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics),
        *admission.routes(state), *extra_routes,
    ])
