"""ServiceApp's fast lanes: a hot route answered without FastAPI's layers must behave like the route itself: same
error rendering by the app's handlers, same latency metric, and a hand-back to the route that still has the body."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import Response
from prometheus_client import REGISTRY

from leadnet_shared.app import ServiceApp, install_problem_handlers
from leadnet_shared.problems import Forbidden


def _app(lane_calls: list[str], route_calls: list[str]) -> ServiceApp:
    app = ServiceApp()
    install_problem_handlers(app)
    app.service = "lanetest"

    @app.post("/hot")
    async def hot_route(request: Request) -> Response:
        route_calls.append((await request.body()).decode())
        return Response(b"route", status_code=200)

    async def lane(request: Request) -> Response | None:
        mode = request.headers.get("x-mode", "")
        if mode == "hand-back":
            return None  # before the body is read: the route must still get it whole
        body = await request.body()
        lane_calls.append(body.decode())
        if mode == "forbidden":
            raise Forbidden("Role x may not do this.")
        if mode == "crash":
            raise RuntimeError("boom")
        return Response(b"lane:" + body, status_code=201)

    app.fast_lanes = {("POST", "/hot"): lane}
    return app


def _count(status: str) -> float:
    value = REGISTRY.get_sample_value(
        "leadnet_http_request_seconds_count",
        {"service": "lanetest", "method": "POST", "route": "/hot", "status": status},
    )
    return value or 0.0


async def _post(app: ServiceApp, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/hot", **kwargs)


class TestFastLane:
    async def test_the_lane_answers_its_route_and_is_timed_like_it(self) -> None:
        lane_calls: list[str] = []
        route_calls: list[str] = []
        app = _app(lane_calls, route_calls)
        before = _count("201")
        r = await _post(app, content=b"hello")
        assert (r.status_code, r.content) == (201, b"lane:hello")
        assert (lane_calls, route_calls) == (["hello"], [])
        assert _count("201") == before + 1

    async def test_errors_are_rendered_by_the_apps_own_handlers(self) -> None:
        app = _app([], [])
        r = await _post(app, content=b"x", headers={"x-mode": "forbidden"})
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
        assert (r.json()["code"], r.json()["instance"]) == ("forbidden", "/hot")
        r = await _post(app, content=b"x", headers={"x-mode": "crash"})
        assert (r.status_code, r.json()["code"]) == (500, "internal_error")

    async def test_a_handed_back_request_reaches_the_route_with_its_body(self) -> None:
        lane_calls: list[str] = []
        route_calls: list[str] = []
        app = _app(lane_calls, route_calls)
        r = await _post(app, content=b"whole body", headers={"x-mode": "hand-back"})
        assert (r.status_code, r.content) == (200, b"route")
        assert (lane_calls, route_calls) == ([], ["whole body"])

    async def test_other_methods_and_paths_go_through_fastapi(self) -> None:
        app = _app([], [])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/hot")).status_code == 405
            assert (await client.post("/hot/")).status_code in (307, 404)
