"""``GET /v1/models``: the model in use and the models shipped with digitrec."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends

from digitrec.server.dependencies import get_recognizer
from digitrec.server.schemas import ModelsOut

router = APIRouter(prefix="/v1", tags=["models"])

_CARD_FIELDS = ("name", "recipe", "input_format", "threshold", "metrics", "created")


def _shipped_cards() -> list[dict]:
    """The shipped bundles' cards, read as JSON only (nothing is loaded or trusted here)."""
    from digitrec.bundle import available_models

    cards = []
    for name, path in available_models().items():
        try:
            card = json.loads((path / "card.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged shipped bundle is reported when someone loads it
        entry = {key: card.get(key) for key in _CARD_FIELDS}
        entry["name"] = entry["name"] or name
        entry["metrics"] = entry["metrics"] or {}
        cards.append(entry)
    return cards


@router.get("/models", response_model=ModelsOut, summary="The model in use and the shipped models")
def list_models(recognizer: Annotated[object, Depends(get_recognizer)]) -> dict:
    """List the loaded model (``active: true``) and every shipped model."""
    active = dict(recognizer.info())
    active["active"] = True
    models = [active]
    for card in _shipped_cards():
        if card["name"] != active["name"]:
            models.append({**card, "active": False})
    return {"active": active["name"], "models": models}
