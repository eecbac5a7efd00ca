"""The ASGI application: routes, error translation and middleware around the services."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from salon import __version__
from salon.api import insights, meetings, organization
from salon.api.middleware import AccessLog, BodyLimit, SecurityHeaders
from salon.errors import InvalidInput, RateLimited, SalonError
from salon.services.container import Services
from salon.web import pages

__all__ = ["create_app"]

log = logging.getLogger("salon.api")

_PYDANTIC_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field; remove it",
    "json_invalid": "is not valid JSON",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "int_parsing": "must be a whole number",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
}


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc[1:] if p not in ("function-after",)] if loc else []
    if not parts:
        return "body" if loc and loc[0] == "body" else str(loc[0]) if loc else "request"
    # pydantic names a tagged or union branch with the model's name; callers know only fields.
    return ".".join(p for p in parts if not p[:1].isupper())


def _problems(exc: RequestValidationError) -> list[dict[str, str]]:
    problems = []
    for error in exc.errors():
        message = _PYDANTIC_MESSAGES.get(error["type"]) or error["msg"]
        message = message.removeprefix("Value error, ")
        field = "body" if error["type"] == "json_invalid" else _field_name(tuple(error["loc"]))
        problems.append({"field": field, "message": message})
    return problems


def _salon_error(exc: SalonError) -> JSONResponse:
    data: Any = None
    if isinstance(exc, InvalidInput):
        data = {"fields": [{"field": p.field, "message": p.message} for p in exc.problems]}
    if isinstance(exc, RateLimited):
        # The rate-limit headers themselves are added by SecurityHeaders, as on every response.
        data = {"msLeft": exc.ms_left}
    body: dict[str, Any] = {"error": exc.message, "code": exc.code}
    if data is not None:
        body["data"] = data
    return JSONResponse(body, status_code=exc.status)


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
        return _salon_error(exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_request: Request, exc: RequestValidationError) -> Response:
        problems = _problems(exc)
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse(
            {
                "error": f"Invalid request. {summary}",
                "code": "invalid_input",
                "data": {"fields": problems},
            },
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: "Not found.", 405: "Method not allowed."}
        return JSONResponse(
            {"error": messages.get(exc.status_code, str(exc.detail)), "code": "http_error"},
            status_code=exc.status_code,
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(meetings.router)
    app.include_router(insights.router)
    app.include_router(organization.router)
    app.include_router(pages.router)
    app.add_middleware(BodyLimit, max_bytes=services.settings.server.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)
    return app
