"""One place where errors become JSON: ``{"error": {"code", "message"}}`` and a 4xx.

`DigitrecError` carries its own ``code`` and ``http_status``; anything else (a bug) is
a 500 ``internal_error`` in the same shape. FastAPI's request
validation errors (a wrong field name, a query value of the wrong type) and
Starlette's HTTP errors (unknown path, wrong method) get the same shape, so a
client only ever parses one kind of error body.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from digitrec.errors import DigitrecError, as_digitrec_error

__all__ = ["error_response", "install_error_handlers"]

# Starlette's HTTP errors, named as stable codes.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The JSON error body every endpoint answers with."""
    body = json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) + " (see /docs for the fields each endpoint takes)"


async def _digitrec_error(request: Request, exc: DigitrecError) -> Response:
    return error_response(exc.http_status, exc.code, exc.message)


async def _unforeseen_error(request: Request, exc: Exception) -> Response:
    # Starlette answers this, then re-raises: the server's log keeps the traceback.
    error = as_digitrec_error(exc, f"{request.method} {request.url.path}")
    return error_response(error.http_status, error.code, error.message)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    return error_response(422, "invalid_argument", _describe_validation(exc))


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    if exc.status_code == 404:
        message = f"there is nothing at {request.url.path}; the endpoints are listed at /docs"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; the endpoints are listed at /docs"
    else:
        message = f"{exc.detail} (see /docs for what each endpoint takes)"
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON error body (a bug too: a 500)."""
    app.add_exception_handler(DigitrecError, _digitrec_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unforeseen_error)
