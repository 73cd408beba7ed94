"""``GET /healthz``: the process is up and its model is loaded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from digitrec.server.dependencies import get_recognizer
from digitrec.server.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="Is the server up?")
def healthz(recognizer: Annotated[object, Depends(get_recognizer)]) -> dict:
    """Answer ``{"status": "ok", "model": NAME}`` once the model is loaded."""
    return {"status": "ok", "model": recognizer.name}
