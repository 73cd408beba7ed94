"""The providers handlers depend on. Tests swap `get_recognizer` via ``app.dependency_overrides``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from fastapi import Request

from digitrec.server.settings import ServerSettings

if TYPE_CHECKING:
    from digitrec.preprocess import ImageSource
    from digitrec.recognizer import Recognition, Recognizer

__all__ = ["get_recognizer", "get_settings", "off_the_loop"]

T = TypeVar("T")

# The providers are ``async def`` although they do not wait for anything: FastAPI runs
# a plain ``def`` dependency on its thread pool, one more thread hop per request.


async def get_recognizer(request: Request) -> Recognizer:
    """The `Recognizer` the lifespan loaded once for this process."""
    return request.app.state.recognizer


async def get_settings(request: Request) -> ServerSettings:
    """The settings the app was created with."""
    return request.app.state.settings


async def off_the_loop(
    request: Request,
    recognizer: Recognizer,
    image: ImageSource,
    digits: int | None,
    finish: Callable[[Recognition], T],
) -> T:
    """Read ``image`` and ``finish`` its answer on this process's recognition threads (`Batcher`),
    so the event loop keeps serving."""
    return await request.app.state.batcher.recognize(recognizer, image, digits, finish)
