"""Two small ASGI middlewares for ``/v1/*``: the bearer token and the body-size limit.

They are plain ASGI callables rather than ``BaseHTTPMiddleware``, which would cost
a task and a copy per request on the hot path.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digitrec.errors import ImageTooLargeError
from digitrec.server.errors import error_response

__all__ = ["TokenMiddleware", "BodyLimitMiddleware", "API_PREFIX"]

API_PREFIX = "/v1/"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class TokenMiddleware:
    """Answer 401 on ``/v1/*`` unless the request carries ``Authorization: Bearer TOKEN``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            given = _header(scope, b"authorization") or b""
            # compare_digest: the time taken does not tell how much of the token matched.
            if not hmac.compare_digest(given, self.expected):
                response = error_response(
                    401,
                    "unauthorized",
                    "this server requires a token: send the header 'Authorization: Bearer <DIGITREC_TOKEN>'",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse ``/v1/*`` bodies over a limit: by ``Content-Length`` first, then while reading.

    A declared length over the limit is answered 413 before a byte of the body
    is read. A body without a length (chunked) or one that lies about it is
    counted as it arrives; past the limit, reading raises `ImageTooLargeError`,
    which the app's error handler answers with the same 413.

    Parameters
    ----------
    app : ASGI app
    limit_for : callable
        Maps a request path to its byte limit.
    max_bytes : int
        The per-image limit (``--max-bytes``), named in the error message.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int], max_bytes: int) -> None:
        self.app = app
        self.limit_for = limit_for
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                await error_response(400, "bad_request", "the Content-Length header is not a number")(
                    scope, receive, send
                )
                return
            if length > limit:
                message = _too_large(length, self.max_bytes)
                await error_response(413, ImageTooLargeError.code, message)(scope, receive, send)
                return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ImageTooLargeError(_too_large(received, self.max_bytes, so_far=True))
            return message

        await self.app(scope, counting_receive, send)


def _too_large(size: int, max_bytes: int, *, so_far: bool = False) -> str:
    what = f"more than {size:,} bytes so far" if so_far else f"{size:,} bytes"
    return (
        f"the request body is {what}, over this server's limit (images up to {max_bytes:,} bytes); "
        "send a smaller image (a digit needs only a few hundred pixels) or start the server with a larger --max-bytes"
    )
