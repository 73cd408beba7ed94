"""``digitrec predict``: read the number in each image file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from digitrec.cli._options import (
    digits_option,
    emit_json,
    json_option,
    model_option,
    pairs_option,
    threshold_option,
)
from digitrec.errors import as_digitrec_error

if TYPE_CHECKING:
    from digitrec.recognizer import Recognition, Recognizer

__all__ = ["command"]

CELL = 112  # pixels per normalised digit in --show pictures


@click.command("predict")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@model_option
@json_option
@click.option(
    "--show",
    "show_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Write, per input, DIR/NAME.png: the boxes found and the normalised digits the model saw.",
)
@digits_option
@threshold_option
@pairs_option
def command(
    files: tuple[str, ...],
    model: str | None,
    as_json: bool,
    show_dir: Path | None,
    digits: int | None,
    threshold: float | None,
    pairs: str | None,
) -> None:
    """Read the handwritten number in each image (PNG, JPEG, GIF, BMP, TIFF, WebP).

    One line per file: the number read (? where unsure) and each digit's confidence.
    "-" reads one image from stdin. Exit status 1 if any file could not be read.

    \b
    Examples:
      digitrec predict photo.jpg
      digitrec predict scans/*.png --json
      digitrec predict meter.jpg --digits 5 --show why/
      digitrec predict eighteen.png --pairs none     # without the pair reader
      cat drawing.png | digitrec predict -
    """
    from digitrec.recognizer import Recognizer, error_result

    recognizer = Recognizer.load(model, threshold=threshold, pairs=pairs)
    failed = 0
    written: set[str] = set()
    for name in files:
        try:
            source = sys.stdin.buffer.read(recognizer.max_bytes + 1) if name == "-" else name
            result = recognizer.recognize(source, digits=digits)
            if show_dir is not None:
                _write_show(show_dir, name, source, result, recognizer, written)
        except Exception as caught:  # noqa: BLE001 - one file's failure, even a bug, is that file's line
            exc = as_digitrec_error(caught, name)
            failed += 1
            if as_json:
                emit_json(error_result(name, exc))
            else:
                where = "" if exc.message.startswith(name) else f"{name}: "
                click.echo(f"digitrec: error: {where}{exc.message}", err=True)
            continue
        if as_json:
            emit_json(result.to_dict(name))
        else:
            shown = result.text if result.digits else "(no digit found)"
            confidences = " ".join(f"{d.confidence:.2f}" for d in result.digits)
            click.echo(f"{name}: {shown}" + (f"  ({confidences})" if confidences else ""))
    if failed:
        raise SystemExit(1)


def _show_name(name: str, written: set[str]) -> str:
    stem = "stdin" if name == "-" else Path(name).stem or "image"
    candidate, n = stem, 1
    while candidate in written:
        n += 1
        candidate = f"{stem}-{n}"
    written.add(candidate)
    return candidate + ".png"


def _write_show(
    show_dir: Path, name: str, source: Any, result: Recognition, recognizer: Recognizer, written: set[str]
) -> Path:
    """Write a picture of what the model saw: the boxes on the image, the digits it was given."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    from digitrec.fileio import atomic_write_bytes
    from digitrec.preprocess import ink_map, load_image

    image = load_image(source, max_bytes=recognizer.max_bytes, max_pixels=recognizer.max_pixels)
    if image.mode not in ("RGB", "L"):
        # Show the ink as black on white: transparent canvases and 16-bit scans look right.
        image = Image.fromarray((255 - ink_map(image) * 255).astype(np.uint8))
    image = image.convert("RGB")
    scale = min(1.0, 2 * CELL / max(1, image.height), 800 / max(1, image.width))
    shown = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    draw = ImageDraw.Draw(shown)
    for d in result.digits:
        colour = (220, 40, 40) if d.uncertain else (30, 160, 60)
        corners = (d.box[0], d.box[1], d.box[2] - 1, d.box[3] - 1)
        draw.rectangle([round(v * scale) for v in corners], outline=colour, width=2)
    n = len(result.digits)
    canvas = Image.new("RGB", (shown.width + 12 + max(n, 1) * (CELL + 6), max(shown.height, CELL + 24)), "white")
    canvas.paste(shown, (0, 0))
    draw = ImageDraw.Draw(canvas)
    fmt = recognizer.bundle.input_format
    side = 28 if fmt == "mnist" else 8
    top = 1.0 if fmt == "mnist" else 16.0  # optdigits counts 0..16 ink pixels per block
    for i, d in enumerate(result.digits):
        sample = np.asarray(result.samples[i], dtype=np.float64).reshape(side, side) / top
        cell = Image.fromarray((np.clip(sample, 0, 1) * 255).astype(np.uint8))
        cell = cell.resize((CELL, CELL), Image.Resampling.NEAREST)
        x = shown.width + 12 + i * (CELL + 6)
        canvas.paste(cell, (x, 0))
        label = f"{'?' if d.uncertain else d.digit} {d.confidence:.2f}"
        draw.text((x + 2, CELL + 4), label, fill=(220, 40, 40) if d.uncertain else (0, 0, 0))
    if not result.digits:
        draw.text((shown.width + 14, 4), "no digit found", fill=(0, 0, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return atomic_write_bytes(Path(show_dir) / _show_name(name, written), buffer.getvalue())
