"""Render MNIST digits into the images people really have, and non-digits to reject.

A model that scores 99% on MNIST can still misread the digit its user just
photographed; this module makes the test images that catch that. Every function
is pure and seeded through a `numpy.random.Generator`: the same seed gives the
same pixels, and nothing touches the disk unless `save_set` is asked to.

Digits start as MNIST samples (28x28 uint8, white ink on black). The ink is
upscaled, its soft MNIST edges sharpened into pen strokes, and then drawn in one
of the `STYLES`:

=========  ==================================================================
paper      dark ink (pen, biro or pencil) on a paper photo: texture, a lighting
           gradient, vignette and sometimes a soft shadow, blur, sensor noise,
           JPEG compression; 640x480 or smaller
canvas     a browser drawing pad export: RGBA, black strokes on a transparent
           background, the ink in the alpha channel; 280x280 for one digit
chalk      light, grainy strokes on a dark green or black board with haze
rotated    paper, the digit rotated by up to 15 degrees; about a third of the
           images are stored sideways or upside down with an EXIF orientation
           tag, as phones do
thick      strokes dilated 1.5 to 2.2 times, at most a quarter of the digit's height
           (paper or canvas)
thin       strokes eroded to a third of their width or less (paper or canvas)
scan       a clean grey flatbed scan at high resolution, with dust specks
=========  ==================================================================

Non-digits (`NON_DIGIT_KINDS`) are drawn in the same styles: letters and symbols
set in the fonts at hand (DejaVu, else Pillow's own font), random scribbles,
blank images, pure noise, and smudges. Letters and symbols that a person would
read as a digit (O, l, S, Z, B, g, /, ...) are left out: reading ``O`` as 0 is
not a wrong acceptance.

Examples
--------
>>> import numpy as np
>>> from digitrec.synth import render_digit
>>> stroke = np.zeros((28, 28), np.uint8); stroke[4:24, 12:16] = 255
>>> image = render_digit(stroke, "canvas", np.random.default_rng(0))
>>> image.mode, image.size
('RGBA', (280, 280))
"""

from __future__ import annotations

import csv
import glob
import io
import os
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from digitrec.errors import UsageError
from digitrec.fileio import atomic_write_bytes, atomic_write_text

__all__ = [
    "STYLES",
    "PAGES",
    "NON_DIGIT_KINDS",
    "LETTERS",
    "SYMBOLS",
    "font_paths",
    "render_digit",
    "render_number",
    "render_non_digit",
    "render_pen",
    "non_digit_ink",
    "make_set",
    "set_indices",
    "make_number_set",
    "make_non_digit_set",
    "encode",
    "save_set",
]

STYLES: tuple[str, ...] = ("paper", "canvas", "chalk", "rotated", "thick", "thin", "scan")
# The paper under a "paper" photo: blank, a notebook's ruled lines or squares, or a
# form's printed box around the number (one box, or one per digit).
PAGES: tuple[str, ...] = ("plain", "ruled", "squared", "boxed", "comb")
NON_DIGIT_KINDS: tuple[str, ...] = ("letter", "symbol", "scribble", "blank", "noise", "smudge")

# Letters and symbols nobody would read as a digit; O/o/D/Q (0), I/l/i/j/J/T/7-like
# strokes (1, 7), Z/z (2), S/s (5), G/b (6), B (8), g/q/a/e (9, 6) are left out.
LETTERS = "ACEFHKMNPRUVWXYcfhkmnprtuvwxy"
SYMBOLS = "+=*#%@&<>~^{}"

_FONT_GLOBS = ("/usr/share/fonts/truetype/dejavu/DejaVu*.ttf", "/usr/share/fonts/**/DejaVu*.ttf")
# PIL's resize/rotate take these; a module-level alias keeps lines short.
_BICUBIC = Image.Resampling.BICUBIC

# An MNIST digit fills a 20x20 box inside 28x28; sizes below are in those units.
_MNIST_BOX = 20.0


# --------------------------------------------------------------------------- inks
def _as_ink(image28: np.ndarray) -> np.ndarray:
    """An MNIST-style array (white ink on black, uint8 or 0..1 floats) as float32 0..1."""
    ink = np.asarray(image28)
    if ink.ndim == 1 and ink.size == 784:
        ink = ink.reshape(28, 28)
    if ink.ndim != 2:
        raise UsageError(f"a digit image must be a 2-D array (28x28 MNIST layout), got shape {ink.shape}")
    ink = ink.astype(np.float32)
    if ink.max(initial=0.0) > 1.0:
        ink /= 255.0
    return np.clip(ink, 0.0, 1.0)


def _resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize of a float32 2-D array (Pillow's "F" mode keeps the precision)."""
    out = Image.fromarray(np.ascontiguousarray(array, np.float32), "F").resize((width, height), _BICUBIC)
    return np.asarray(out, dtype=np.float32)


def _pen(ink: np.ndarray, low: float = 0.2, high: float = 0.55) -> np.ndarray:
    """Sharpen MNIST's soft, blurred edges into a pen stroke with a thin anti-aliased rim."""
    t = np.clip((ink - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _upscale(ink: np.ndarray, scale: float) -> np.ndarray:
    height, width = ink.shape
    return np.clip(_resize(ink, max(1, round(width * scale)), max(1, round(height * scale))), 0.0, 1.0)


def _disk(radius: float) -> np.ndarray:
    r = max(1, int(np.ceil(radius)))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return xx * xx + yy * yy <= radius * radius


def _restroke(pen: np.ndarray, factor: float, digit_height: float) -> np.ndarray:
    """Change the stroke width of an upscaled pen image by ``factor`` (2 = twice as wide).

    A thickened stroke is kept under a quarter of the digit's height (``digit_height``
    pixels), about what a fat marker draws: wider, and a 4, 8 or 9 fills into a
    blob nobody could read either. Works on the binary stroke at the upscaled resolution with a Euclidean distance
    transform: dilation for ``factor > 1``; for ``factor < 1`` an erosion that keeps
    the ridge of the stroke, so a thin pen draws a connected line, not dashes.
    """
    from scipy import ndimage

    mask = pen > 0.5
    if not mask.any():
        return pen
    inside = ndimage.distance_transform_edt(mask)
    # Across a stroke of half-width h the inner distance runs evenly over 0..h.
    half_width = max(1.0, 2.0 * float(inside[mask].mean()))
    if factor >= 1.0:
        target = max(1.25 * half_width, min(factor * half_width, 0.125 * digit_height))
        pad = int(np.ceil(target - half_width)) + 2
        mask = np.pad(mask, pad)
        outside = ndimage.distance_transform_edt(~mask)
        grown = outside <= target - half_width
        stroke = grown.astype(np.float32)
    else:
        keep = factor * half_width
        ridge = inside >= ndimage.maximum_filter(inside, size=3) - 0.5
        ridge &= inside >= 1.0
        ridge = ndimage.binary_dilation(ridge, structure=_disk(keep))
        stroke = ((inside > (1.0 - factor) * half_width) | ridge).astype(np.float32)
    # A light blur restores the anti-aliased rim a real pen or canvas gives.
    return ndimage.gaussian_filter(stroke, 0.8)


def _trim(ink: np.ndarray, level: float = 0.1) -> np.ndarray:
    rows = np.flatnonzero(ink.max(axis=1) > level)
    cols = np.flatnonzero(ink.max(axis=0) > level)
    if rows.size == 0:
        return ink[:0, :0]
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


# --------------------------------------------------------------------------- noise fields
def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Low-frequency noise, -1..1 roughly: a coarse random grid upscaled bicubically."""
    coarse = rng.standard_normal((max(2, height // cell + 2), max(2, width // cell + 2))).astype(np.float32)
    return _resize(coarse, width, height) * 0.5


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return (xx / max(1, width - 1)) * 2 - 1, (yy / max(1, height - 1)) * 2 - 1


def _lighting(rng: np.random.Generator, height: int, width: int, shadow_p: float = 0.3) -> np.ndarray:
    """Uneven light on a photographed page: gradient, vignette, sometimes a soft shadow."""
    x, y = _grid(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + rng.uniform(0.05, 0.25) * (np.cos(angle) * x + np.sin(angle) * y)
    light *= 1.0 - rng.uniform(0.0, 0.3) * (x * x + y * y) / 2.0
    if rng.random() < shadow_p:
        # A hand or phone shadow: a half-plane with a wide, soft edge.
        angle = rng.uniform(0, 2 * np.pi)
        edge = (np.cos(angle) * x + np.sin(angle) * y - rng.uniform(0.3, 0.9)) / rng.uniform(0.15, 0.4)
        light *= 1.0 - rng.uniform(0.15, 0.35) / (1.0 + np.exp(-edge))
    return light / light.max()


# --------------------------------------------------------------------------- layout
def _page_size(rng: np.random.Generator, size: tuple[int, int] | None = None) -> tuple[int, int]:
    sizes = ((640, 480), (480, 640), (480, 360), (400, 400), (320, 240), (360, 480))
    drawn = sizes[rng.integers(len(sizes))]  # drawn even when fixed: same stream either way
    return (int(size[0]), int(size[1])) if size is not None else drawn


def _scale_to_fit(
    ink: np.ndarray, width: int, height: int, digit_fraction: float, margin: float = 0.06
) -> float:
    """The upscale factor that makes one digit ``digit_fraction`` of the page's short side."""
    scale = digit_fraction * min(width, height) / _MNIST_BOX
    room_w = (1 - 2 * margin) * width / max(1, ink.shape[1])
    room_h = (1 - 2 * margin) * height / max(1, ink.shape[0])
    return min(scale, room_w, room_h)


def _place(ink: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Put an ink patch at a random place on an empty page of the given size."""
    page = np.zeros((height, width), np.float32)
    ink = ink[:height, :width]
    top = int(rng.integers(0, height - ink.shape[0] + 1))
    left = int(rng.integers(0, width - ink.shape[1] + 1))
    page[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return page


def _layout(
    ink: np.ndarray, width: int, height: int, digit_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    scale = _scale_to_fit(ink, width, height, digit_fraction)
    return _place(_upscale(ink, scale), width, height, rng), scale


# --------------------------------------------------------------------------- finishing
def _finish_photo(
    rgb: np.ndarray, rng: np.random.Generator, *, blur: tuple[float, float], noise: tuple[float, float],
    quality: tuple[int, int],
) -> Image.Image:
    """Camera and file: lens blur, sensor noise, then a real JPEG round trip."""
    rgb = rgb + rng.normal(0.0, rng.uniform(*noise), rgb.shape).astype(np.float32)
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*blur)))
    return _jpeg_round_trip(image, int(rng.integers(quality[0], quality[1] + 1)))


def _jpeg_round_trip(image: Image.Image, quality: int, exif: Image.Exif | None = None) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, **({"exif": exif} if exif is not None else {}))
    buffer.seek(0)
    decoded = Image.open(buffer)
    decoded.load()
    return decoded


def _ruling(rng: np.random.Generator, height: int, width: int, kind: str, digit_height: float) -> np.ndarray:
    """A notebook page's printed lines, float32 HxWx3: the factor they multiply the paper by.

    ``"ruled"``: lines 1 to 1.6 digit heights apart; ``"squared"``: squares of 0.5 to 1
    digit height. Both 0.8 to 3 px wide, light to mid blue, slanted up to 3 degrees
    (the page a little askew in the photo).
    """
    spacing = digit_height * (rng.uniform(1.0, 1.6) if kind == "ruled" else rng.uniform(0.5, 1.0))
    line_width = rng.uniform(0.8, 3.0)
    tint = rng.uniform(0.15, 0.5)  # how much light a line takes away
    colour = np.array([1.0, rng.uniform(0.8, 1.0), rng.uniform(0.4, 0.7)], np.float32)  # blue most
    angle = np.radians(rng.uniform(-3.0, 3.0))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    strength = np.zeros((height, width), np.float32)
    across = [yy * np.cos(angle) - xx * np.sin(angle)]
    if kind == "squared":
        across.append(xx * np.cos(angle) + yy * np.sin(angle))
    for position in across:
        offset = (position - rng.uniform(0, spacing)) % spacing
        distance = np.minimum(offset, spacing - offset)  # to the nearest line
        np.maximum(strength, np.clip(line_width / 2 + 0.5 - distance, 0, 1), out=strength)
    return 1.0 - (strength * tint)[..., None] * colour


def _form_box(rng: np.random.Generator, page_ink: np.ndarray, kind: str, digit_height: float) -> np.ndarray:
    """A form's printed box around the ink, float32 HxWx3 as `_ruling`'s: ``"boxed"``, one
    box; ``"comb"``, one box per digit (walls in the gaps between the digits' ink).

    The box stands 0.1 to 0.3 digit heights clear of the ink (inside the image), its
    lines 1 to 3 px wide, dark grey or blue, slanted up to 2 degrees.
    """
    height, width = page_ink.shape
    rows, cols = np.flatnonzero(page_ink.max(axis=1) > 0.1), np.flatnonzero(page_ink.max(axis=0) > 0.1)
    margin = rng.uniform(0.1, 0.3) * digit_height
    top, bottom = max(1.0, rows[0] - margin), min(height - 2.0, rows[-1] + margin)
    left, right = max(1.0, cols[0] - margin), min(width - 2.0, cols[-1] + margin)
    walls = [left, right]
    if kind == "comb":
        # A wall in the middle of each run of blank columns between the digits.
        inked = page_ink.max(axis=0) > 0.1
        blank = np.flatnonzero(~inked[cols[0] : cols[-1] + 1]) + cols[0]
        if blank.size:
            runs = np.split(blank, np.flatnonzero(np.diff(blank) > 1) + 1)
            walls += [float(run.mean()) for run in runs if run.size >= 2]
    line_width = rng.uniform(1.0, 3.0)
    tint = rng.uniform(0.4, 0.8)
    colour = np.array([1.0, 1.0, 1.0], np.float32) if rng.random() < 0.5 else np.array([1.0, 0.85, 0.5], np.float32)
    angle = np.radians(rng.uniform(-2.0, 2.0))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    # The page's coordinates, turned by the angle about the box's centre.
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle) + cx
    v = (yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle) + cy
    within_x = (u >= left - line_width) & (u <= right + line_width)
    within_y = (v >= top - line_width) & (v <= bottom + line_width)
    strength = np.zeros((height, width), np.float32)
    for y in (top, bottom):
        np.maximum(strength, np.clip(line_width / 2 + 0.5 - np.abs(v - y), 0, 1) * within_x, out=strength)
    for x in walls:
        np.maximum(strength, np.clip(line_width / 2 + 0.5 - np.abs(u - x), 0, 1) * within_y, out=strength)
    return 1.0 - (strength * tint)[..., None] * colour


def _paper_rgb(
    page_ink: np.ndarray, rng: np.random.Generator, *, shadow_p: float = 0.3, ruling: np.ndarray | None = None
) -> np.ndarray:
    """Dark ink on light paper as lit by a room light, float32 HxWx3 in 0..1 (the ink over
    ``ruling``'s printed lines, if given)."""
    height, width = page_ink.shape
    paper = np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.86, 1.0)], np.float32) * rng.uniform(0.8, 0.97)
    texture = 1.0 + 0.02 * _smooth_noise(rng, height, width, 24) + rng.normal(0, 0.012, (height, width))
    if ruling is not None:
        paper = paper * ruling
    pen = rng.random()
    if pen < 0.2:  # pencil: grey and lighter, the hardest contrast
        colour = np.full(3, rng.uniform(0.28, 0.42), np.float32)
        opacity = rng.uniform(0.75, 0.9)
    elif pen < 0.5:  # blue biro
        colour = np.array([rng.uniform(0.05, 0.15), rng.uniform(0.1, 0.2), rng.uniform(0.35, 0.55)], np.float32)
        opacity = rng.uniform(0.85, 1.0)
    else:  # black or dark felt pen
        colour = np.full(3, rng.uniform(0.03, 0.18), np.float32)
        opacity = rng.uniform(0.9, 1.0)
    alpha = (page_ink * opacity)[..., None]
    albedo = (paper * texture[..., None]) * (1 - alpha) + colour * alpha
    return albedo * _lighting(rng, height, width, shadow_p)[..., None]


def _paper(
    ink: np.ndarray, rng: np.random.Generator, size: tuple[int, int] | None = None, *, rotate: float = 0.0,
    page: str = "plain",
) -> Image.Image:
    width, height = _page_size(rng, size)
    scale = _scale_to_fit(ink, width, height, rng.uniform(0.3, 0.7))
    big = _upscale(ink, scale)
    if rotate:
        big = np.asarray(Image.fromarray(big, "F").rotate(rotate, resample=_BICUBIC, expand=True), np.float32)
        if big.shape[0] > height or big.shape[1] > width:
            shrink = min(0.94 * height / big.shape[0], 0.94 * width / big.shape[1])
            big = _resize(big, max(1, int(big.shape[1] * shrink)), max(1, int(big.shape[0] * shrink)))
    ruling = _ruling(rng, height, width, page, _MNIST_BOX * scale) if page in ("ruled", "squared") else None
    placed = _place(_pen(big), width, height, rng)
    if page in ("boxed", "comb"):
        ruling = _form_box(rng, placed, page, _MNIST_BOX * scale)
    return _finish_photo(_paper_rgb(placed, rng, ruling=ruling), rng, blur=(0.3, 1.3), noise=(0.005, 0.025),
                         quality=(55, 90))


def _canvas(
    ink: np.ndarray, rng: np.random.Generator, size: tuple[int, int] | None = None, *, pen: np.ndarray | None = None
) -> Image.Image:
    """A drawing pad export: RGBA, stroke colour in RGB, the ink in the alpha channel."""
    height = 280 if size is None else int(size[1])
    if pen is None:
        n_wide = max(1.0, ink.shape[1] / 24.0)  # a number gets a wider pad
        width = int(max(280, min(1400, 280 * n_wide * 0.75))) if size is None else int(size[0])
        page, _ = _layout(ink, width, height, rng.uniform(0.4, 0.85), rng)
        alpha = _pen(page, 0.25, 0.5)
    else:
        width = max(280, pen.shape[1] + 20) if size is None else int(size[0])
        fits = pen.shape[0] <= height and pen.shape[1] <= width
        alpha = _place(pen, width, height, rng) if fits else _fit_pen(pen, width, height, rng)
    colour = (0, 0, 0) if rng.random() < 0.8 else tuple(int(c) for c in rng.integers(0, 90, 3))
    rgba = np.zeros((height, width, 4), np.uint8)
    painted = alpha > 0
    rgba[painted, :3] = colour  # canvas exports keep RGB 0 where nothing was painted
    rgba[..., 3] = (np.clip(alpha, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def _fit_pen(pen: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    shrink = min(0.9 * height / pen.shape[0], 0.9 * width / pen.shape[1])
    return _place(_resize(pen, int(pen.shape[1] * shrink), int(pen.shape[0] * shrink)), width, height, rng)


def _chalk(ink: np.ndarray, rng: np.random.Generator, size: tuple[int, int] | None = None) -> Image.Image:
    width, height = _page_size(rng, size)
    page, scale = _layout(ink, width, height, rng.uniform(0.3, 0.7), rng)
    stroke = _pen(page)
    # Chalk breaks up on the board's grain: fine holes in the stroke.
    grain_scale = rng.uniform(0.2, 0.45)
    grain = np.clip(1.0 - grain_scale * np.abs(rng.standard_normal((height, width))), 0.0, 1.0)
    stroke = stroke * grain.astype(np.float32)
    if rng.random() < 0.5:
        board = np.array([rng.uniform(0.08, 0.16), rng.uniform(0.18, 0.3), rng.uniform(0.14, 0.22)], np.float32)
    else:
        board = np.full(3, rng.uniform(0.06, 0.15), np.float32)
    haze = np.clip(_smooth_noise(rng, height, width, 60), 0, None)[..., None] * rng.uniform(0.0, 0.12)
    chalk = np.array([rng.uniform(0.85, 0.97), rng.uniform(0.85, 0.97), rng.uniform(0.78, 0.95)], np.float32)
    alpha = (stroke * rng.uniform(0.75, 0.95))[..., None]
    rgb = (board + haze) * (1 - alpha) + chalk * alpha
    rgb *= _lighting(rng, height, width, shadow_p=0.0)[..., None]
    return _finish_photo(rgb, rng, blur=(0.3, 1.0), noise=(0.01, 0.03), quality=(60, 90))


def _rotated(ink: np.ndarray, rng: np.random.Generator, size: tuple[int, int] | None = None) -> Image.Image:
    upright = _paper(ink, rng, size, rotate=rng.uniform(-15.0, 15.0))
    if rng.random() >= 0.35:
        return upright
    # A phone stores the sensor's pixels and says in EXIF how to turn them for display:
    # store the inverse turn, so that applying the tag gives the upright page back.
    orientation = int(rng.choice([3, 6, 8]))
    stored = upright.transpose(
        {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _jpeg_round_trip(stored, 92, exif)


def _pen_canvas(
    ink: np.ndarray, rng: np.random.Generator, factor: float, size: tuple[int, int] | None = None
) -> Image.Image:
    """A drawing pad export of ``ink`` drawn with a pen ``factor`` times MNIST's stroke width."""
    height = 280 if size is None else int(size[1])
    width = int(max(280, min(1400, 280 * max(1.0, ink.shape[1] / 24.0) * 0.75))) if size is None else int(size[0])
    scale = _scale_to_fit(ink, width, height, rng.uniform(0.4, 0.85))
    pen = _pen(_upscale(ink, scale))
    if factor != 1.0:
        pen = _restroke(pen, factor, _MNIST_BOX * scale)
    return _canvas(ink, rng, (width, height), pen=pen)


def render_pen(image28: np.ndarray, rng: np.random.Generator, factor: float = 1.0) -> Image.Image:
    """Draw an MNIST-style digit (or any ink) on a 280x280 drawing pad with a chosen pen.

    The fast style: no photo simulation, so it suits making training samples in bulk
    (`digitrec.redrawn`, `digitrec.negatives`), a few milliseconds each.

    Parameters
    ----------
    image28 : ndarray of shape (28, 28) or (784,)
        White ink on black (uint8 or 0..1 floats); a larger 2-D ink patch works too.
    rng : numpy.random.Generator
    factor : float, default=1.0
        Stroke width relative to the drawn ink's: 1 draws it as it is, 0.25 a fine
        pen (the ``thin`` style's range is 0.2-0.35), 2 a marker (``thick``: 1.5-2.2).

    Returns
    -------
    PIL.Image.Image
        RGBA, ink in the alpha channel.
    """
    if not factor > 0:
        raise UsageError(f"factor must be above 0, got {factor!r}")
    return _pen_canvas(_as_ink(image28), rng, float(factor))


def _restyled(
    ink: np.ndarray, rng: np.random.Generator, factor: float, size: tuple[int, int] | None = None
) -> Image.Image:
    on_canvas = rng.random() < 0.5
    if on_canvas:
        return _pen_canvas(ink, rng, factor, size)
    width, height = _page_size(rng, size)
    scale = _scale_to_fit(ink, width, height, rng.uniform(0.3, 0.7), margin=0.12)
    pen = _restroke(_pen(_upscale(ink, scale)), factor, _MNIST_BOX * scale)
    page = _place(pen, width, height, rng) if pen.shape[0] <= height and pen.shape[1] <= width else _fit_pen(
        pen, width, height, rng
    )
    return _finish_photo(_paper_rgb(page, rng, shadow_p=0.15), rng, blur=(0.3, 1.0), noise=(0.005, 0.02),
                         quality=(70, 92))


def _scan(ink: np.ndarray, rng: np.random.Generator, size: tuple[int, int] | None = None) -> Image.Image:
    width, height = ((1200, 900), (900, 1200), (1000, 1000), (1600, 1200))[rng.integers(4)]
    if size is not None:
        width, height = int(size[0]), int(size[1])
    page, scale = _layout(ink, width, height, rng.uniform(0.2, 0.45), rng)
    page = _pen(page)
    background = rng.uniform(0.92, 0.99)
    grey = background * (1 - page * rng.uniform(0.75, 0.92)) + rng.normal(0, 0.006, page.shape)
    grey = grey.astype(np.float32)
    # Dust: small dark specks, a few pixels across, anywhere on the glass.
    for _ in range(int(rng.integers(5, 40))):
        cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
        r = rng.uniform(0.8, 3.5)
        y0, y1, x0, x1 = max(0, cy - 4), min(height, cy + 5), max(0, cx - 4), min(width, cx + 5)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        speck = np.clip(r + 0.5 - np.hypot(yy - cy, xx - cx), 0, 1) * rng.uniform(0.3, 0.8)
        grey[y0:y1, x0:x1] *= 1 - speck.astype(np.float32)
    image = Image.fromarray((np.clip(grey, 0, 1) * 255 + 0.5).astype(np.uint8), "L")
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7)))


def _render_ink(
    ink: np.ndarray, style: str, rng: np.random.Generator, size: tuple[int, int] | None = None, page: str = "plain"
) -> Image.Image:
    if size is not None and (len(size) != 2 or min(size) < 28):
        raise UsageError(f"size must be (width, height), each at least 28 pixels, got {size!r}")
    if page not in PAGES:
        raise UsageError(f"unknown page {page!r}; choose one of {', '.join(PAGES)}")
    if page != "plain" and style != "paper":
        raise UsageError(f"ruled, squared and form pages are photographed paper: style 'paper', not {style!r}")
    if style == "paper":
        return _paper(ink, rng, size, page=page)
    if style == "canvas":
        return _canvas(ink, rng, size)
    if style == "chalk":
        return _chalk(ink, rng, size)
    if style == "rotated":
        return _rotated(ink, rng, size)
    if style == "thick":
        return _restyled(ink, rng, rng.uniform(1.5, 2.2), size)
    if style == "thin":
        return _restyled(ink, rng, rng.uniform(0.2, 0.35), size)
    if style == "scan":
        return _scan(ink, rng, size)
    raise UsageError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")


# --------------------------------------------------------------------------- public API
def render_digit(
    image28: np.ndarray, style: str, rng: np.random.Generator, *, size: tuple[int, int] | None = None,
    page: str = "plain",
) -> Image.Image:
    """Render one MNIST digit as a realistic image.

    Parameters
    ----------
    image28 : ndarray of shape (28, 28) or (784,)
        An MNIST sample: white ink on black, uint8 0..255 or floats 0..1.
    style : str
        One of `STYLES`.
    rng : numpy.random.Generator
        The source of every random choice; the same state gives the same image.
    size : (width, height), optional
        The image's size; default: the style's own choice (photos 320x240 to 640x480,
        canvas 280x280, scans 900 to 1600 pixels wide). An image stored sideways by
        EXIF has its width and height swapped in storage.
    page : {"plain", "ruled", "squared", "boxed", "comb"}, default="plain"
        The paper under a ``"paper"`` photo (`PAGES`): a notebook's ruled lines or
        squares, or a form's box around the ink (one per digit for ``"comb"``), are
        printed under the ink.

    Returns
    -------
    PIL.Image.Image
        ``"RGB"`` (paper, chalk, rotated, and thick/thin on paper: decoded from a
        real JPEG, ``image.format == "JPEG"``; rotated ones may carry an EXIF
        orientation tag), ``"RGBA"`` (canvas, thick/thin on a canvas) or ``"L"`` (scan).
    """
    return _render_ink(_as_ink(image28), style, rng, size, page)


def _number_strip(digit_images: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Digits side by side at MNIST scale: varied gaps, some touching, some overlapping."""
    pieces = []
    for image in digit_images:
        ink = _trim(_as_ink(image))
        if ink.size == 0:
            raise UsageError("a digit image in the number has no ink")
        size = rng.uniform(0.9, 1.1)  # hand-written digits differ a little in size
        pieces.append(_upscale(ink, size) if abs(size - 1) > 0.02 else ink)
    height = int(max(p.shape[0] for p in pieces)) + 6
    gaps = []
    for _ in pieces[1:]:
        draw = rng.random()
        # 70% clearly apart, 20% touching or nearly, 10% boxes overlapping by a pixel
        # (strokes then often cross, as in quick writing).
        gaps.append(int(rng.integers(2, 7)) if draw < 0.7 else int(rng.integers(0, 2)) if draw < 0.9 else -1)
    width = sum(p.shape[1] for p in pieces) + sum(gaps) + 8
    strip = np.zeros((height, width), np.float32)
    left = 4
    for index, piece in enumerate(pieces):
        top = (height - piece.shape[0]) // 2 + int(rng.integers(-2, 3))
        top = int(np.clip(top, 0, height - piece.shape[0]))
        region = strip[top : top + piece.shape[0], left : left + piece.shape[1]]
        np.maximum(region, piece, out=region)
        left += piece.shape[1] + (gaps[index] if index < len(gaps) else 0)
    return strip


def render_number(
    digit_images: Sequence[np.ndarray], labels: Sequence[int], style: str, rng: np.random.Generator,
    *, page: str = "plain",
) -> tuple[Image.Image, str]:
    """Render several MNIST digits in a row as one realistic image of a number.

    Parameters
    ----------
    digit_images : sequence of ndarray (28, 28)
        The digits, left to right (2 to 6 of them is what people write).
    labels : sequence of int
        Their true values.
    style : str
        One of `STYLES`.
    rng : numpy.random.Generator
    page : {"plain", "ruled", "squared", "boxed", "comb"}, default="plain"
        The paper under a ``"paper"`` photo, see `render_digit`.

    Returns
    -------
    image : PIL.Image.Image
    text : str
        The true number, e.g. ``"1835"``.
    """
    if len(digit_images) != len(labels) or not digit_images:
        raise UsageError("render_number needs one label per digit image, and at least one digit")
    strip = _number_strip(digit_images, rng)
    return _render_ink(strip, style, rng, page=page), "".join(str(int(label)) for label in labels)


@lru_cache(maxsize=1)
def font_paths() -> tuple[str, ...]:
    """The TrueType fonts at hand (DejaVu), sorted; empty when there are none.

    Letters and symbols are set in one of these chosen at random, or in Pillow's
    own font where none is installed. Pass a subset as ``fonts=`` to keep, say, the
    serif faces for testing when the sans faces made a model's training negatives.
    """
    found: list[str] = []
    for pattern in _FONT_GLOBS:
        found.extend(sorted(glob.glob(pattern, recursive=True)))
    # The maths font has no Latin letters of its own shape; skip it.
    return tuple(dict.fromkeys(p for p in found if "Math" not in os.path.basename(p)))


def _glyph_ink(text: str, rng: np.random.Generator, fonts: Sequence[str] | None = None) -> np.ndarray:
    """A character set in a font at hand, as MNIST-scale ink (about 20 px tall)."""
    fonts = font_paths() if fonts is None else tuple(fonts)
    size = 96
    if fonts:
        font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], size)
    else:
        font = ImageFont.load_default(size=size)
    canvas = Image.new("L", (3 * size, 3 * size), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 2), text, fill=255, font=font)
    ink = _trim(np.asarray(canvas, np.float32) / 255.0)
    if ink.size == 0:
        return np.zeros((28, 28), np.float32)
    fit = rng.uniform(14.0, 20.0) / max(ink.shape)
    glyph = _resize(ink, max(1, round(ink.shape[1] * fit)), max(1, round(ink.shape[0] * fit)))
    return _pad(np.clip(glyph, 0, 1))


def _pad(ink: np.ndarray, size: int = 28) -> np.ndarray:
    out = np.zeros((max(size, ink.shape[0] + 4), max(size, ink.shape[1] + 4)), np.float32)
    top, left = (out.shape[0] - ink.shape[0]) // 2, (out.shape[1] - ink.shape[1]) // 2
    out[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return out


def _scribble_ink(rng: np.random.Generator) -> np.ndarray:
    """Random strokes: a few tangled polylines across a digit-sized box."""
    size = 112
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(1, 4))):
        points = [tuple(float(v) for v in rng.uniform(8, size - 8, 2)) for _ in range(int(rng.integers(3, 8)))]
        draw.line(points, fill=255, width=int(rng.integers(5, 10)), joint="curve")
    ink = np.asarray(canvas.filter(ImageFilter.GaussianBlur(2)), np.float32) / 255.0
    return _pad(_resize(ink, 24, 24))


def _smudge_ink(rng: np.random.Generator) -> np.ndarray:
    """A blob or smear: a filled irregular shape or a wide, faint, blurred stroke."""
    size = 112
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    centre = rng.uniform(35, 77, 2)
    if rng.random() < 0.5:
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(6, 12))))
        radii = rng.uniform(12, 38, angles.size)
        polygon = [(float(centre[0] + r * np.cos(a)), float(centre[1] + r * np.sin(a))) for a, r in zip(angles, radii)]
        draw.polygon(polygon, fill=int(rng.integers(120, 256)))
        blur = rng.uniform(2, 8)
    else:
        end = centre + rng.uniform(-45, 45, 2)
        draw.line([tuple(centre), tuple(end)], fill=int(rng.integers(90, 200)), width=int(rng.integers(18, 36)))
        blur = rng.uniform(5, 12)
    ink = np.asarray(canvas.filter(ImageFilter.GaussianBlur(blur)), np.float32) / 255.0
    return _pad(_resize(ink, 24, 24))


def _noise_image(rng: np.random.Generator) -> Image.Image:
    width, height = _page_size(rng)
    kind = rng.random()
    if kind < 0.4:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    elif kind < 0.7:
        pixels = np.clip(rng.normal(128, 60, (height, width)), 0, 255).astype(np.uint8)
    else:  # salt and pepper on paper grey
        pixels = np.full((height, width), int(rng.integers(150, 230)), np.uint8)
        flips = rng.random((height, width))
        pixels[flips < 0.05] = 0
        pixels[flips > 0.95] = 255
    return Image.fromarray(pixels)


def render_non_digit(
    kind: str, rng: np.random.Generator, style: str | None = None, *, fonts: Sequence[str] | None = None
) -> Image.Image:
    """Render something that is not a digit, for measuring rejection.

    Parameters
    ----------
    kind : str
        One of `NON_DIGIT_KINDS`: ``"letter"`` and ``"symbol"`` (from `LETTERS`,
        `SYMBOLS`, in a random font at hand), ``"scribble"``, ``"blank"``,
        ``"noise"`` (a whole image of random pixels; ``style`` is ignored) or ``"smudge"``.
    rng : numpy.random.Generator
    style : str, optional
        One of `STYLES`; a random one when omitted.
    fonts : sequence of str, optional
        Font files for letters and symbols; default `font_paths()`.

    Returns
    -------
    PIL.Image.Image
    """
    if kind not in NON_DIGIT_KINDS:
        raise UsageError(f"unknown non-digit kind {kind!r}; choose one of {', '.join(NON_DIGIT_KINDS)}")
    if style is None:
        style = STYLES[int(rng.integers(len(STYLES)))]
    if kind == "noise":
        return _noise_image(rng)
    return _render_ink(non_digit_ink(kind, rng, fonts=fonts), style, rng)


def non_digit_ink(kind: str, rng: np.random.Generator, *, fonts: Sequence[str] | None = None) -> np.ndarray:
    """The ink of a non-digit at MNIST's scale (white on black, 0..1), before any style.

    Parameters
    ----------
    kind : str
        One of `NON_DIGIT_KINDS` except ``"noise"`` (a whole image, not ink);
        ``"blank"`` gives an empty 28x28 patch.
    rng : numpy.random.Generator
    fonts : sequence of str, optional
        Font files for letters and symbols; default `font_paths()`.

    Returns
    -------
    ndarray of float32, at least 28x28
    """
    if kind == "letter":
        return _glyph_ink(LETTERS[int(rng.integers(len(LETTERS)))], rng, fonts)
    if kind == "symbol":
        return _glyph_ink(SYMBOLS[int(rng.integers(len(SYMBOLS)))], rng, fonts)
    if kind == "scribble":
        return _scribble_ink(rng)
    if kind == "smudge":
        return _smudge_ink(rng)
    if kind == "blank":
        return np.zeros((28, 28), np.float32)
    raise UsageError(f"no ink for non-digit kind {kind!r}; choose one of {', '.join(k for k in NON_DIGIT_KINDS if k != 'noise')}")


def _rng_for(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent stream per (seed, style, ...): adding a style changes no other style's images."""
    entropy = [int(seed)] + [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(entropy)


def _check_styles(styles: Iterable[str]) -> tuple[str, ...]:
    styles = tuple(styles)
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise UsageError(f"unknown style(s) {', '.join(map(repr, unknown))}; choose from {', '.join(STYLES)}")
    return styles


def make_set(
    images: np.ndarray, labels: np.ndarray, *, styles: Iterable[str] = STYLES, per_style: int = 100, seed: int = 0
) -> Iterator[tuple[Image.Image, str, str]]:
    """Yield realistic single-digit images made from MNIST samples.

    Parameters
    ----------
    images : ndarray of shape (n, 28, 28) or (n, 784)
        MNIST samples (white ink on black).
    labels : ndarray of shape (n,)
    styles : iterable of str, default=STYLES
    per_style : int, default=100
        Images per style; each style draws its own random samples without replacement.
    seed : int, default=0

    Yields
    ------
    image : PIL.Image.Image
    label : str
        The digit, e.g. ``"7"`` (a string, to compare with ``Recognition.text``).
    style : str
    """
    images = np.asarray(images)
    for style, rng, picks in _style_picks(len(images), styles, per_style, seed):
        for index in picks:
            yield render_digit(images[index], style, rng), str(int(labels[index])), style


def _style_picks(
    n_images: int, styles: Iterable[str], per_style: int, seed: int
) -> Iterator[tuple[str, np.random.Generator, np.ndarray]]:
    """Per style of `make_set`: its name, its random stream (which then renders) and the samples it picks."""
    for style in _check_styles(styles):
        rng = _rng_for(seed, "digit", style)
        yield style, rng, rng.choice(n_images, size=min(per_style, n_images), replace=False)


def set_indices(n_images: int, *, styles: Iterable[str] = STYLES, per_style: int = 100, seed: int = 0) -> np.ndarray:
    """Which samples `make_set` renders, in the order it yields them.

    For tracing a benchmark image back to its MNIST sample, e.g. to tell the digits a
    model misreads however they are drawn from the ones a drawing style costs.

    Parameters
    ----------
    n_images : int
        How many samples ``make_set`` is given.
    styles, per_style, seed
        As for `make_set`.

    Returns
    -------
    ndarray of int, shape (len(styles) * min(per_style, n_images),)
    """
    picks = [p for _, _, p in _style_picks(n_images, styles, per_style, seed)]
    return np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)


def make_number_set(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    styles: Iterable[str] = STYLES,
    per_style: int = 100,
    lengths: tuple[int, int] = (2, 4),
    seed: int = 0,
) -> Iterator[tuple[Image.Image, str, str]]:
    """Yield realistic images of numbers of ``lengths[0]`` to ``lengths[1]`` MNIST digits.

    Parameters are those of `make_set`, plus ``lengths`` (inclusive bounds).
    The yielded label is the true number as a string.
    """
    images = np.asarray(images)
    low, high = lengths
    if not 1 <= low <= high:
        raise UsageError(f"lengths must be (low, high) with 1 <= low <= high, got {lengths}")
    for style in _check_styles(styles):
        rng = _rng_for(seed, "number", style)
        for _ in range(per_style):
            picks = rng.choice(len(images), size=int(rng.integers(low, high + 1)), replace=False)
            image, text = render_number([images[i] for i in picks], [int(labels[i]) for i in picks], style, rng)
            yield image, text, style


def make_non_digit_set(
    *,
    kinds: Iterable[str] = NON_DIGIT_KINDS,
    per_kind: int = 100,
    styles: Iterable[str] = STYLES,
    seed: int = 0,
    fonts: Sequence[str] | None = None,
) -> Iterator[tuple[Image.Image, str, str]]:
    """Yield non-digit images, ``per_kind`` of each kind, styles taken in turn.

    ``fonts`` restricts the fonts of letters and symbols (default `font_paths()`).

    Yields
    ------
    image : PIL.Image.Image
    kind : str
    style : str
        The style it was drawn in (``"noise"`` images have no style: ``"noise"``).
    """
    styles = _check_styles(styles)
    for kind in kinds:
        rng = _rng_for(seed, "non-digit", kind)
        for index in range(per_kind):
            style = styles[index % len(styles)]
            yield render_non_digit(kind, rng, style, fonts=fonts), kind, ("noise" if kind == "noise" else style)


def encode(image: Image.Image, image_format: str | None = None, quality: int = 95) -> tuple[bytes, str]:
    """Encode a rendered image as file bytes.

    Parameters
    ----------
    image : PIL.Image.Image
    image_format : {"PNG", "JPEG"}, optional
        Default: JPEG for images that came from a JPEG (photos), PNG otherwise
        (canvas transparency and clean scans stay lossless).
    quality : int, default=95
        JPEG quality; high, because the photo styles already carry their own
        JPEG noise and a second pass should add little.

    Returns
    -------
    data : bytes
    suffix : str
        ``".jpg"`` or ``".png"``.
    """
    fmt = (image_format or ("JPEG" if image.format == "JPEG" else "PNG")).upper()
    if fmt not in ("PNG", "JPEG", "JPG"):
        raise UsageError(f"image_format must be PNG or JPEG, got {image_format!r}")
    buffer = io.BytesIO()
    if fmt == "PNG":
        if image.mode == "RGBA":
            return browser_png(image), ".png"
        image.save(buffer, "PNG")
        return buffer.getvalue(), ".png"
    exif = image.getexif()
    rgb = image if image.mode in ("RGB", "L") else image.convert("RGB")
    rgb.save(buffer, "JPEG", quality=quality, **({"exif": exif} if len(exif) else {}))
    return buffer.getvalue(), ".jpg"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def browser_png(image: Image.Image) -> bytes:
    """An RGBA image encoded as Chromium encodes a canvas (``toBlob``, ``toDataURL``).

    Chromium filters every row with PNG's "Up" filter and deflates fast (measured on
    Chromium's canvas exports of 280x280 digits: every row Up, 5-6 KB, close to
    zlib level 1). Pillow chooses a filter per row (often Paeth), which decodes more
    slowly than the PNG a drawing pad really sends.
    """
    rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8)
    height, width = rgba.shape[:2]
    rows = rgba.reshape(height, width * 4)
    up = np.diff(rows, axis=0, prepend=np.zeros((1, width * 4), np.uint8))  # uint8 wraps modulo 256, as PNG's sums
    raw = np.hstack([np.full((height, 1), 2, np.uint8), up]).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, 1))
        + _png_chunk(b"IEND", b"")
    )


def save_set(
    out_dir: str | os.PathLike,
    items: Iterable[tuple[Image.Image, str, str]],
    *,
    image_format: str | None = None,
    quality: int = 95,
    prefix: str = "img",
) -> Path:
    """Write images to ``out_dir`` with a ``labels.csv`` manifest, each file atomically.

    Parameters
    ----------
    out_dir : path-like
    items : iterable of (image, label, style)
        As yielded by `make_set`, `make_number_set` or `make_non_digit_set`.
    image_format : {"PNG", "JPEG"}, optional
        Default: chosen per image by `encode`.
    quality : int, default=95
    prefix : str, default="img"
        File names are ``{prefix}{index:06d}{suffix}``.

    Returns
    -------
    pathlib.Path
        The manifest ``labels.csv`` (columns ``file``, ``label``, ``style``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (image, label, style) in enumerate(items):
        data, suffix = encode(image, image_format, quality)
        name = f"{prefix}{index:06d}{suffix}"
        atomic_write_bytes(out / name, data)
        rows.append((name, label, style))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("file", "label", "style"))
    writer.writerows(rows)
    return atomic_write_text(out / "labels.csv", text.getvalue())
