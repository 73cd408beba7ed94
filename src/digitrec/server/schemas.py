"""The shapes of the API's answers, for OpenAPI and for clients.

They mirror ``digitrec predict --json`` (DESIGN.md). Handlers answer with the
`Recognition.to_dict()` object serialised directly (it already has this shape),
so these models document the contract rather than re-validate every response.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DigitOut",
    "RecognitionOut",
    "ErrorDetail",
    "ErrorOut",
    "ErrorRow",
    "BatchOut",
    "ModelOut",
    "ModelsOut",
    "HealthOut",
]


class DigitOut(BaseModel):
    """One digit read from the image, left to right."""

    model_config = ConfigDict(extra="allow")

    digit: int = Field(description="The most likely digit.", examples=[7])
    confidence: float = Field(description="Its probability, 0..1.", examples=[0.98])
    uncertain: bool = Field(description="True when the confidence is under the model's threshold, the model's not-a-digit output won, or at least half of the digits read are uncertain (then the row is likely no number).")
    top: list[tuple[int, float]] = Field(description="The three most likely digits with their probabilities.")
    box: tuple[int, int, int, int] = Field(description="Where the digit is: [x0, y0, x1, y1] in image pixels.")


class RecognitionOut(BaseModel):
    """The number read from one image (the object of ``digitrec predict --json``).

    With ``?include=samples`` the answer also carries the model-format input(s)
    the model saw, so a client can show them.
    """

    model_config = ConfigDict(extra="allow")

    path: str | None = Field(default=None, description="The uploaded file's name, if it had one.")
    text: str = Field(description="The number read, left to right; '?' marks an uncertain digit.", examples=["42"])
    digits: list[DigitOut]
    model: str = Field(description="The model's name.")


class ErrorDetail(BaseModel):
    """What went wrong, with a stable code a client can test."""

    code: str = Field(examples=["unsupported_image"])
    message: str = Field(description="What was wrong and what to do about it.")


class ErrorOut(BaseModel):
    """Every error answer: 401, 404, 413, 415, 422."""

    error: ErrorDetail


class ErrorRow(BaseModel):
    """A batch entry for a file that could not be read; the other files still get answers."""

    path: str | None = None
    error: ErrorDetail


class BatchOut(BaseModel):
    """One entry per uploaded file, in upload order."""

    results: list[RecognitionOut | ErrorRow]


class ModelOut(BaseModel):
    """A model's card, in short."""

    model_config = ConfigDict(extra="allow")

    name: str
    recipe: str | None = None
    input_format: str
    threshold: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    created: str | None = None
    active: bool = Field(description="True for the model this server recognises with.")
    pairs: str | None = Field(
        default=None, description="The active model's pair reader, asked about touching digits (none: null)."
    )


class ModelsOut(BaseModel):
    """The model in use, and the models shipped with digitrec."""

    active: str
    models: list[ModelOut]


class HealthOut(BaseModel):
    """The server is up and has its model loaded."""

    status: str = Field(examples=["ok"])
    model: str
