"""The providers handlers depend on. Tests swap `get_recognizer` via ``app.dependency_overrides``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from digitrec.server.settings import ServerSettings

if TYPE_CHECKING:
    from digitrec.recognizer import Recognizer

__all__ = ["get_recognizer", "get_settings"]


def get_recognizer(request: Request) -> Recognizer:
    """The `Recognizer` the lifespan loaded once for this process."""
    return request.app.state.recognizer


def get_settings(request: Request) -> ServerSettings:
    """The settings the app was created with."""
    return request.app.state.settings
