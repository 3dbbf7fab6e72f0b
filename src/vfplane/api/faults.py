"""The one fault table: exceptions → HTTP status and the error body each API family uses.

Neutron: ``{"NeutronError": {"type", "message", "detail"}}``; Nova: ``{"<kind>":
{"message", "code"}}``; Keystone, Glance and the native API: ``{"error": {"code",
"title", "message"}}``. The OpenStack clients show ``message`` from each.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from vfplane.errors import ApiError

LOG = logging.getLogger(__name__)

_NOVA_KINDS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
}


def error_body(path: str, status: int, kind: str, message: str) -> dict[str, Any]:
    if path.startswith("/network"):
        return {"NeutronError": {"type": kind, "message": message, "detail": ""}}
    if path.startswith("/compute"):
        return {_NOVA_KINDS.get(status, "computeFault"): {"message": message, "code": status}}
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return {"error": {"code": status, "title": title, "message": message, "type": kind}}


def error_response(request: Request, status: int, kind: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Keystone uri="/identity/v3"'} if status == 401 else None
    return JSONResponse(
        error_body(request.url.path, status, kind, message), status_code=status, headers=headers
    )


DB_RETRY_AFTER_S = 1


def database_fault(exc: Exception) -> str | None:
    """The message of a 503 for a database that cannot serve the request now (its
    connection was lost, it refuses connections, no pooled connection came free); None
    for any other error. The pool replaces a lost connection, so a retry may succeed."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "The database connection was lost; retry the request."
    if isinstance(exc, PoolTimeout):
        return "No database connection came free in time; retry the request."
    if isinstance(exc, OperationalError):
        cause = type(exc.orig).__name__ if exc.orig is not None else "OperationalError"
        return f"The database is unavailable ({cause}); retry the request."
    return None


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = _field_name(tuple(error.get("loc", ())))
        message = str(error.get("msg", "is invalid"))
        if error.get("type") == "extra_forbidden":
            message = "Unrecognized attribute"
        problems.append(f"Invalid input for {field}: {message}")
    return "; ".join(problems)


def install_fault_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(request, exc.status, exc.kind, str(exc))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, 400, "HTTPBadRequest", validation_message(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = HTTPStatus(exc.status_code).phrase.replace(" ", "")
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"The resource could not be found: {request.method} {request.url.path}"
        return error_response(request, exc.status_code, kind, message)

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        message = database_fault(exc)
        if message is None:
            return await on_unexpected(request, exc)
        LOG.warning("%s %s: %s (%s)", request.method, request.url.path, message,
                    str(exc).splitlines()[0])  # fmt: skip
        response = error_response(request, 503, "ServiceUnavailable", message)
        response.headers["Retry-After"] = str(DB_RETRY_AFTER_S)
        return response

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        LOG.exception("unexpected error serving %s %s", request.method, request.url.path)
        return error_response(
            request, 500, "InternalServerError", "The server failed; see its log for details."
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(DBAPIError, on_database)
    app.add_exception_handler(PoolTimeout, on_database)
    app.add_exception_handler(Exception, on_unexpected)
