"""HTTP routes of the Kubernetes admission webhook: ``/validate`` and ``/mutate``.

The translation lives in :mod:`mamori.enforce.admission`; this module adds the HTTP
envelope, size bounds, timing, metrics and the decision record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mamori.enforce import admission as adm
from mamori.server.http import BodyTooLarge, read_body
from mamori.server.state import ServerState, result_of, verdict_detail
from mamori.store.decisions import DecisionRecord

MAX_REVIEW = 8 * 1024 * 1024  # object + oldObject, each bounded by the API server's 3 MiB request limit


def _error(state: ServerState, adapter: str, status: int, reason: str, message: str, start: float) -> Response:
    state.metrics.errors.labels(adapter, reason).inc()
    state.metrics.latency.labels(adapter).observe(time.perf_counter() - start)
    return JSONResponse({"error": message}, status_code=status)


def _handler(state: ServerState, adapter: str,
             decide: Callable[[adm.Request], adm.Outcome]) -> Callable[[HttpRequest], Awaitable[Response]]:
    async def handle(request: HttpRequest) -> Response:
        start = time.perf_counter()
        ctype = request.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            return _error(state, adapter, 415, "content-type", f"Content-Type {ctype!r} is not application/json",
                          start)
        try:
            body = await read_body(request, MAX_REVIEW)
        except BodyTooLarge as exc:
            return _error(state, adapter, 413, "too-large", str(exc), start)
        try:
            req = adm.parse_review(json.loads(body))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and ReviewError are ValueErrors
            return _error(state, adapter, 400, "malformed", f"not a usable AdmissionReview: {exc}", start)
        out = decide(req)
        seconds = time.perf_counter() - start
        v = out.verdict
        rec = DecisionRecord(
            adapter=adapter, request_id=req.uid, operation=req.operation + (f"/{req.sub_resource}"
                                                                             if req.sub_resource else ""),
            subject=req.subject, allowed=bool(out.response["response"]["allowed"]),
            result=out.result if v is None else result_of(v), rules=v.rule_ids if v is not None else (),
            message=out.message, namespace=req.namespace, user=req.user, dry_run=req.dry_run,
            latency_ms=round(seconds * 1000, 3),
            detail=verdict_detail(v) if v is not None else ({"applied": list(out.applied)} if out.applied else {}),
        )
        if req.dry_run:  # no side effects: counted, not stored
            state.metrics.decisions.labels(adapter, rec.result).inc()
            state.metrics.latency.labels(adapter).observe(seconds)
        else:
            state.observe(rec, v, seconds)
        return Response(json.dumps(out.response, separators=(",", ":")), media_type="application/json")

    return handle


def routes(state: ServerState) -> list[Route]:
    validate = _handler(state, "admission-validate", lambda r: adm.validate(r, state.policy, state.trust))
    mutate = _handler(state, "admission-mutate", lambda r: adm.mutate(r, state.policy))
    return [Route("/validate", validate, methods=["POST"]), Route("/mutate", mutate, methods=["POST"])]
