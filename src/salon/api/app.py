"""The ASGI application: routes, error translation and middleware around the services."""

from __future__ import annotations

import logging

import socketio  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from salon import __version__
from salon.api import insights, meetings, organization
from salon.api.errors import error_payload, problems_from_pydantic
from salon.api.middleware import BodyLimit, Edge
from salon.errors import InvalidInput, SalonError
from salon.services.container import Services
from salon.signaling.server import SignalingServer
from salon.web import pages

__all__ = ["create_app", "create_asgi_app"]

log = logging.getLogger("salon.api")


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Salon REST API",
        version=__version__,
        description="Drop-in compatible with Whereby Embedded's REST API v1.",
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services

    @app.exception_handler(SalonError)
    async def on_salon_error(_request: Request, exc: SalonError) -> Response:
        if exc.status >= 500:
            log.error("request failed: %s", exc.code)
        return JSONResponse(error_payload(exc), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_request: Request, exc: RequestValidationError) -> Response:
        invalid = InvalidInput(problems_from_pydantic(exc.errors()))
        return JSONResponse(error_payload(invalid), status_code=invalid.status)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: ("not_found", "No such endpoint."), 405: ("method_not_allowed", "")}
        code, message = codes.get(exc.status_code, ("http_error", str(exc.detail)))
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("allow", "")
            message = f"Method not allowed here; allowed: {allowed}."
        body = {"error": message, "code": code, "data": {}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(meetings.router)
    app.include_router(insights.router)
    app.include_router(organization.router)
    app.include_router(pages.router)
    app.add_middleware(BodyLimit, max_bytes=services.settings.server.max_body_bytes)
    return app


def create_asgi_app(services: Services, signaling: SignalingServer | None = None) -> ASGIApp:
    """Everything Salon serves over HTTPS: signaling at ``/socket.io/``, the rest by FastAPI."""
    signaling = signaling or SignalingServer(services)
    app: ASGIApp = socketio.ASGIApp(
        signaling.sio, other_asgi_app=create_app(services), socketio_path="socket.io"
    )
    # Edge sits outside both, so long-polling responses carry the same security headers.
    return Edge(app)
