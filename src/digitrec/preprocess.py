"""From a person's image to the model's own input format.

The recognise direction of digitrec, one step per function::

    load_image   path, bytes, file, PIL image or array -> PIL image
                 (safe limits, EXIF orientation applied, Pillow's errors translated)
    ink_map      PIL image -> float32 HxW, 0..1, ink = 1, whatever the polarity,
                 transparency, bit depth or lighting
    segment      ink map -> one box per digit, left to right
    to_mnist     ink crop -> 784 float32, MNIST's own recipe
    to_optdigits ink crop -> 64 float64, the UCI optdigits recipe
    prepare      all of the above: boxes and model-format samples for one image

A model is only as good as the match between what it was trained on and what it is
shown, so `to_mnist` and `to_optdigits` follow the recipes that made those datasets.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import statistics
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Union

import numpy as np
from PIL import Image, ImageOps

try:  # libspng decodes a canvas's RGBA PNG in about half of Pillow's time
    import pyspng as _spng
except ImportError:  # pragma: no cover - an accelerator: Pillow does the same work
    _spng = None

from digitrec.bundle import INPUT_FORMATS
from digitrec.errors import (
    DecompressionBombError,
    DigitrecError,
    ImageTooLargeError,
    InvalidImageError,
    SegmentationError,
    TruncatedImageError,
    UnsupportedImageError,
    UsageError,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "FORMATTERS",
    "Box",
    "ImageSource",
    "Prepared",
    "load_image",
    "ink_map",
    "segment",
    "crop_ink",
    "check_digit_count",
    "to_mnist",
    "to_pair",
    "to_optdigits",
    "to_format",
    "prepare",
]

DEFAULT_MAX_BYTES = 20_000_000
DEFAULT_MAX_PIXELS = 40_000_000

#: A digit's box in image pixels: ``(x0, y0, x1, y1)``, right and bottom exclusive.
Box = tuple[int, int, int, int]
ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes], Image.Image, np.ndarray]

# The ink map is computed on about this many pixels (a 640x480 photo at half size,
# a 280x280 canvas as it is): six digits across a photo keep ~40 px each, and the
# cost of a 12 MP phone photo is bounded.
WORK_PIXELS = 50_000

# Ink must differ from the local background by at least this much (0..1 scale)
# to count: below it is paper texture, JPEG ringing or sensor noise.
MIN_CONTRAST = 0.12

# Digits on a page cover less than this share of it unless cropped tightly; more
# "ink" than that, in strokes only a pixel or two wide, is speckle noise.
MAX_INK_FRACTION = 0.45


# --------------------------------------------------------------------------- decoding


@contextlib.contextmanager
def _pillow_errors(name: str) -> Iterator[None]:
    """Translate Pillow's errors into digitrec's, in this one place."""
    try:
        yield
    except DigitrecError:
        raise
    except Image.DecompressionBombError as exc:
        raise DecompressionBombError(
            f"{name} declares more pixels than Pillow allows ({exc}); refusing to decode it. "
            "Send a smaller image."
        ) from exc
    except Image.DecompressionBombWarning as exc:  # only raised when warnings are errors
        raise DecompressionBombError(f"{name} declares suspiciously many pixels ({exc}); send a smaller image") from exc
    except Image.UnidentifiedImageError as exc:
        raise UnsupportedImageError(
            f"{name} is not an image Pillow can read; save it as PNG or JPEG"
        ) from exc
    except (OSError, SyntaxError, EOFError, IndexError, struct.error) as exc:
        text = str(exc)
        if "truncated" in text or "broken data stream" in text or isinstance(exc, EOFError):
            raise TruncatedImageError(
                f"{name} is truncated or damaged ({text}); save or copy the image again"
            ) from exc
        raise InvalidImageError(f"{name} cannot be decoded ({text}); save it as PNG or JPEG") from exc
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise InvalidImageError(f"{name} cannot be decoded ({exc}); save it as PNG or JPEG") from exc


def _read_bytes(source: Any, max_bytes: int) -> tuple[bytes, str]:
    """Return the encoded bytes of a path, bytes-like or binary file, and a name for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "the image"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        try:
            size = path.stat().st_size
            if path.is_dir():
                raise InvalidImageError(f"{name} is a folder, not an image file")
            if size > max_bytes:
                raise _too_large(name, size, max_bytes)
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise InvalidImageError(f"{name}: no such file; check the path") from exc
        except PermissionError as exc:
            raise InvalidImageError(f"{name}: permission denied; make the file readable") from exc
        except IsADirectoryError as exc:
            raise InvalidImageError(f"{name} is a folder, not an image file") from exc
    elif hasattr(source, "read"):
        name = str(getattr(source, "name", "the image"))
        data = source.read(max_bytes + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise UsageError(f"{name} was opened in text mode; open image files with 'rb'")
        data = bytes(data)
    else:
        raise UsageError(
            f"cannot read an image from a {type(source).__name__}; give a path, bytes, a file, "
            "a PIL image or a NumPy array"
        )
    if len(data) > max_bytes:
        raise _too_large(name, len(data), max_bytes)
    if not data:
        raise UnsupportedImageError(f"{name} is empty (0 bytes), not an image; save it as PNG or JPEG")
    return data, name


def _too_large(name: str, size: int, max_bytes: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit; send a smaller or "
        "more compressed image"
    )


def _check_pixels(name: str, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise DecompressionBombError(
            f"{name} declares {width}x{height} = {width * height / 1e6:.1f} million pixels, over the "
            f"{max_pixels / 1e6:.1f} million limit; refusing to decode it. Send a smaller image."
        )
    if width < 1 or height < 1:
        raise InvalidImageError(f"{name} has no pixels ({width}x{height})")


def _array_to_image(array: np.ndarray) -> Image.Image:
    """A NumPy array (HxW grey, HxWx3 RGB, HxWx4 RGBA; uint8, uint16, bool or float 0..1)."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise UsageError(
            f"an image array must be HxW, HxWx3 or HxWx4, not shape {a.shape}"
        )
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise InvalidImageError("the image array holds NaN or infinite values")
        scale = 255.0 if a.max(initial=0.0) <= 1.0 else 1.0
        a = np.clip(a * scale, 0, 255).astype(np.uint8)
    elif a.dtype == np.uint16 and a.ndim == 2:
        return Image.fromarray(a)  # mode I;16: ink_map scales by the 16-bit range
    elif a.dtype.kind in "iu":
        if a.max(initial=0) > 255 or a.min(initial=0) < 0:
            a = (a.astype(np.float64) * (255.0 / max(int(a.max()), 1))).clip(0, 255)
        a = a.astype(np.uint8)
    else:
        raise UsageError(f"an image array must hold numbers, not {a.dtype}")
    return Image.fromarray(np.ascontiguousarray(a))


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_RGBA = 6  # the colour type of the PNGs decoded by libspng here


def _fast_png(data: bytes, name: str, max_pixels: int) -> np.ndarray | None:
    """The pixels of an 8-bit RGBA PNG decoded by libspng, or None.

    A drawing pad sends exactly such a PNG. Its size and type are read from the
    header here: opening it with Pillow first cost as much as a fifth of the whole
    answer. Everything else, a PNG libspng refuses (Pillow then words the error) and
    a PNG with an eXIf chunk (Pillow applies its orientation) is left to Pillow.
    """
    if _spng is None or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 33:
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if colour != _PNG_RGBA or depth != 8 or interlace or b"eXIf" in data:
        return None
    _check_pixels(name, (width, height), max_pixels)
    try:
        pixels = _spng.load(data)
    except Exception:  # noqa: BLE001 - any refusal: Pillow decodes it or explains why not
        return None
    if pixels.dtype != np.uint8 or pixels.shape != (height, width, 4):
        return None
    return pixels


def _decode(
    source: ImageSource, max_bytes: int, max_pixels: int, draft: bool = False, fast: bool = False
) -> tuple[Image.Image | np.ndarray, float]:
    """Decode with the limits; with ``draft``, let JPEG decode at reduced size.

    Returns the image (EXIF orientation applied) and the factor from its pixels to the
    original's (2.0 when JPEG draft mode decoded at half size). With ``fast``, an 8-bit
    RGBA PNG comes back as its HxWx4 uint8 pixels (see `_fast_png`).
    """
    if isinstance(source, Image.Image):
        _check_pixels("the image", source.size, max_pixels)
        with _pillow_errors("the image"):
            source.load()  # an image opened lazily fails here, not half way through reading it
            return ImageOps.exif_transpose(source), 1.0
    if isinstance(source, np.ndarray):
        image = _array_to_image(source)
        _check_pixels("the image array", image.size, max_pixels)
        return image, 1.0
    data, name = _read_bytes(source, max_bytes)
    if fast:
        pixels = _fast_png(data, name, max_pixels)
        if pixels is not None:
            return pixels, 1.0
    with _pillow_errors(name):
        image = Image.open(io.BytesIO(data))
        original = image.size
        _check_pixels(name, original, max_pixels)
        scale = _work_factor(original)
        if draft and image.format == "JPEG" and scale >= 2:
            # DCT-domain downscaling by a power of two no larger than the working
            # factor, and grey only: a fraction of the decoding work.
            image.draft("L" if image.mode in ("RGB", "L") else None, (original[0] // scale, original[1] // scale))
        image.load()
        factor = original[0] / image.size[0]
        image = ImageOps.exif_transpose(image)
    return image, factor


def load_image(
    source: ImageSource,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode an image safely, with its EXIF orientation applied.

    Parameters
    ----------
    source : path, bytes, binary file, PIL.Image.Image or ndarray
        PNG, JPEG, GIF (first frame), BMP, TIFF or WebP; an array is HxW, HxWx3 or
        HxWx4 (uint8, uint16, bool, or float in 0..1).
    max_bytes : int, default=20_000_000
        Encoded inputs larger than this are refused before decoding.
    max_pixels : int, default=40_000_000
        Images whose header declares more pixels are refused before decoding.

    Returns
    -------
    PIL.Image.Image
        The decoded image, in its own mode (L, RGB, RGBA, P, I;16, CMYK, ...).

    Raises
    ------
    ImageTooLargeError, DecompressionBombError, UnsupportedImageError, TruncatedImageError, InvalidImageError
    """
    image, _ = _decode(source, max_bytes, max_pixels)
    assert isinstance(image, Image.Image)  # without ``fast``, always an image
    return image


# --------------------------------------------------------------------------- ink map


def _luminance_and_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey levels in 0..1 (float32) and the alpha channel in 0..1, if it carries anything."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "L")
        mode = image.mode
    elif mode == "PA":
        image = image.convert("RGBA")
        mode = "RGBA"
    alpha = None
    if mode in ("RGBA", "LA", "RGBa", "La"):
        a = np.asarray(image.getchannel("A"))
        if a.min() < 250:  # a fully opaque alpha channel says nothing
            alpha = a.astype(np.float32) * np.float32(1 / 255)
        image = image.convert("L")  # Pillow's luma ignores the alpha band
        mode = "L"
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(image).astype(np.float32)
        top = 65535.0 if (mode.startswith("I;16") or a.max(initial=0) > 255) else 255.0
        if mode == "F" and a.max(initial=0) <= 1.0:
            top = 1.0
        return np.clip(a / np.float32(top), 0, 1), alpha
    if mode != "L":
        image = image.convert("L")  # RGB, CMYK, YCbCr, LAB, 1: Pillow's ITU-R 601 luma
    return np.asarray(image, dtype=np.float32) * np.float32(1 / 255), alpha


def _block_max(a: np.ndarray, k: int) -> np.ndarray:
    """The maximum of each k x k cell (partial cells at the edges included)."""
    h, w = a.shape
    hh, ww = -(-h // k), -(-w // k)
    if (hh * k, ww * k) != (h, w):
        a = np.pad(a, ((0, hh * k - h), (0, ww * k - w)), mode="edge")
    # Reduce along the contiguous axis first: much faster than one reduce over axes (1, 3).
    return a.reshape(hh * k, ww, k).max(axis=2).reshape(hh, k, ww).max(axis=1)


def _background(dark: np.ndarray, ink_depth: float) -> np.ndarray:
    """The paper's brightness at every pixel (a 0-d array if even), as if the (darker) ink were not there.

    Ink is dark here (the caller inverts light-on-dark images). The image is cut into
    cells of 1/16 of its shorter side, and each cell's brightest value is taken. A cell
    much darker than the brightest cells around it is covered by a stroke; its paper
    is interpolated from the uncovered cells nearby (a normalised convolution at
    growing scales), so even a thick marker stroke stays solid, while a lighting
    gradient, a vignette or a soft shadow survive and are divided out.

    Parameters
    ----------
    dark : ndarray
        Grey levels with dark ink.
    ink_depth : float
        How much darker than the paper the ink roughly is; a cell darker than its
        neighbourhood by half of this counts as covered.
    """
    from scipy import ndimage

    h, w = dark.shape
    k = max(2, min(h, w) // 16)
    cells = _block_max(dark, k).astype(np.float64)
    brightest = ndimage.maximum_filter(cells, size=5, mode="nearest")
    paper = cells >= brightest - 0.5 * ink_depth
    values = np.where(paper, cells, 0.0)
    if np.ptp(cells[paper]) < 0.03:  # evenly lit: one number will do
        return np.asarray(np.median(cells[paper]), dtype=np.float32)
    estimate = np.full(cells.shape, np.nan)
    for size in (3, 7, 15, 31):
        num = ndimage.uniform_filter(values, size, mode="nearest")
        den = ndimage.uniform_filter(paper.astype(np.float64), size, mode="nearest")
        fill = np.isnan(estimate) & (den > 1e-6)
        estimate[fill] = num[fill] / den[fill]
        if not np.isnan(estimate).any():
            break
    estimate[np.isnan(estimate)] = float(np.median(cells[paper]))
    # Cell centres sit at k/2; resizing the grid to (cells * k) pixels lines them up.
    big = _as_image(estimate, "F").resize((cells.shape[1] * k, cells.shape[0] * k), Image.Resampling.BILINEAR)
    return _as_array(big)[:h, :w]


def ink_map(image: Image.Image) -> np.ndarray:
    """Where the ink is: float32 HxW in 0..1, ink = 1, background = 0.

    Handles every mode Pillow decodes to (grey, RGB, palette, 16-bit, CMYK, with or
    without alpha). A transparent canvas's strokes are read from the alpha channel
    whatever colour its transparent pixels hold; the polarity (dark ink on paper or
    light chalk on a board) is detected; uneven lighting is divided out; JPEG noise and
    specks smaller than a stroke are removed.

    Parameters
    ----------
    image : PIL.Image.Image

    Returns
    -------
    ndarray of shape (height, width), float32
    """
    return _ink_and_labels(image)[0]


Ink = tuple[np.ndarray, np.ndarray, np.ndarray]  # ink map, stroke labels, each label's ink mass


def _alpha_pixels(image: Image.Image) -> np.ndarray | None:
    """The pixels (HxWxC uint8, alpha last) of an image with an alpha channel, or None."""
    if image.mode == "PA" or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
    if image.mode not in ("RGBA", "LA"):
        return None
    return np.asarray(image)


_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _stroke_grey(pixels: np.ndarray) -> float | None:
    """The grey level (0..1) of a canvas's strokes, or None if this is no canvas.

    A canvas is mostly transparent, with strokes of one colour.
    """
    # Few array operations, each on few pixels: this runs on every canvas the drawing
    # pad sends as the user draws, and there each numpy call costs more than its work.
    step = max(1, round(math.sqrt(pixels.shape[0] * pixels.shape[1] / 3000)))
    sample = pixels[::step, ::step]
    alpha = sample[..., -1]
    if alpha.min() >= 250:
        return None  # opaque: the colours carry the picture
    colours = sample[alpha > 127][:, :-1]
    if len(colours) == 0:  # thin strokes can fall between the lattice's points
        colours = pixels[pixels[..., -1] > 127][:, :-1]
    if len(colours) == 0:
        return 0.0  # nothing opaque: faint or no strokes, most likely dark ones
    grey = colours.astype(np.float32) @ _LUMA if colours.shape[1] == 3 else colours[:, 0].astype(np.float32)
    grey *= np.float32(1 / 255)
    if float(grey.max() - grey.min()) > 0.1:
        return None  # several colours: composited pixel by pixel instead
    return float(grey.sum() / len(grey))  # float32 as `mean` gives it, without its Python steps


def _reduced_shape(pixels: np.ndarray, factor: int) -> tuple[int, int]:
    """The (height, width) of ``pixels`` reduced by ``factor``, as Pillow's ``reduce`` gives it (partial blocks count)."""
    return -(-pixels.shape[0] // factor), -(-pixels.shape[1] // factor)


def _canvas_ink(pixels: np.ndarray, grey: float, factor: int = 1) -> tuple[Ink, tuple[int, int]] | None:
    """The ink of a transparent canvas from its alpha channel alone, reduced by ``factor``.

    A canvas's strokes are one colour over transparency, so composited onto the paper
    they stand out from, each pixel's contrast is its alpha times the stroke's: the
    steps of `_ink_from_grey` then work on the 256 alpha levels (its quantiles from a
    histogram, its ramp a lookup table) instead of on every pixel. ``grey`` is the
    strokes' grey level (`_stroke_grey`, which tells a canvas from other images).
    Returns the ink of the box around the strokes and that box's top left corner in
    the reduced image (outside it there is no ink; the pad's drawing covers a fraction
    of its canvas, and every later step then works on fewer pixels), or None if the
    alpha channel turns out fully opaque: the general path then.
    """
    height, width, bands = pixels.shape
    shape = _reduced_shape(pixels, factor)
    # The box of the pixels that are not fully transparent, found by Pillow on the
    # pixels in place (decoded pixels are contiguous; a box of them is copied).
    mode = "RGBA" if bands == 4 else "LA"
    pixels = np.ascontiguousarray(pixels)
    bbox = Image.frombuffer(mode, (width, height), pixels, "raw", mode, 0, 1).getbbox(alpha_only=True)
    if bbox is None:
        return _no_ink(shape), (0, 0)
    # Only the box around the strokes is worked on (a drawing covers a fraction of its
    # canvas): outside it every pixel is transparent, which the histogram counts by
    # number, and the box is aligned to the reduction's blocks so that the pixels
    # inside it come out exactly as a reduction of the whole canvas gives them.
    x0, y0 = bbox[0] // factor, bbox[1] // factor
    x1, y1 = -(-bbox[2] // factor), -(-bbox[3] // factor)
    box = (x0 * factor, y0 * factor, min(width, x1 * factor), min(height, y1 * factor))
    # A box filter, as for every other image.
    alpha = pixels[box[1] : box[3], box[0] : box[2], -1]
    alpha = _as_array(_as_image(alpha, "L").reduce(factor)) if factor > 1 else np.ascontiguousarray(alpha)
    n = shape[0] * shape[1]
    counts = np.bincount(alpha.ravel(), minlength=256)
    counts[0] += n - alpha.size
    if counts[:250].sum() == 0:
        return None  # fully opaque: the alpha channel says nothing
    # Composited onto white (dark strokes) or black (light strokes): contrast = alpha * strength.
    strength = 1.0 - grey if grey < 0.5 else grey
    contrast = np.arange(256, dtype=np.float32) * np.float32(strength / 255)
    below = np.cumsum(counts)
    p5, p20, p25 = contrast[np.searchsorted(below, np.array([0.05, 0.20, 0.25]) * n)]
    floor = max(MIN_CONTRAST, float(p20) + 5 * float(p25 - p5) / 0.97)
    top = max(8, n // 2000)
    at_least = n - below + counts  # pixels at or above each level
    strong = float(contrast[np.flatnonzero(at_least >= min(top, n))[-1]])
    ramp = _ink_ramp(strong, floor)
    if ramp is None:
        return _no_ink(shape), (0, 0)
    low, high = ramp
    lut = np.clip((contrast - np.float32(low)) * np.float32(1 / (high - low)), 0, 1)
    ink = np.take(lut, alpha)
    if counts[lut > 0].sum() > MAX_INK_FRACTION * n and _stroke_width(ink > 0.5) < 3.0:
        return _no_ink(shape), (0, 0)
    return _strokes(ink, size=n), (x0, y0)


def _canvas_map(pixels: np.ndarray, grey: float, factor: int = 1) -> Ink | None:
    """`_canvas_ink` as a map of the whole (reduced) canvas."""
    found = _canvas_ink(pixels, grey, factor)
    if found is None:
        return None
    (ink, labels, mass), (x0, y0) = found
    shape = _reduced_shape(pixels, factor)
    full_ink, full_labels = np.zeros(shape, np.float32), np.zeros(shape, labels.dtype)
    full_ink[y0 : y0 + ink.shape[0], x0 : x0 + ink.shape[1]] = ink
    full_labels[y0 : y0 + ink.shape[0], x0 : x0 + ink.shape[1]] = labels
    return full_ink, full_labels, mass


def _ink_and_labels(image: Image.Image) -> Ink:
    """The ink map, its 8-connected strokes' labels (specks removed) and each label's ink mass."""
    pixels = _alpha_pixels(image)
    grey = _stroke_grey(pixels) if pixels is not None else None
    if grey is not None:
        found = _canvas_map(pixels, grey)
        if found is not None:
            return found
    found = _composited_ink(image)
    return _without_frames(*found, _components(found[1], found[2]))[0]


def _composited_ink(image: Image.Image) -> Ink:
    """`_ink_and_labels` for every image but a canvas: alpha composited pixel by pixel."""
    grey, alpha = _luminance_and_alpha(image)
    if alpha is not None:
        # Strokes of several colours: composite onto the colour they stand out from;
        # the RGB of fully transparent pixels is meaningless (often black).
        opaque = alpha > 0.5
        stroke = float(grey[opaque].mean()) if opaque.any() else 0.0
        paper = 1.0 if stroke < 0.5 else 0.0
        grey = grey * alpha + np.float32(paper) * (1 - alpha)
        # Nothing lights a canvas unevenly: its paper is the colour composited onto.
        return _ink_from_grey(grey, even_paper=paper)
    return _ink_from_grey(grey)


_EIGHT = np.ones((3, 3), dtype=bool)


def _no_ink(shape: tuple[int, ...]) -> Ink:
    return np.zeros(shape, np.float32), np.zeros(shape, np.int32), np.zeros(1)


def _ink_from_grey(grey: np.ndarray, even_paper: float | None = None) -> Ink:
    # Statistics come from a lattice of ~3000 pixels: plenty for percentiles, and cheap.
    step = max(1, round(np.sqrt(grey.size / 3000)))
    sample = grey[::step, ::step]
    if even_paper is not None:
        dark = grey if even_paper > 0.5 else 1 - grey
        background = np.asarray(1.0, dtype=np.float32)
    else:
        lo, median, hi = np.percentile(sample, (0.5, 50, 99.5))
        # Ink is the far tail on one side of the paper's (median) brightness; where
        # neither tail reaches out (a blank page, a few specks), assume dark ink.
        if median - lo >= hi - median or hi - median < MIN_CONTRAST:
            dark, depth, paper_level = grey, median - lo, median
        else:
            dark, depth, paper_level = 1 - grey, hi - median, 1 - median
        background = _background(dark, float(depth))
    # Relative contrast: under a shadow the paper and the ink darken by the same factor.
    if background.ndim == 0:
        contrast = (np.float32(background) - dark) * np.float32(1 / max(float(background), 0.15))
    else:
        contrast = (background - dark) / np.maximum(background, np.float32(0.15))
    sampled = contrast[::step, ::step]
    # Paper texture, JPEG ringing and sensor noise: the spread of the contrast on the
    # paper, read from the low quantiles so that a tight crop, mostly ink, still works
    # (for Gaussian noise, p25 - p5 is 0.97 sigma).
    p5, p20, p25 = np.percentile(sampled, (5, 20, 25))
    noise = float(p25 - p5) / 0.97
    floor = max(MIN_CONTRAST, float(p20) + 5 * noise)
    # The strokes' contrast: from the whole image, not the lattice, which can miss a
    # small digit on a big page; a handful of pixels (a speck) cannot set it alone.
    flat = contrast.ravel()
    top = max(8, flat.size // 2000)
    strong = float(np.partition(flat, flat.size - top)[flat.size - top]) if flat.size > top else float(flat.max())
    ramp = _ink_ramp(strong, floor)
    if ramp is None:
        return _no_ink(grey.shape)
    low, high = ramp
    # Printed lines are often fainter than the ramp's start: looked for above the floor.
    faint = contrast >= np.float32(floor)
    contrast -= np.float32(low)
    contrast *= np.float32(1 / (high - low))
    ink = np.clip(contrast, 0, 1, out=contrast)
    if float((ink[::step, ::step] > 0).mean()) > MAX_INK_FRACTION and _stroke_width(ink > 0.5) < 3.0:
        return _no_ink(grey.shape)  # speckle noise, not strokes on a page
    _drop_ruled_lines(ink, faint)
    if background.ndim:
        _fill_solid(ink, dark, float(paper_level - depth / 2))
    return _strokes(ink)


# Ruled and squared paper. A page's printed lines cross the whole image at one slant
# (a photo is rarely square to the page: up to RULED_SKEW degrees either way, tried in
# whole then quarter degrees), each line reaching RULED_COVER of the image's columns and thin (at
# most RULED_THIN of the image, or 4 px); at least two of them, spaced at least three
# times their width, or one alone that runs from edge to edge of an image at least
# RULED_ALONE px wide: no digit's stroke crosses a photo of it, and a hand-drawn one
# across a tight crop is not straight to a pixel over that length.
RULED_COVER, RULED_THIN, RULED_SKEW, RULED_ALONE = 0.75, 0.03, 5, 150


Lines = tuple[float, list[tuple[int, int]]]  # a slope (rows per column), each line's first and last row at column 0


def _ruled_rows(on: np.ndarray, alone: bool = True, slope: float | None = None) -> Lines | None:
    """The horizontal lines of a ruled page in a binary map (every pixel darker than the paper).

    Returns the lines' slope and rows, or None if the map shows no ruled page. With
    ``alone`` false, one line by itself is no page; ``slope`` given, lines at that
    slope only are looked for.
    """
    h, w = on.shape
    if np.count_nonzero(on.any(axis=0)) < RULED_COVER * w:
        return None  # cheap: no line crosses the image
    ys, xs = np.nonzero(on)
    step = max(1, ys.size // 4000)  # the slant is plain from a few thousand pixels
    few_y, few_x = ys[::step], xs[::step].astype(np.float32)

    def peak(degrees: float) -> int:
        shift = np.round(few_x * np.float32(np.tan(np.radians(degrees)))).astype(np.intp)
        counts = np.bincount(few_y - shift + w)
        # Three rows together: a line between two of the angles tried spreads over two.
        return int((counts[:-2] + counts[1:-1] + counts[2:]).max()) if counts.size > 2 else int(counts.sum())

    if slope is None:
        # Whole degrees, then quarter degrees about the best: over a few hundred pixels a
        # line half a degree off drifts out of the band it is cleared in.
        angle = max(range(-RULED_SKEW, RULED_SKEW + 1), key=peak)
        if peak(angle) * step < 0.5 * w:
            return None  # no row holds half a line's pixels: the usual page of digits
        slope = float(np.tan(np.radians(max((angle + d for d in (-0.5, -0.25, 0.0, 0.25, 0.5)), key=peak))))
    offset = int(np.ceil(abs(slope) * w))
    rows = ys - np.round(xs * slope).astype(np.intp) + offset
    # How many columns each row (with its two neighbours) reaches: a line reaches all
    # those it crosses inside the image (a slanted line near an edge leaves it early).
    n_rows = h + 2 * offset + 1
    occupied = np.zeros((n_rows + 2, w), bool)
    occupied[rows + 1, xs] = True
    reach = np.count_nonzero(occupied[:-2] | occupied[1:-1] | occupied[2:], axis=1)
    by_itself = np.count_nonzero(occupied[1:-1], axis=1)  # each row on its own
    starts = offset - np.round(np.arange(w) * slope).astype(np.intp)
    crossed = np.cumsum(np.bincount(starts, minlength=n_rows + 1)[:n_rows] - np.bincount(
        starts + h, minlength=n_rows + h + 1)[:n_rows])
    line = (reach >= RULED_COVER * crossed) & (crossed >= 0.1 * w)
    edges = np.flatnonzero(np.diff(np.concatenate(([False], line, [False])).astype(np.int8)))
    lines = []
    for first, end in zip(edges[::2], edges[1::2]):  # each run of line rows
        # The line itself: the rows of the run that hold a good part of it alone (the
        # run also has the rows beside it, which reached it through their neighbours).
        own = np.flatnonzero(by_itself[first:end] >= 0.25 * crossed[first:end])
        if own.size:
            lines.append((int(first + own[0]), int(first + own[-1])))
    thickness = max(4.0, RULED_THIN * h)
    lines = [(a, b) for a, b in lines if b - a + 1 <= thickness]
    if not lines:
        return None
    if len(lines) == 1:
        first, last = lines[0]
        band = occupied[first : last + 3]  # the line's rows and the band's neighbours
        if not alone or w < RULED_ALONE or not (band[:, :3].any() and band[:, -3:].any()):
            return None
    else:
        widths = np.array([b - a + 1 for a, b in lines])
        centres = np.array([(a + b) / 2 for a, b in lines])
        if np.diff(centres).min() < 3 * float(np.median(widths)):
            return None  # lines closer than their own width: a texture, not a ruled page
    return slope, [(a - offset, b - offset) for a, b in lines]


def _drop_ruled_lines(ink: np.ndarray, seen: np.ndarray | None = None) -> bool:
    """Clear the printed lines of ruled or squared paper from an ink map (in place).

    ``seen`` (default: the ink) is where lines are looked for: every pixel darker than
    the paper's noise, since faint lines are only partly ink. Returns whether any line
    was found (see `_clear_lines` for what is cleared).
    """
    seen = ink > 0 if seen is None else seen
    found = [(transposed, ruled) for transposed in (False, True)
             if (ruled := _ruled_rows(seen.T if transposed else seen)) is not None]
    if not found:
        return False
    bands = _line_bands(ink.shape, found)  # where the lines are: worked out once, used twice
    if len(found) == 1 and not found[0][0]:
        # Before the rows go (a wall's ends meet them), and knowing them for lines.
        _drop_walls(ink, seen, found[0][1], bands[1])
    _clear_lines(ink, found, bands=bands)
    return True


def _drop_walls(ink: np.ndarray, seen: np.ndarray, rows: Lines, rows_mask: np.ndarray) -> None:
    """Clear the walls of a row of printed boxes (a form's field for a number, one box
    per digit, or one box around it): between two neighbouring lines of ``rows``
    (``rows_mask``: their pixels), lines that run from one to the other, two or more of
    them (a box's two sides at least)."""
    slope, lines = rows
    h, w = ink.shape
    shift = np.round(np.arange(w) * slope).astype(np.intp)
    for (_, above), (below, _) in zip(lines, lines[1:]):
        if below - above + 1 < FRAME_MIN:
            continue
        # The strip between the two lines and 3 rows into each, straightened: row k of
        # column x is image row above - 3 + k + shift[x].
        y = above - 3 + np.arange(below - above + 7)[:, None] + shift[None, :]
        inside = (y >= 0) & (y < h)
        y = np.clip(y, 0, h - 1)
        x = np.broadcast_to(np.arange(w), y.shape)
        walls = _ruled_rows((seen[y, x] & inside).T, slope=-slope)  # square to the lines
        if walls is None:
            continue
        strip = ink[y, x] * inside
        _clear_lines(strip, [(True, walls)], also=rows_mask[y, x])
        ink[y[inside], x[inside]] = strip[inside]


def _line_bands(shape: tuple[int, ...], found: list[tuple[bool, Lines]]) -> tuple[list, np.ndarray]:
    """Each line's pixels: (transposed, its rows at each column, which are inside the map,
    the columns) per line, and all of them as one mask of the map."""
    bands = []
    lines_mask = np.zeros(shape, bool)
    for transposed, (slope, lines) in found:
        mask = lines_mask.T if transposed else lines_mask
        h, w = mask.shape
        x = np.arange(w)
        shift = np.round(x * slope).astype(np.intp)
        for first, last in lines:
            first, last = first - 1, last + 1  # and its faint edges
            rows = (first + shift)[None, :] + np.arange(last - first + 1)[:, None]
            inside = (rows >= 0) & (rows < h)
            columns = np.broadcast_to(x, rows.shape)
            mask[rows[inside], columns[inside]] = True
            bands.append((transposed, rows, inside, columns))
    return bands, lines_mask


def _clear_lines(
    ink: np.ndarray,
    found: list[tuple[bool, Lines]],
    also: np.ndarray | None = None,
    bands: tuple[list, np.ndarray] | None = None,
) -> None:
    """Clear lines from an ink map (in place): those along its rows, and (``transposed``)
    those along its columns. ``bands``: `_line_bands` of them, if already worked out.

    A line's pixels are cleared except where a stroke meets it (ink that is no line,
    nor one of ``also``'s pixels, just above or just below it, within two columns: a
    slanted stroke too): a digit written across a line keeps its stroke, and where two
    lines cross nothing is left.
    """
    if not found:
        return
    bands, lines_mask = _line_bands(ink.shape, found) if bands is None else bands
    if also is not None:
        lines_mask = lines_mask | also  # a new mask: the caller's bands stay as they are
    stroke = (ink > 0) & ~lines_mask
    for transposed, rows, inside, columns in bands:
        view, strokes = (ink.T, stroke.T) if transposed else (ink, stroke)
        h, w = view.shape
        sides = []
        for ends in ((rows[0] - 1, rows[0] - 2), (rows[-1] + 1, rows[-1] + 2)):
            side = np.zeros(w + 4, bool)
            for y in ends:
                ok = (y >= 0) & (y < h)
                side[2:-2][ok] |= strokes[y[ok], columns[0][ok]]
            # ink within two columns either way
            sides.append(side[:-4] | side[1:-3] | side[2:-2] | side[3:-1] | side[4:])
        clear = inside & ~(sides[0] | sides[1])[None, :]
        view[rows[clear], columns[clear]] = 0


# A printed box around the digits (a form's field, or a row of boxes, one per digit):
# a blob of ink whose four sides each run along FRAME_SIDE of its bounding box, and in
# which `_ruled_rows` finds two lines or more each way (the box's sides, and the walls
# between boxes). No digit has two straight strokes across its whole width and two
# across its whole height.
FRAME_SIDE, FRAME_MIN = 0.75, 12


def _drop_frames(ink: np.ndarray, labels: np.ndarray, groups: list[_Group]) -> bool:
    """Clear printed boxes around digits from an ink map (in place; ``groups`` are its
    strokes' blobs, from `_components`). Returns whether any was found: the ink's
    strokes must then be labelled again."""
    cleared = False
    for g in groups:
        if min(g.height, g.width) < FRAME_MIN:
            continue
        own = g.owns(labels[g.y0 : g.y1, g.x0 : g.x1])
        h, w = own.shape
        # Cheap first: ink along all four sides of its box (a "0" is round there, a "7"
        # has no bottom); most blobs fail on the first side tested.
        t, u = max(3, round(0.1 * h)), max(3, round(0.1 * w))
        if not (
            own[:t].any(axis=0).mean() >= FRAME_SIDE and own[-t:].any(axis=0).mean() >= FRAME_SIDE
            and own[:, :u].any(axis=1).mean() >= FRAME_SIDE and own[:, -u:].any(axis=1).mean() >= FRAME_SIDE
        ):
            continue
        rows, columns = _ruled_rows(own, alone=False), _ruled_rows(own.T, alone=False)
        if rows is None or columns is None:
            continue
        _clear_lines(ink[g.y0 : g.y1, g.x0 : g.x1], [(False, rows), (True, columns)])
        cleared = True
    return cleared


def _without_frames(
    ink: np.ndarray, labels: np.ndarray, mass: np.ndarray, groups: list[_Group]
) -> tuple[Ink, list[_Group]]:
    """The ink (map, labels, masses) and its blobs, printed boxes taken out (`_drop_frames`)."""
    if not _drop_frames(ink, labels, groups):
        return (ink, labels, mass), groups
    found = _strokes(ink)  # a box's digits are strokes of their own again
    return found, _components(found[1], found[2])


# A hole in the ink whose relative contrast with the ink around it is under this is
# no paper: it is the inside of a solid blob.
SOLID_HOLE = 0.3


def _fill_solid(ink: np.ndarray, dark: np.ndarray, darker: float) -> None:
    """Give back their ink to the insides of solid blobs (in place).

    `_background` follows any dark patch wider than a few of its cells, as it must
    for a shadow; a solid blob (a smudge, a thumb) that wide comes out as a ring,
    which reads as a confident "0". A hole of the ink map as dark as the ink around it
    is such an inside: filled, the blob looks like what the reject output was trained
    on. The hole of a real "0" is paper, far brighter than its ink, shadow or not
    (the comparison is relative, as the contrast is). ``darker``: a level half way
    from the paper to the ink; where no pixel left out of the ink is darker, there is
    nothing to fill (the usual case, and a cheap test).
    """
    from scipy import ndimage

    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size < 3 or cols.size < 3:
        return
    # A hole lies inside the box of the ink, and paper on that box's edge is outside.
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    ink, dark = ink[box], dark[box]  # views: filling them fills the caller's map
    if not np.any((dark < darker) & (ink <= 0)):
        return
    paper, n = ndimage.label(ink <= 0)  # 4-connected: ink meeting at a corner still encloses
    if n <= 1:
        return
    h, w = ink.shape
    outside = np.unique(np.concatenate((paper[0], paper[-1], paper[:, 0], paper[:, -1])))
    for index, sl in enumerate(ndimage.find_objects(paper), start=1):
        if sl is None or index in outside:
            continue
        # The hole, and the ink within a few pixels of it (its ring), in a box around it.
        y0, y1 = max(0, sl[0].start - 3), min(h, sl[0].stop + 3)
        x0, x1 = max(0, sl[1].start - 3), min(w, sl[1].stop + 3)
        hole = paper[y0:y1, x0:x1] == index
        near = ndimage.binary_dilation(hole, _EIGHT, iterations=3)
        ring = near & (ink[y0:y1, x0:x1] >= 0.5)
        window = dark[y0:y1, x0:x1]
        if not ring.any():
            continue
        hole_dark, ring_dark = float(np.median(window[hole])), float(np.median(window[ring]))
        if hole_dark - ring_dark < SOLID_HOLE * max(hole_dark, 0.05):
            # With the faint rim between hole and ring: left, it would hollow the blob again.
            patch = ink[y0:y1, x0:x1]
            patch[hole | (near & (patch > 0))] = 1.0


def _ink_ramp(strong: float, floor: float) -> tuple[float, float] | None:
    """The contrast where ink starts and where it is full, or None if nothing stands out."""
    if strong < 1.5 * floor:
        return None
    # Ink below ~a third of the strongest stroke's contrast is paper and noise; the
    # ramp up to ~3/4 keeps MNIST-like anti-aliased edges instead of a hard bitmap.
    low = max(floor, strong * 0.3)
    return low, max(low + 0.05, strong * 0.75)


def _strokes(ink: np.ndarray, size: int | None = None) -> Ink:
    """Label an ink map's 8-connected strokes and clear the specks (in place).

    ``size`` is the whole image's pixel count when ``ink`` is a box of it (default: its own).
    """
    from scipy import ndimage

    labels, n = ndimage.label(ink > 0, structure=_EIGHT)
    if n == 0:
        return _no_ink(ink.shape)
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=n + 1)
    mass[0] = 0
    # A speck is tiny next to the largest stroke and tiny in the image.
    small = mass < max(3.0, 0.015 * mass.max(), 2e-5 * (ink.size if size is None else size))
    small[0] = False
    if small.any():
        drop = small[labels]
        ink[drop] = 0
        labels[drop] = 0
        mass[small] = 0
    return ink, labels, mass


# --------------------------------------------------------------------------- segmentation


@dataclass
class _Group:
    x0: int
    y0: int
    x1: int
    y1: int
    labels: list[int]

    @property
    def key(self) -> tuple[int, int, int, int]:
        """Its box: candidate digits with the same box are the same digit."""
        return (self.x0, self.y0, self.x1, self.y1)

    @property
    def blob(self) -> tuple[int, ...]:
        """Its stroke labels: pieces cut from one blob keep them; distinct blobs share none."""
        return tuple(sorted(set(self.labels)))

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def owns(self, labels: np.ndarray) -> np.ndarray:
        """Which pixels of ``labels`` (this group's box of the label map) are this group's strokes."""
        if len(self.labels) == 1:
            return labels == self.labels[0]  # the usual case, several times faster than isin
        return np.isin(labels, self.labels)

    def merge(self, other: _Group) -> _Group:
        return _Group(
            min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1),
            list(dict.fromkeys(self.labels + other.labels)),  # pieces of one blob joined again stay that blob
        )


def _row_height(groups: list[_Group]) -> float:
    """The median height of a row's groups (statistics.median: a handful of numbers, no array)."""
    return float(statistics.median(g.height for g in groups))


def _components(labels: np.ndarray, mass: np.ndarray) -> list[_Group]:
    from scipy import ndimage

    groups = []
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None or mass[index] <= 0:
            continue
        groups.append(_Group(sl[1].start, sl[0].start, sl[1].stop, sl[0].stop, [index]))
    return groups


def _merge_overlapping(groups: list[_Group]) -> list[_Group]:
    """Join the pieces of one digit.

    Two pieces are one digit when their x-ranges mostly overlap (a 4 or a 5 drawn in
    two strokes), or when one is a fragment (much shorter than the digits around it)
    that overlaps or nearly touches its neighbour (a broken stroke).
    """
    if not groups:
        return groups
    groups = sorted(groups, key=lambda g: g.x0)
    tall = float(max(g.height for g in groups))
    merged: list[_Group] = []
    for g in groups:
        if merged:
            last = merged[-1]
            overlap = min(last.x1, g.x1) - max(last.x0, g.x0)
            fragment = min(last.height, g.height) < 0.6 * max(last.height, g.height, 0.8 * tall)
            # Digits in a row stand side by side; pieces stacked one above the other
            # are one digit whose stroke broke.
            y_overlap = min(last.y1, g.y1) - max(last.y0, g.y0)
            stacked = overlap > 0 and y_overlap < 0.25 * min(last.height, g.height)
            if overlap > 0.5 * min(last.width, g.width) or stacked or (fragment and overlap > -0.15 * tall):
                merged[-1] = last.merge(g)
                continue
        merged.append(g)
    return merged


def _column_profile(ink: np.ndarray, labels: np.ndarray, group: _Group) -> np.ndarray:
    window = labels[group.y0 : group.y1, group.x0 : group.x1]
    keep = group.owns(window)
    return (ink[group.y0 : group.y1, group.x0 : group.x1] * keep).sum(axis=0)


def _split_at(ink: np.ndarray, labels: np.ndarray, group: _Group, parts: int) -> list[_Group] | None:
    """Cut a group into ``parts`` at the ink profile's lowest columns near the even cuts."""
    if group.width < 4 * parts:
        return None
    profile = _column_profile(ink, labels, group)
    cuts = []
    for i in range(1, parts):
        centre = group.width * i / parts
        half = max(1, int(group.width / parts * 0.35))
        lo, hi = max(1, int(centre - half)), min(group.width - 1, int(centre + half) + 1)
        if hi <= lo:
            return None
        cuts.append(_weakest_column(profile, lo, hi, centre))
    return _pieces(ink, labels, group, cuts)


def _weakest_column(profile: np.ndarray, lo: int, hi: int, centre: float) -> int:
    """The column in ``lo:hi`` with the least ink; ties go towards ``centre``."""
    return lo + int(np.argmin(profile[lo:hi] + 1e-3 * np.abs(np.arange(lo, hi) - centre)))


def _pieces(ink: np.ndarray, labels: np.ndarray, group: _Group, cuts: list[int]) -> list[_Group] | None:
    """A group cut at these columns (relative to it, ascending), each piece tightened; None if a piece is under 2 px wide."""
    bounds = [0, *cuts, group.width]
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b - a < 2:
            return None
        out.append(_Group(group.x0 + a, group.y0, group.x0 + b, group.y1, group.labels))
    return [_tighten(ink, labels, g) for g in out]


def _tighten(ink: np.ndarray, labels: np.ndarray, group: _Group) -> _Group:
    window = group.owns(labels[group.y0 : group.y1, group.x0 : group.x1])
    window &= ink[group.y0 : group.y1, group.x0 : group.x1] > 0.25
    rows, cols = np.flatnonzero(window.any(axis=1)), np.flatnonzero(window.any(axis=0))
    if rows.size == 0:
        return group
    return _Group(
        group.x0 + int(cols[0]), group.y0 + int(rows[0]), group.x0 + int(cols[-1]) + 1, group.y0 + int(rows[-1]) + 1,
        group.labels,
    )


# A handwritten digit is rarely wider than this times its height (MNIST's widest
# single digits reach ~1.2); a wider blob is several touching digits.
MAX_DIGIT_ASPECT = 1.3
TYPICAL_DIGIT_ASPECT = 0.65


def _split_touching(ink: np.ndarray, labels: np.ndarray, groups: list[_Group]) -> list[_Group]:
    if not groups:
        return groups
    height = _row_height(groups)
    out = []
    for g in groups:
        ref = max(height, g.height)
        if g.width > MAX_DIGIT_ASPECT * ref:
            parts = max(2, round(g.width / (TYPICAL_DIGIT_ASPECT * ref)))
            pieces = _split_at(ink, labels, g, parts)
            if pieces:
                out.extend(pieces)
                continue
        out.append(g)
    return out


def _force_count(ink: np.ndarray, labels: np.ndarray, groups: list[_Group], digits: int) -> list[_Group]:
    while len(groups) > digits:
        # Join the neighbours with the smallest gap between them.
        gaps = [groups[i + 1].x0 - groups[i].x1 for i in range(len(groups) - 1)]
        i = int(np.argmin(gaps))
        groups = [*groups[:i], groups[i].merge(groups[i + 1]), *groups[i + 2 :]]
    while len(groups) < digits:
        # Split the widest group, relative to its height, in two.
        order = sorted(range(len(groups)), key=lambda j: groups[j].width / max(groups[j].height, 1), reverse=True)
        for j in order:
            pieces = _split_at(ink, labels, groups[j], 2)
            if pieces:
                groups = [*groups[:j], *pieces, *groups[j + 1 :]]
                break
        else:
            raise SegmentationError(
                f"found {len(groups)} digit(s) and cannot split them into {digits}: the ink is too narrow "
                "to hold more digits; check --digits or write the digits further apart"
            )
    return groups


#: Scores candidate digits: their ink crops in, the model's confidence in each out.
Judge = Callable[[list[np.ndarray]], np.ndarray]

# Each digit read costs this much log-probability, so that cutting one confident
# digit into two confident halves ("0" into "(" and ")") is not free.
DIGIT_COST = 0.5
# Log-probability lost per unit of width/height beyond WIDE_ASPECT: MNIST's single
# digits have a median width/height of 0.75 and 95% are under 1.0, while two
# touching digits measure ~1.5. Groups wider than SPLIT_ASPECT (times the row's
# height) are offered to the model cut in two or more: a "1" touching a "0" is
# barely wider than tall, but lower values let letters ("m", "w") be cut into
# confident digits. Measured with the reject output (bench_realistic, tuning seed 1;
# numbers read exactly / non-digits accepted): SPLIT_ASPECT 1.2: 93.6% / 7.2%;
# 1.1: 94.8% / 7.8%; 1.0: (not kept) / 10.2%; 0.85: 95.7% / 13.8% (DIGIT_COST 1.0 adds
# ~0.3 points to numbers). Seed 0, 0.85 and DIGIT_COST 1.0: 94.5% / 8.5%, against
# 93.3% / 3.5% here: the non-digit target (<= 5%) decides.
WIDE_COST, WIDE_ASPECT, SPLIT_ASPECT = 5.0, 1.1, 1.2
# Log-probability lost per unit of height below SHORT_HEIGHT times the row's tallest piece.
SHORT_COST, SHORT_HEIGHT = 8.0, 0.6


Reading = tuple[int, list[_Group], bool]


def _readings(ink: np.ndarray, labels: np.ndarray, groups: list[_Group]) -> list[list[Reading]]:
    """For each group index i, the ways digits can start there: (next index, digits, sure only).

    A blob wide enough to be offered cut into digits (SPLIT_ASPECT) is cut evenly into
    two or more, and also in two at the places `_cuts_in_two` tries (a "1" touching a
    "0" meets it far from the middle); those uneven cuts are "sure only": they count
    only if the model is sure (SPLIT_SURE) of both halves, or a wide single digit
    would come out as two. Measured on bench_realistic: numbers read exactly 93.8% ->
    94.3% (seed 0), 96.7% -> 96.9% (seed 1); single digits and non-digits unchanged.
    """
    height = _row_height(groups)
    options: list[list[Reading]] = []
    for i, g in enumerate(groups):
        ref = max(height, g.height)
        here: list[Reading] = [(i + 1, [g], False)]
        merged = g
        for j in range(i + 1, min(i + 3, len(groups))):
            # A short piece close by may belong to this digit (a stroke broken at its
            # join); two full-height pieces side by side are two digits.
            if groups[j].x0 - merged.x1 > 0.3 * ref or min(merged.height, groups[j].height) > 0.7 * ref:
                break
            merged = merged.merge(groups[j])
            if merged.width > 1.3 * ref:
                break
            here.append((j + 1, [merged], False))
        most = min(6, int(g.width / (0.35 * ref))) if g.width > SPLIT_ASPECT * ref else 1
        for parts in range(2, most + 1):
            pieces = _split_at(ink, labels, g, parts)
            if pieces:
                here.append((i + 1, pieces, False))
        if most >= 2:
            even = {(p.x0, p.x1) for _, pieces, _ in here if len(pieces) == 2 for p in pieces}
            here.extend(
                (i + 1, pair, True)
                for pair in _cuts_in_two(ink, labels, g)
                if not {(p.x0, p.x1) for p in pair} <= even
            )
        options.append(here)
    return options


def _shape_prior(pieces: list[_Group], tallest: int) -> np.ndarray:
    """The log-probability each candidate digit gets from its shape alone (see DIGIT_COST)."""
    # A digit is rarely wider than tall (MNIST's widest reach ~1.2), and models read
    # a blob of two touching digits with a confidence it does not deserve.
    aspect = np.array([p.width / max(p.height, 1) for p in pieces])
    # Digits in a row are about as tall as each other; a short piece alone (a dash
    # broken off a 7's bar) is not a digit, however sure the model is of it.
    short = np.array([p.height / max(tallest, 1) for p in pieces])
    return (
        -WIDE_COST * np.clip(aspect - WIDE_ASPECT, 0, None)
        - SHORT_COST * np.clip(SHORT_HEIGHT - short, 0, None)
        - DIGIT_COST
    )


def _log_conf(confidence: Any) -> np.ndarray:
    return np.log(np.clip(np.asarray(confidence, dtype=np.float64), 1e-9, 1.0))


# In a row of several digits, a digit the model doubts (top digit under DOUBT, or the
# "not a digit" output won) that is wider than DOUBT_ASPECT times the row's height is
# offered to the model cut in two, as a blob wider than SPLIT_ASPECT always is: two
# digits touching in a narrow blob ("17" drawn close reads like an "n", "11" like a "V")
# come out of the plain reading as one doubtful digit. The cut is kept only if it scores
# better and both halves are sure digits (at least SPLIT_SURE). Measured on
# bench_realistic (docs/benchmarks.md): numbers read exactly 91.7% -> 93.1% (seed 0) and
# 94.0% -> 96.0% (seed 1), single digits and non-digits unchanged. Applied to single
# images too it cut letters ("V" as a confident "11") and wide single digits in two.
# In a row of at least two separate blobs of ink (a number, not a letter cut into
# strokes) a doubtful digit is tried cut from NUMBER_DOUBT_ASPECT times the row's height
# up: a "1" touching an "8" makes a blob narrower than one digit. Measured: numbers read
# exactly 94.3% -> 94.8% (seed 0), 96.9% -> 96.9% (seed 1), and on seeds the tuning did
# not look at, 95.7% -> 96.0% (seed 2), 94.0% -> 94.5% (seed 3); single digits and
# non-digits unchanged on all four. Without the two-blob condition, a letter cut into
# strokes came out "1111".
DOUBT, DOUBT_ASPECT, SPLIT_SURE = 0.5, 0.8, 0.9
NUMBER_DOUBT_ASPECT = 0.4


def _split_doubtful(
    ink: np.ndarray, labels: np.ndarray, groups: list[_Group], confidence: np.ndarray, judge: Judge
) -> list[_Group] | None:
    """Re-read a row's doubtful, wide-enough digits cut in two; None if no cut reads better.

    ``confidence`` is the model's confidence in each of ``groups`` read whole.
    """
    if len(groups) < 2:
        return None
    height = _row_height(groups)
    aspect = NUMBER_DOUBT_ASPECT if len({g.blob for g in groups}) >= 2 else DOUBT_ASPECT
    cuts: list[tuple[int, list[_Group]]] = []  # (group index, its two halves), several cuts per group
    for i, (g, conf) in enumerate(zip(groups, confidence)):
        if conf < DOUBT and g.width > aspect * max(height, g.height):
            cuts.extend((i, halves) for halves in _cuts_in_two(ink, labels, g))
    if not cuts:
        return None
    tallest = max(g.height for g in groups)
    halves = [h for _, pair in cuts for h in pair]
    sure = np.asarray(judge([_group_crop(ink, labels, h) for h in halves]), dtype=np.float64)
    score = (_log_conf(sure) + _shape_prior(halves, tallest)).reshape(-1, 2).sum(axis=1)
    sure = sure.reshape(-1, 2).min(axis=1)
    whole = _log_conf(confidence) + _shape_prior(groups, tallest)
    keep: dict[int, tuple[float, list[_Group]]] = {}
    for (i, pair), pair_score, pair_sure in zip(cuts, score, sure):
        if pair_score > whole[i] and pair_sure >= SPLIT_SURE and pair_score > keep.get(i, (-np.inf,))[0]:
            keep[i] = (float(pair_score), pair)
    if not keep:
        return None
    return [piece for i, g in enumerate(groups) for piece in (keep[i][1] if i in keep else [g])]


# The other way round: two neighbours, one of them doubtful, at most MERGE_GAP times the
# row's height apart and together no wider than MERGE_ASPECT times it, are re-read as
# one digit, kept if it is a sure digit (SPLIT_SURE) scoring better than the two: a "0"
# or a "4" whose stroke broke into two full-height pieces, which the shape rules (one
# piece short, or overlapping) leave apart. Measured on bench_realistic: numbers read
# exactly 93.3% -> 93.8% (seed 0), 96.4% -> 96.7% (seed 1); single digits and
# non-digits unchanged.
MERGE_GAP, MERGE_ASPECT = 0.3, 1.0


def _merge_doubtful(
    ink: np.ndarray, labels: np.ndarray, groups: list[_Group], confidence: np.ndarray, judge: Judge
) -> tuple[list[_Group], np.ndarray] | None:
    """Re-read neighbours, one of them doubtful, as one digit.

    Returns the row's groups and their confidences with the pairs that read better
    joined, joined (where two overlapping pairs do, the better one); None if none does.
    """
    height = _row_height(groups)
    pairs = []
    for i, (a, b) in enumerate(zip(groups, groups[1:])):
        if min(confidence[i], confidence[i + 1]) >= DOUBT or b.x0 - a.x1 > MERGE_GAP * height:
            continue
        joined = a.merge(b)
        if joined.width <= MERGE_ASPECT * max(height, joined.height):
            pairs.append((i, joined))
    if not pairs:
        return None
    tallest = max(g.height for g in groups)
    sure = np.asarray(judge([_group_crop(ink, labels, m) for _, m in pairs]), dtype=np.float64)
    joined_score = _log_conf(sure) + _shape_prior([m for _, m in pairs], tallest)
    alone = _log_conf(confidence) + _shape_prior(groups, tallest)
    best: dict[int, tuple[float, _Group, float]] = {}
    for (i, m), score, conf in zip(pairs, joined_score, sure):
        gain = score - alone[i] - alone[i + 1]
        if conf >= SPLIT_SURE and gain > 0:
            best[i] = (float(gain), m, float(conf))
    if not best:
        return None
    chosen: set[int] = set()
    for i in sorted(best, key=lambda k: -best[k][0]):  # pair i and i + 1 share a group with i - 1 and i + 1
        if i - 1 not in chosen and i + 1 not in chosen:
            chosen.add(i)
    out: list[_Group] = []
    out_conf: list[float] = []
    i = 0
    while i < len(groups):
        if i in chosen:
            out.append(best[i][1])
            out_conf.append(best[i][2])
            i += 2
        else:
            out.append(groups[i])
            out_conf.append(float(confidence[i]))
            i += 1
    return out, np.asarray(out_conf)


# Where a doubtful digit is tried cut in two: at the ink profile's weakest column near
# each of these fractions of its width, within CUT_REACH of it (two touching digits
# rarely meet exactly half way: a "1" beside a "0", a "7" whose bar reaches over its
# neighbour).
CUT_AT, CUT_REACH = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8), 0.06


def _cuts_in_two(ink: np.ndarray, labels: np.ndarray, group: _Group) -> list[list[_Group]]:
    """The distinct ways of cutting a group in two at the columns `CUT_AT` points to."""
    if group.width < 8:
        return []
    profile = _column_profile(ink, labels, group)
    reach = max(1, round(CUT_REACH * group.width))
    columns: list[int] = []
    for fraction in CUT_AT:
        centre = fraction * group.width
        lo, hi = max(2, round(centre) - reach), min(group.width - 2, round(centre) + reach + 1)
        if hi > lo and (column := _weakest_column(profile, lo, hi, centre)) not in columns:
            columns.append(column)
    # Every column is at least 2 px from either edge, so each cut gives two pieces.
    return [pair for c in columns if (pair := _pieces(ink, labels, group, [c]))]


def _best_reading(
    ink: np.ndarray, labels: np.ndarray, groups: list[_Group], digits: int | None, judge: Judge
) -> list[_Group] | None:
    """The segmentation the model reads most confidently (dynamic programming over the row).

    Returns None when no reading gives exactly ``digits`` digits.
    """
    options = _readings(ink, labels, groups)
    candidates: dict[tuple[int, int, int, int], _Group] = {}
    for here in options:
        for _, pieces, _ in here:
            for piece in pieces:
                candidates.setdefault(piece.key, piece)
    keys = list(candidates)
    confidence = np.asarray(judge([_group_crop(ink, labels, candidates[k]) for k in keys]), dtype=np.float64)
    prior = _shape_prior([candidates[k] for k in keys], max(g.height for g in groups))
    score = dict(zip(keys, _log_conf(confidence) + prior))
    sure = dict(zip(keys, confidence >= SPLIT_SURE))
    if digits is None and len(groups) == 1 and sure[groups[0].key]:
        # An image that is one blob the model reads whole as a sure digit is that digit,
        # however wide: a "2" drawn with a loop was cut into two sure "2"s. Measured on
        # bench_realistic: single digits 99.0% -> 99.3% on seed 3 (one symbol more read
        # as a digit there, 4.0% -> 4.2%); seeds 0, 1 and 2 unchanged.
        return [groups[0]]
    n = len(groups)
    limit = digits if digits is not None else 6 * n
    # best[i][c]: the best (score, digits) reading groups i.. with c digits.
    best: list[dict[int, tuple[float, list[_Group]]]] = [dict() for _ in range(n + 1)]
    best[n][0] = (0.0, [])
    for i in range(n - 1, -1, -1):
        for nxt, pieces, sure_only in options[i]:
            if sure_only and not all(sure[p.key] for p in pieces):
                continue
            gain = sum(score[p.key] for p in pieces)
            for count, (rest, tail) in best[nxt].items():
                total = count + len(pieces)
                if total > limit:
                    continue
                if total not in best[i] or gain + rest > best[i][total][0]:
                    best[i][total] = (gain + rest, pieces + tail)
    if digits is not None:
        return best[0][digits][1] if digits in best[0] else None
    return max(best[0].values(), key=lambda item: item[0])[1]


def _label_ink(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strokes of an ink map given from outside: 8-connected labels and their ink mass, specks dropped."""
    from scipy import ndimage

    labels, n = ndimage.label(ink > 0, structure=_EIGHT)
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=n + 1)
    mass[0] = 0
    if n:
        mass[mass < max(2.0, 0.015 * mass.max())] = 0
    return labels, mass


def check_digit_count(digits: Any) -> None:
    """Raise `UsageError` unless ``digits`` (a caller's count of digits) is None or a whole number >= 1."""
    if digits is not None and (isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 1):
        raise UsageError(f"digits must be a whole number of at least 1, not {digits!r}")


def _segment_groups(
    ink: np.ndarray,
    labels: np.ndarray,
    mass: np.ndarray,
    digits: int | None,
    judge: Judge | None = None,
    components: list[_Group] | None = None,
) -> list[_Group]:
    check_digit_count(digits)
    groups = _components(labels, mass) if components is None else components
    if not groups:
        if digits:
            raise SegmentationError(f"found no ink, so cannot read {digits} digit(s); is the image blank?")
        return []
    groups = _merge_overlapping(groups)
    chosen = None
    if judge is not None and _ambiguous(groups, digits):
        chosen = _best_reading(ink, labels, groups, digits, judge)
    if chosen is None:
        chosen = _split_touching(ink, labels, groups) if digits is None else _force_count(ink, labels, groups, digits)
    chosen.sort(key=lambda g: (g.x0 + g.x1) / 2)
    return chosen


def _ambiguous(groups: list[_Group], digits: int | None) -> bool:
    """Whether the plain reading (one group, one digit) needs the model's opinion."""
    if digits is not None and digits != len(groups):
        return True
    height = _row_height(groups)
    if any(g.width > SPLIT_ASPECT * max(height, g.height) for g in groups):
        return True  # may be touching digits
    gaps = [b.x0 - a.x1 for a, b in zip(groups, groups[1:])]
    return any(gap < 0.3 * height for gap in gaps) and digits is None


def segment(ink: np.ndarray, *, digits: int | None = None) -> list[Box]:
    """Find the digits in an ink map, left to right.

    Connected strokes are grouped; the pieces of one broken digit (overlapping in x)
    are joined; a blob too wide for one digit is cut at its thinnest columns; specks
    are ignored.

    Parameters
    ----------
    ink : ndarray of shape (height, width)
        From `ink_map`.
    digits : int, optional
        How many digits the caller knows there are: groups are merged or split until
        there are exactly this many.

    Returns
    -------
    list of (x0, y0, x1, y1)
        One box per digit in ink-map pixels, right and bottom exclusive; empty if there is no ink.

    Raises
    ------
    SegmentationError
        When `digits` is given and the ink cannot be made into that many digits.
    """
    ink = np.asarray(ink, dtype=np.float32)
    groups = _segment_groups(ink, *_label_ink(ink), digits)
    return [(g.x0, g.y0, g.x1, g.y1) for g in groups]


def crop_ink(ink: np.ndarray, box: Box) -> np.ndarray:
    """The ink inside ``box`` (a view; no copy)."""
    x0, y0, x1, y1 = box
    return ink[y0:y1, x0:x1]


def _group_crop(ink: np.ndarray, labels: np.ndarray, group: _Group) -> np.ndarray:
    """A digit's ink alone: strokes of a neighbour reaching into its box are left out."""
    window = ink[group.y0 : group.y1, group.x0 : group.x1]
    own = group.owns(labels[group.y0 : group.y1, group.x0 : group.x1])
    crop = window * own
    left = group.x0 > 0 and bool(group.owns(labels[group.y0 : group.y1, group.x0 - 1]).any())
    right = group.x1 < labels.shape[1] and bool(group.owns(labels[group.y0 : group.y1, group.x1]).any())
    if left or right:
        _drop_cut_ends(crop, left, right)
    return crop


# A piece of ink on a cut edge, apart from the digit's strokes and under this share of
# its ink, is a neighbour's stroke reaching across the cut (the top bar of a "7" over a
# "1"): the model, shown it, read another digit. Measured on bench_realistic.py, numbers
# read exactly: +2 / 0 / +1 / 0 of 420 on seeds 0-3 (0.3: one fewer on seed 1).
CUT_END = 0.15


def _drop_cut_ends(crop: np.ndarray, left: bool, right: bool) -> None:
    """Clear, in place, the small pieces of ink on the cut edges of a digit cut from a blob."""
    from scipy import ndimage

    parts, n = ndimage.label(crop > 0, structure=_EIGHT)
    if n < 2:
        return
    mass = np.bincount(parts.ravel(), weights=crop.ravel(), minlength=n + 1)
    mass[0] = 0
    edge = np.zeros(n + 1, bool)
    if left:
        edge[parts[:, 0]] = True
    if right:
        edge[parts[:, -1]] = True
    edge[0] = False
    drop = edge & (mass < CUT_END * mass.sum())
    if drop.any():
        crop[drop[parts]] = 0


# --------------------------------------------------------------------------- model formats


def _trim(crop: np.ndarray, level: float = 0.05) -> np.ndarray:
    # The ufunc's reduce and the array's nonzero directly: this runs a few times per
    # digit, and `any` / `flatnonzero` add Python steps that cost more than the work.
    mask = crop > level
    rows = np.logical_or.reduce(mask, axis=1).nonzero()[0]
    if rows.size == 0:
        return crop[:0, :0]
    cols = np.logical_or.reduce(mask, axis=0).nonzero()[0]
    return crop[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _as_image(array: np.ndarray, mode: str) -> Image.Image:
    """A Pillow image of a 2-D array's pixels (mode "L": uint8, "F": float32), sharing its memory if it can.

    `Image.fromarray` does the same through many more steps: on a small crop, and on
    the paths that convert several times per image, those steps cost more than the work.
    """
    array = np.ascontiguousarray(array, dtype=np.float32 if mode == "F" else np.uint8)
    return Image.frombuffer(mode, (array.shape[1], array.shape[0]), array, "raw", mode, 0, 1)


def _as_array(image: Image.Image) -> np.ndarray:
    """The pixels of a single-band "L" or "F" image as a read-only 2-D array (as `np.asarray` gives them)."""
    dtype = np.float32 if image.mode == "F" else np.uint8
    return np.frombuffer(image.tobytes(), dtype).reshape(image.height, image.width)


def _resize(crop: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Anti-aliased resize of a float map to ``size`` = (width, height)."""
    shrinking = size[0] < crop.shape[1] or size[1] < crop.shape[0]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return _as_array(_as_image(crop, "F").resize(size, method))


def _fit_box(crop: np.ndarray, side: int, height: int | None = None) -> np.ndarray:
    """``crop`` resized, aspect kept, to fit a ``side`` x ``side`` box (or ``side`` wide x ``height`` high)."""
    h, w = crop.shape
    scale = min(side / w, (side if height is None else height) / h)
    return _resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))))


# MNIST's strokes, measured as 2 * area / boundary of the pixels >= 0.5 on the 28x28
# test digits: median 2.6 px, 90% between 2.1 and 4.1. Crops whose strokes fall
# outside [THIN, THICK] after fitting are brought to MNIST_STROKE before the fit:
# 3.2 px, a little above the median. Against 2.6, on bench_seeds' seeds 55-124 (the
# same images, read side by side with the fourteenth session's runs): single digits
# +19 of 49000, non-digits accepted -60 of 42000, real digits uncertain -13, numbers
# unchanged (docs/benchmarks.md, fifteenth session); on 70 further seeds +1 single
# digit, -43 non-digits (sixteenth session). The shipped networks were trained when it
# was 2.6 (their re-drawn digits pass through this step); retrained through 3.2 they
# read worse on all four counts (sixteenth session), so they stay.
MNIST_STROKE, THIN_STROKE, THICK_STROKE = 3.2, 1.6, 4.4


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary digit: twice its area over its boundary length."""
    area = int(np.count_nonzero(mask))
    if area == 0:
        return 0.0
    # Interior pixels: the pixel and its four neighbours are all ink (a 3x3-cross
    # erosion); a pixel on the image's edge never is.
    m = mask
    interior = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return 2.0 * area / max(area - int(np.count_nonzero(interior)), 1)


def _restroke(crop: np.ndarray, width: float, target: float) -> np.ndarray:
    """Erode or dilate a digit so its strokes are ``target`` px wide instead of ``width``."""
    from scipy import ndimage

    mask = crop >= 0.5
    change = (width - target) / 2
    if change > 0:
        inside = ndimage.distance_transform_edt(mask)
        # Never erode a stroke away: keep at least its own ridge.
        keep = inside > min(change, 0.8 * float(inside.max()) - 0.5)
        return keep.astype(np.float32)
    outside = ndimage.distance_transform_edt(~mask)
    return (outside <= -change).astype(np.float32)


def _fitted(crop: np.ndarray, width: int, height: int) -> np.ndarray:
    """A trimmed crop fitted into ``width`` x ``height`` (aspect kept), full ink 1, strokes MNIST's width."""
    digit = _fit_box(crop, width, height)
    peak = digit.max()
    if peak > 0:
        # Thin pen strokes are averaged away when a big crop shrinks; MNIST's strokes
        # always reach full intensity.
        digit = digit * np.float32(1 / peak)  # both resamplings keep 0 <= digit <= peak
    stroke = _stroke_width(digit >= 0.5)
    if stroke > THICK_STROKE or (stroke < THIN_STROKE and max(crop.shape) > max(width, height)):
        # Re-stroke at 4x MNIST's scale, where a stroke is a few pixels wide, then fit again.
        fine = _fit_box(crop, 4 * width, 4 * height)
        fine = _trim(_restroke(fine, _stroke_width(fine >= 0.5), 4 * MNIST_STROKE))
        if fine.size:
            digit = _fit_box(fine, width, height)
    return digit


def to_mnist(ink_crop: np.ndarray) -> np.ndarray:
    """One digit in MNIST's format: 784 float32 in 0..1, white ink on black.

    MNIST's recipe: the digit is fitted into a 20x20 box with its aspect ratio kept
    (anti-aliased, hence grey edges), then placed in a 28x28 field so that its centre
    of mass falls on the field's centre (pixel 14, 14: the mean over MNIST's test set).
    One step is ours: strokes far thinner or thicker than MNIST's (a fine pen across
    a big photo, a marker) are first brought to about MNIST's stroke width
    (`MNIST_STROKE`).

    Parameters
    ----------
    ink_crop : ndarray of shape (height, width)
        One digit's ink (1 = ink), e.g. a box of `ink_map`.

    Returns
    -------
    ndarray of shape (784,), float32
    """
    crop = _trim(np.asarray(ink_crop, dtype=np.float32))
    out = np.zeros((28, 28), dtype=np.float32)
    if crop.size == 0:
        return out.ravel()
    digit = _fitted(crop, 20, 20)
    h, w = digit.shape
    total = digit.sum()
    ys, xs = np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32)
    cy = float(digit.sum(axis=1) @ ys / total)
    cx = float(digit.sum(axis=0) @ xs / total)
    top = min(max(round(14.0 - cy), 0), 28 - h)
    left = min(max(round(14.0 - cx), 0), 28 - w)
    out[top : top + h, left : left + w] = digit
    return out.ravel()


def _centred(digit: np.ndarray, side: int) -> np.ndarray:
    """``digit`` in the middle of a ``side`` x ``side`` field of zeros of its dtype (its box's centre, not its ink's)."""
    out = np.zeros((side, side), dtype=digit.dtype)
    h, w = digit.shape
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = digit
    return out


def to_optdigits(ink_crop: np.ndarray) -> np.ndarray:
    """One digit in the UCI optdigits format of scikit-learn's 8x8 digits: 64 float64, 0..16.

    The optdigits recipe: a 32x32 bitmap of the digit (size-normalised, aspect kept,
    centred), cut into 4x4 blocks, and the ink pixels of each block counted.

    Parameters
    ----------
    ink_crop : ndarray of shape (height, width)
        One digit's ink (1 = ink).

    Returns
    -------
    ndarray of shape (64,), float64
    """
    crop = _trim(np.asarray(ink_crop, dtype=np.float32))
    bitmap = _centred(_fit_box(crop, 32) >= 0.5, 32) if crop.size else np.zeros((32, 32), dtype=bool)
    return bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3)).astype(np.float64).ravel()


#: The pair format's field (PAIR_SIDE x PAIR_SIDE) and the box two touching digits are
#: fitted into: as tall as MNIST's 20 px box, wide enough for two digits side by side.
PAIR_SIDE, PAIR_WIDTH, PAIR_HEIGHT = 40, 36, 20
#: The pair reader's classes: the pairs "00" to "99", class 10 * first + second (its
#: reject output says "not a pair"). Here, not in `digitrec.pairs`, which needs scikit-learn.
PAIR_CLASSES = 100


def to_pair(ink_crop: np.ndarray) -> np.ndarray:
    """Two touching digits in the pair reader's format: 1600 float32 in 0..1, white ink on black.

    MNIST's recipe stretched for two digits: the blob is fitted into a 36x20 box (aspect
    kept, strokes brought to MNIST's width as in `to_mnist`) and centred in a 40x40 field.

    Parameters
    ----------
    ink_crop : ndarray of shape (height, width)
        One blob's ink (1 = ink).

    Returns
    -------
    ndarray of shape (1600,), float32
    """
    crop = _trim(np.asarray(ink_crop, dtype=np.float32))
    if not crop.size:
        return np.zeros(PAIR_SIDE * PAIR_SIDE, dtype=np.float32)
    return _centred(_fitted(crop, PAIR_WIDTH, PAIR_HEIGHT), PAIR_SIDE).ravel()


#: Input format name -> the function that makes one sample of it. Keys match
#: `digitrec.bundle.INPUT_FORMATS`; a test checks they stay the same.
FORMATTERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"mnist": to_mnist, "optdigits": to_optdigits, "pair": to_pair}


def to_format(ink_crop: np.ndarray, fmt: str) -> np.ndarray:
    """One digit in the input format ``fmt`` (``"mnist"`` or ``"optdigits"``)."""
    try:
        return FORMATTERS[fmt](ink_crop)
    except KeyError:
        raise UsageError(f"unknown input format {fmt!r}; digitrec knows {sorted(FORMATTERS)}") from None


# --------------------------------------------------------------------------- all together


@dataclass
class Prepared:
    """One image ready for a model.

    Attributes
    ----------
    boxes : list of (x0, y0, x1, y1)
        Each digit's box in the original image's pixels (after EXIF rotation), left to right.
    samples : ndarray of shape (n_digits, width)
        The digits in the model's input format.
    size : (width, height)
        The image's size (after EXIF rotation).
    crops : list of ndarray
        Each digit's ink crop at working resolution (for ``--show``).
    blobs : list of int
        For each digit, which piece of connected ink it was cut from: digits cut out
        of one blob (touching digits, or a letter cut into strokes) share the number.
    """

    boxes: list[Box]
    samples: np.ndarray
    size: tuple[int, int]
    crops: list[np.ndarray]
    blobs: list[int] = field(default_factory=list)


def _work_factor(size: tuple[int, int]) -> int:
    """The whole factor that brings an image of ``size`` to about WORK_PIXELS."""
    # At least 1: an image of a few pixels is worked on as it is, never "enlarged" by 0.
    return max(1, int(np.ceil(np.sqrt(size[0] * size[1] / WORK_PIXELS) - 0.05)))


def _reducible(image: Image.Image) -> Image.Image:
    """The image in a mode Pillow's ``reduce`` handles (palette and bilevel are converted)."""
    if image.mode in ("L", "RGB", "RGBA", "LA", "F", "I"):
        return image
    if image.mode.startswith("I;16"):
        return image.convert("I")  # keep all 16 bits; ink_map scales "I" by the 16-bit range
    return image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")


# A digit shorter than this in the working image is looked at again, closer: a
# number on a meter in a phone photo, a small digit on a scanned page.
SMALL_DIGIT = 40
# A row of two or more digits shorter than DOUBTFUL_SMALL_DIGIT is read again, closer
# (at the scale that makes them ~1.5x that tall, full size at most), when the model
# gives one of them under CLOSER_DOUBT (only with a judge, i.e. in the recogniser):
# a number's digits are smaller than a lone digit's, and a thin stroke or a narrow gap
# that the working scale blurs comes through. Measured on bench_realistic (numbers read
# exactly, seeds 0 / 1 / 2 / 3, with the pair reader): 96.0 / 96.9 / 96.7 / 95.7% ->
# 96.7 / 96.9 / 97.1 / 97.1%; single digits unchanged (rows only: for lone digits it
# was as many wrong as right); non-digits 3.2 / 5.0 / 3.8 / 4.2% -> 3.2 / 5.0 / 3.8 / 4.0%.
DOUBTFUL_SMALL_DIGIT, CLOSER_DOUBT = 120, 0.9


def _closer_box(
    groups: list[_Group], factor: int, size: tuple[int, int], small: int = SMALL_DIGIT, origin: tuple[int, int] = (0, 0)
) -> tuple[Box, int] | None:
    """Where to redo the ink map at a finer scale, around digits under ``small``: (box in image pixels, factor).

    ``origin`` is where the groups' ink map starts in the image's pixels.
    """
    if factor <= 1 or not groups:
        return None
    tallest = max(g.height for g in groups)
    if tallest >= small:
        return None
    finer = max(1, int(factor * tallest / (1.5 * small)))
    if finer >= factor:
        return None
    margin = tallest // 2 + 2
    box = (
        max(0, origin[0] + (min(g.x0 for g in groups) - margin) * factor),
        max(0, origin[1] + (min(g.y0 for g in groups) - margin) * factor),
        min(size[0], origin[0] + (max(g.x1 for g in groups) + margin) * factor),
        min(size[1], origin[1] + (max(g.y1 for g in groups) + margin) * factor),
    )
    return box, finer


def _ink_of(
    image: Image.Image | np.ndarray, factor: int, box: Box | None = None, grey: float | None = None
) -> tuple[Ink, tuple[int, int]]:
    """The ink (map, labels, masses) of an image, or a box of it, shrunk by ``factor``,
    and where that map starts in the image's pixels (a canvas's map covers its strokes only).

    ``image`` is a PIL image without alpha or the pixels (HxWxC, alpha last) of one
    with it; ``grey`` is the strokes' grey level when those pixels are a canvas (see
    `_stroke_grey`), None otherwise.
    """
    x0, y0 = box[:2] if box is not None else (0, 0)
    if isinstance(image, np.ndarray):
        if grey is not None:
            x1, y1 = box[2:] if box is not None else (image.shape[1], image.shape[0])
            found = _canvas_ink(image[y0:y1, x0:x1], grey, factor)
            if found is not None:
                ink, (ax, ay) = found
                return ink, (x0 + ax * factor, y0 + ay * factor)
        image = Image.fromarray(image)
    region = image if box is None else _reducible(image).crop(box)
    if factor > 1:
        region = _reducible(region).reduce(factor)  # box filter: the mean of factor x factor
    return _composited_ink(region), (x0, y0)


def prepare(
    source: ImageSource,
    input_format: str,
    *,
    digits: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    judge: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Prepared:
    """Decode an image, find its digits and bring each into ``input_format``.

    Parameters
    ----------
    source : path, bytes, binary file, PIL.Image.Image or ndarray
    input_format : {"mnist", "optdigits"}
    digits : int, optional
        The number of digits, if known (see `segment`).
    max_bytes, max_pixels : int
        Limits, see `load_image`.
    judge : callable, optional
        The model's confidence for samples in ``input_format`` (``(n, width)`` in,
        ``(n,)`` out). Given, a row whose segmentation is ambiguous (touching digits,
        broken strokes, ``digits`` differing from the pieces found) is read the way
        the model finds most convincing, and a row's doubtful digits are tried cut in
        two (`_split_doubtful`); a row of two or more digits under
        `DOUBTFUL_SMALL_DIGIT` working pixels, one of them under `CLOSER_DOUBT`, is read
        again at a finer scale. The returned samples are then most often the very
        array last judged. Without it, segmentation follows shape rules alone.

    Returns
    -------
    Prepared
    """
    if input_format not in FORMATTERS:
        raise UsageError(f"unknown input format {input_format!r}; digitrec knows {sorted(FORMATTERS)}")
    image, decoded_factor = _decode(source, max_bytes, max_pixels, draft=True, fast=True)
    if isinstance(image, Image.Image):
        pixels = _alpha_pixels(image)
        if pixels is not None:  # with an alpha channel, a canvas most likely: its alpha is shrunk alone
            image = pixels
    width, height = (image.shape[1], image.shape[0]) if isinstance(image, np.ndarray) else image.size
    size = (round(width * decoded_factor), round(height * decoded_factor))
    grey = _stroke_grey(image) if isinstance(image, np.ndarray) else None
    work_factor = _work_factor((width, height))
    # The image is decoded by now (`_decode` loads it): an error from here on is no bad
    # image but a bug, and is not dressed up as one.
    def strokes_at(factor: int, box: Box | None = None) -> tuple[Ink, list[_Group], tuple[int, int]]:
        # The ink, its pieces, and where the ink map starts in the image's pixels.
        found, origin = _ink_of(image, factor, box, grey)
        groups = _components(found[1], found[2])
        if grey is not None:  # a canvas: no printed boxes on it
            return found, groups, origin
        return *_without_frames(*found, groups), origin  # a photo or a scan may show a form's boxes

    formatter = FORMATTERS[input_format]
    judge_crops: Judge | None = None
    if judge is not None:
        judge_crops = lambda crops: judge(np.stack([formatter(c) for c in crops]))  # noqa: E731

    def formatted(ink: np.ndarray, labels: np.ndarray, groups: list[_Group]) -> tuple[list[np.ndarray], np.ndarray]:
        crops = [_group_crop(ink, labels, g) for g in groups]
        if not crops:
            return crops, np.zeros((0, INPUT_FORMATS[input_format]), np.float32)
        return crops, np.stack([formatter(c) for c in crops])

    def read(
        found: Ink, groups: list[_Group]
    ) -> tuple[list[_Group], list[np.ndarray], np.ndarray, np.ndarray | None]:
        # The digits of one ink map: segmented, then a row's doubtful digits joined or cut.
        # Also the judge's answer for the samples returned, when it was asked about exactly those.
        ink, labels, mass = found
        groups = _segment_groups(ink, labels, mass, digits, judge_crops, groups)
        crops, samples = formatted(ink, labels, groups)
        judged = None
        if judge_crops is not None and digits is None and len(crops) >= 2:
            # The model reads these samples anyway: the recogniser's judge keeps its answer.
            confidence = judged = judge(samples)
            merged = _merge_doubtful(ink, labels, groups, confidence, judge_crops)
            if merged is not None:
                groups, confidence = merged
                crops, samples = formatted(ink, labels, groups)
                judged = None
            resplit = _split_doubtful(ink, labels, groups, confidence, judge_crops)
            if resplit is not None:
                groups = resplit
                crops, samples = formatted(ink, labels, groups)
                judged = None
        return groups, crops, samples, judged

    found, groups, origin = strokes_at(work_factor)
    closer = _closer_box(groups, work_factor, (width, height), origin=origin)
    if closer is not None:
        box, work_factor = closer
        found, groups, origin = strokes_at(work_factor, box)
    groups, crops, samples, judged = read(found, groups)
    if judge is not None and closer is None and len(samples) >= 2:
        # A doubtful reading of digits under DOUBTFUL_SMALL_DIGIT is done again closer:
        # fine strokes and gaps come through at the finer scale (docs/benchmarks.md, ninth session).
        again = _closer_box(groups, work_factor, (width, height), DOUBTFUL_SMALL_DIGIT, origin)
        if again is not None:
            sure = judge(samples) if judged is None else judged
            if float(np.min(sure)) < CLOSER_DOUBT:
                box, work_factor = again
                found, groups, origin = strokes_at(work_factor, box)
                groups, crops, samples, _ = read(found, groups)
    factor = decoded_factor * work_factor
    ox, oy = origin[0] * decoded_factor, origin[1] * decoded_factor
    boxes = [
        (
            int(ox + g.x0 * factor), int(oy + g.y0 * factor),
            min(size[0], int(np.ceil(ox + g.x1 * factor))), min(size[1], int(np.ceil(oy + g.y1 * factor))),
        )
        for g in groups
    ]
    blob_of: dict[tuple[int, ...], int] = {}
    blobs = [blob_of.setdefault(g.blob, len(blob_of)) for g in groups]
    return Prepared(boxes=boxes, samples=samples, size=size, crops=crops, blobs=blobs)
