"""``POST /v1/recognize`` and ``POST /v1/recognize/batch``.

The handlers are ``async`` only to read the body (a raw ``image/*`` body cannot
be read from a plain ``def`` handler); recognition itself runs on the process's
recognition threads (`off_the_loop`, `digitrec.server.batcher`), so the event loop
keeps accepting requests while a digit is read, and the images waiting are read
together. The answer is the ``to_dict()`` object serialised once, compactly, without
a second validation pass.
"""

from __future__ import annotations

import asyncio
import io
import json
from operator import methodcaller
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from digitrec.errors import InvalidImageError, UnsupportedImageError, UsageError
from digitrec.recognizer import error_result
from digitrec.server.dependencies import get_recognizer, off_the_loop
from digitrec.server.schemas import BatchOut, ErrorOut, RecognitionOut
from digitrec.server.settings import MAX_BATCH_FILES

router = APIRouter(prefix="/v1", tags=["recognize"])

#: More digits than this in one image is not a number anyone writes by hand.
MAX_DIGITS = 32

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in {
        401: "A token is required (DIGITREC_TOKEN is set) and was missing or wrong.",
        413: "The request or an image is larger than the server's --max-bytes.",
        415: "The body is not an image digitrec reads, or not sent as multipart/image.",
        422: "Invalid image (truncated, a decompression bomb, empty) or a wrong field or parameter.",
        500: "A failure digitrec did not foresee (a bug): the message names it; please report it.",
    }.items()
}

_BINARY = {"type": "string", "format": "binary"}
_SINGLE_BODY = {
    "requestBody": {
        "required": True,
        "description": "The image: multipart field `file`, or the raw bytes with an `image/*` Content-Type.",
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"], "properties": {"file": _BINARY}}
            },
            "image/png": {"schema": _BINARY},
            "image/jpeg": {"schema": _BINARY},
            "image/*": {"schema": _BINARY},
        },
    }
}
_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "description": f"Up to {MAX_BATCH_FILES} images, each in a multipart field named `files`.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {"files": {"type": "array", "items": _BINARY}},
                }
            }
        },
    }
}

# The query parameters are read by `_options` rather than declared as handler
# arguments: FastAPI's per-request parameter solving costs ~0.15 ms, a tenth of
# reading a canvas. They are documented here for the OpenAPI schema instead.
_QUERY = {
    "parameters": [
        {
            "name": "digits",
            "in": "query",
            "required": False,
            "description": "How many digits the image holds, when known (helps segmentation).",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_DIGITS},
        },
        {
            "name": "include",
            "in": "query",
            "required": False,
            "description": "`samples`: also return the model-format input(s) the model saw (the pad draws them).",
            "schema": {"type": "string", "enum": ["samples"]},
        },
    ]
}


def _options(request: Request) -> tuple[int | None, bool]:
    """The request's ``digits`` and ``include`` query values: (digits or None, include samples)."""
    query = request.query_params
    digits = query.get("digits")
    if digits is not None:
        try:
            digits = int(digits)
        except ValueError:
            raise UsageError(
                f"query.digits: {query['digits']!r} is not a whole number; give how many digits the image holds"
            ) from None
        if not 1 <= digits <= MAX_DIGITS:
            raise UsageError(f"query.digits: must be from 1 to {MAX_DIGITS}, not {digits}")
    include = query.get("include")
    if include not in (None, "samples"):
        raise UsageError(f"query.include: the only value is 'samples', not {include!r}")
    return digits, include == "samples"


def _named(data: bytes, name: str | None) -> bytes | io.BytesIO:
    """The bytes, as a file carrying the upload's name, so error messages name the file."""
    if not name:
        return data
    stream = io.BytesIO(data)
    stream.name = name
    return stream


def _json(obj: Any) -> Response:
    return Response(json.dumps(obj, separators=(",", ":")), media_type="application/json")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _not_multipart_or_image(media: str) -> UnsupportedImageError:
    return UnsupportedImageError(
        f"the request body has Content-Type {media or 'none'!r}; send the image as a multipart "
        "field named 'file' or as a raw body with an image/* Content-Type (e.g. image/png)"
    )


def _field_names(form: Any) -> str:
    names = sorted({key for key, _ in form.multi_items()})
    return ", ".join(repr(n) for n in names) or "none"


async def _read_upload(value: Any, field: str) -> tuple[str | None, bytes]:
    if not isinstance(value, UploadFile):
        raise UsageError(f"the multipart field {field!r} is text, not a file; attach the image file itself")
    return value.filename, await value.read()


async def _single_image(request: Request) -> tuple[str | None, bytes]:
    """The one image of a request, read exactly once: (file name or None, bytes)."""
    media = _media_type(request)
    if media.startswith("image/"):
        data = await request.body()
        name = None
    elif media == "multipart/form-data":
        async with request.form(max_files=1, max_fields=8) as form:
            if "file" not in form:
                raise UsageError(
                    f"the form has no field 'file' (fields sent: {_field_names(form)}); "
                    "send the image in a multipart field named 'file'"
                )
            name, data = await _read_upload(form["file"], "file")
    else:
        raise _not_multipart_or_image(media)
    if not data:
        raise InvalidImageError("the image is empty (0 bytes); send the image file's contents")
    return name, data


@router.post(
    "/recognize",
    response_model=RecognitionOut,
    responses=_ERRORS,
    openapi_extra={**_SINGLE_BODY, **_QUERY},
    summary="Read the number in one image",
)
async def recognize(
    request: Request,
    recognizer: Annotated[Any, Depends(get_recognizer)],
) -> Response:
    """Read the digits in one image and answer the ``digitrec predict --json`` object."""
    digits, include_samples = _options(request)
    name, data = await _single_image(request)
    answer = methodcaller("to_dict", path=name, include_samples=include_samples)
    return _json(await off_the_loop(request, recognizer, _named(data, name), digits, answer))


@router.post(
    "/recognize/batch",
    response_model=BatchOut,
    responses=_ERRORS,
    openapi_extra={**_BATCH_BODY, **_QUERY},
    summary="Read the numbers in several images",
)
async def recognize_batch(
    request: Request,
    recognizer: Annotated[Any, Depends(get_recognizer)],
) -> Response:
    """Read each uploaded file; a file that cannot be read gets an error row and the others go on."""
    digits, include_samples = _options(request)
    media = _media_type(request)
    if media != "multipart/form-data":
        raise UsageError(
            f"the batch endpoint takes multipart/form-data (got {media or 'no Content-Type'!r}); "
            "send each image in a field named 'files'"
        )
    async with request.form(max_files=MAX_BATCH_FILES + 1, max_fields=8) as form:
        values = form.getlist("files")
        if not values:
            raise UsageError(
                f"the form has no field 'files' (fields sent: {_field_names(form)}); "
                "send each image in a multipart field named 'files'"
            )
        if len(values) > MAX_BATCH_FILES:
            raise UsageError(f"at most {MAX_BATCH_FILES} files per batch request; split the upload")
        uploads = [await _read_upload(value, "files") for value in values]

    async def one(name: str | None, data: bytes) -> dict:
        try:
            if not data:
                raise InvalidImageError("the image is empty (0 bytes)")
            answer = methodcaller("to_dict", path=name, include_samples=include_samples)
            return await off_the_loop(request, recognizer, _named(data, name), digits, answer)
        except Exception as exc:  # noqa: BLE001 - a file's failure, even a bug, is that file's row
            return error_result(name, exc)

    # Queued together, the files are read as one batch (or shared out between the threads).
    rows = await asyncio.gather(*(one(name, data) for name, data in uploads))
    return _json({"results": list(rows)})
