"""The recogniser: a model bundle, the preprocessing that matches it, and the answer.

`Recognizer` is the one thing the CLI's ``predict``, the server and the batch job use.
It loads a bundle once and answers ``recognize(image)`` with a `Recognition`: the
number read left to right, and for each digit its confidence, top-3 alternatives,
box, and whether the confidence is under the threshold (``uncertain``, shown as ``?``
in the text). Recognising imports neither torch nor scikit-learn for an ONNX bundle.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitrec.bundle import DIGIT_FORMATS, Bundle, available_models, load_bundle, resolve_model
from digitrec.errors import BundleError, DigitrecError, UsageError, as_digitrec_error
from digitrec.preprocess import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    PAIR_CLASSES,
    Box,
    ImageSource,
    Prepared,
    _weakest_column,
    check_digit_count,
    prepare,
    to_format,
    to_pair,
)

__all__ = [
    "DigitResult", "Recognition", "Recognizer", "error_result", "read_each", "stray_marks", "trusted",
    "trusted_at", "DEFAULT_THRESHOLD",
]

#: The threshold used when a model's card names none.
DEFAULT_THRESHOLD = 0.5

#: The shipped pair reader (``digitrec train cnn-pairs``), used with MNIST-format models.
PAIRS_MODEL = "pairs"
# A digit the model rejects, or gives under PAIR_DOUBT, whose ink is at least PAIR_ASPECT
# times as wide as tall, is shown to the pair reader; its answer replaces the digit
# by two when the reader gives one pair at least PAIR_SURE. Chosen on bench_realistic
# (docs/benchmarks.md, ninth session).
PAIR_DOUBT, PAIR_ASPECT, PAIR_SURE = 0.5, 0.6, 0.9
#: A piece at either end of a row, no taller or wider than STRAY_MARK times the row's
#: tallest other piece, that the model reads as no sure digit, beside a sure digit with
#: which it shares no column, is a stray mark (a full stop, a speck of pen or paper),
#: not a digit: `stray_marks` leaves it out (docs/benchmarks.md, thirteenth session).
STRAY_MARK = 0.25


def trusted(sure: list[bool], blobs: list[int] | None = None) -> list[bool]:
    """Which digits of a row to trust, given whether the model is sure of each alone.

    A row of two or more pieces of which at least half are unsure is most likely no
    number at all: a letter or a symbol broken into strokes, one of which reads as
    a confident "1". None of its digits is trusted then. Measured on
    ``benchmarks/bench_realistic.py`` (docs/benchmarks.md): non-digits accepted
    3.3% -> 2.3% (seed 0) and 5.2% -> 4.3% (seed 1). Likewise, digits cut out of one
    piece of connected ink are one guess at how to cut it: when the model is unsure
    of one of them, none is trusted (a "W" cut into "V", "1" and "/" read "?11").
    A number either rule touches already had a ``?``, so numbers read exactly lose
    nothing.

    Parameters
    ----------
    sure : list of bool
        Per digit, left to right: confident enough and not rejected.
    blobs : list of int, optional
        Per digit, the blob of connected ink it was cut from (`Prepared.blobs`);
        None or empty: every digit is its own blob.

    Returns
    -------
    list of bool
    """
    if len(sure) >= 2 and 2 * (len(sure) - sum(sure)) >= len(sure):
        return [False] * len(sure)
    if not blobs:  # no blob known: each digit stands alone
        return list(sure)
    if len(blobs) != len(sure):
        raise ValueError(f"trusted: {len(sure)} digits but {len(blobs)} blobs")
    doubtful = {blob for blob, ok in zip(blobs, sure) if not ok}
    return [ok and blob not in doubtful for blob, ok in zip(blobs, sure)]


@dataclass
class DigitResult:
    """One digit read from an image.

    Attributes
    ----------
    digit : int
        The most probable digit.
    confidence : float
        Its calibrated probability.
    uncertain : bool
        True when `confidence` is under the recogniser's threshold, the model's
        reject output won, or most of its row is uncertain (see `trusted`): the
        digit is shown as ``?``.
    top : list of (digit, probability)
        The three most probable digits, most probable first.
    box : (x0, y0, x1, y1)
        Where it is in the image, in pixels (right and bottom exclusive).
    rejected : bool
        Whether the model's reject output ("not a single digit") won (not in the JSON).
    blob : int
        Which piece of connected ink it was cut from: digits cut out of one blob share
        it (`Prepared.blobs`; not in the JSON).
    """

    digit: int
    confidence: float
    uncertain: bool
    top: list[tuple[int, float]]
    box: Box
    rejected: bool = False
    blob: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of one digit (DESIGN.md's contract)."""
        return {
            "digit": int(self.digit),
            "confidence": round(float(self.confidence), 6),
            "uncertain": bool(self.uncertain),
            "top": [[int(d), round(float(p), 6)] for d, p in self.top],
            "box": [int(v) for v in self.box],
        }


def trusted_at(digits: Sequence[DigitResult], threshold: float) -> list[bool]:
    """Which of a recognition's digits the recogniser trusts at ``threshold`` (`trusted`).

    A digit is sure when its confidence reaches the threshold and the reject output did
    not win; `trusted` then applies the row's and the blobs' rules. The recogniser
    marks the others uncertain; the benchmarks sweep ``threshold`` with it.

    Parameters
    ----------
    digits : sequence of DigitResult
        One image's digits, left to right.
    threshold : float

    Returns
    -------
    list of bool
    """
    return trusted(_sure(digits, threshold), [d.blob for d in digits])


def _sure(digits: Sequence[DigitResult], threshold: float) -> list[bool]:
    """Per digit: its confidence reaches ``threshold`` and the reject output did not win."""
    return [d.confidence >= threshold and not d.rejected for d in digits]


def stray_marks(digits: Sequence[DigitResult], threshold: float) -> list[int]:
    """Which pieces of a row to keep, leaving out the stray marks at its ends.

    A full stop after a digit, or a speck of the pen or the paper beside it, is cut out
    as a piece of its own that the model rejects; read as a digit it would make a "9."
    answer "??" (a row of two, half of them unsure, is not trusted: `trusted`). A piece
    is a stray mark when it is the first or the last of the row, no side of its box is
    longer than `STRAY_MARK` times the height of the row's tallest other piece, the
    model is not sure of it as a digit (under ``threshold``, or rejected), its neighbour
    is a sure digit, and the two share no column (so the dot of an "i", a "j" or a "!"
    stays with its stroke). Marks between digits are kept ("12.5" still reads "12?5"),
    and so are specks beside specks: a scan's dust around a line that reads as a "1"
    is no number (measured: dropping those let 6 more of 12000 non-digits through).

    Parameters
    ----------
    digits : sequence of DigitResult
        One image's digits, left to right.
    threshold : float

    Returns
    -------
    list of int
        The indices of the pieces kept, in order.
    """
    keep = list(range(len(digits)))
    sure = _sure(digits, threshold)

    def stray(i: int, neighbour: int) -> bool:
        if sure[i] or not sure[neighbour]:
            return False
        left, top, right, bottom = digits[i].box
        tallest = max(digits[j].box[3] - digits[j].box[1] for j in keep if j != i)
        if max(right - left, bottom - top) > STRAY_MARK * tallest:
            return False
        other = digits[neighbour].box
        return right <= other[0] or left >= other[2]

    while len(keep) >= 2:
        if stray(keep[0], keep[1]):
            keep.pop(0)
        elif stray(keep[-1], keep[-2]):
            keep.pop()
        else:
            break
    return keep


@dataclass
class Recognition:
    """What a recogniser read in one image.

    Attributes
    ----------
    text : str
        The number read, left to right, ``?`` where a digit is uncertain; ``""`` when
        the image holds no ink.
    digits : list of DigitResult
    model : str
        The name of the model that read it.
    samples : ndarray of shape (n_digits, width), optional
        The model-format inputs the model saw.
    size : (width, height)
        The image's size in pixels.
    crops : list of ndarray
        Each digit's ink before normalisation (for pictures of what the model saw).
    """

    text: str
    digits: list[DigitResult]
    model: str
    samples: np.ndarray | None = None
    size: tuple[int, int] = (0, 0)
    crops: list[np.ndarray] = field(default_factory=list, repr=False)

    def to_dict(self, path: str | None = None, *, include_samples: bool = False) -> dict[str, Any]:
        """The ``--json`` / HTTP object: ``{"path", "text", "digits", "model"}``.

        Parameters
        ----------
        path : str, optional
            The input's name, echoed back as ``"path"``.
        include_samples : bool, default=False
            Also give ``"samples"``: the model-format inputs as nested lists.
        """
        out: dict[str, Any] = {
            "path": path,
            "text": self.text,
            "digits": [d.to_dict() for d in self.digits],
            "model": self.model,
        }
        if include_samples and self.samples is not None:
            out["samples"] = np.round(np.asarray(self.samples, dtype=np.float64), 4).tolist()
        return out


def error_result(path: str | None, exc: BaseException) -> dict[str, Any]:
    """The JSON object for an input that could not be read: ``{"path", "error": {"code", "message"}}``.

    A `DigitrecError` says what was wrong; anything else (a bug) becomes the
    `InternalError` that names it (`errors.as_digitrec_error`).
    """
    return {"path": path, "error": as_digitrec_error(exc, path or "this file").to_dict()}


def read_each(
    recognizer: Any, images: Sequence[ImageSource], digits: int | None | Sequence[int | None] = None
) -> list[Any]:
    """Each image's `Recognition`, or the exception reading it raised: one image never costs another its answer.

    A `Recognizer` reads the images together (`Recognizer.recognize_batch`); should that
    fail as a whole (a bug, since a bad image comes back as its `DigitrecError`), they
    are read again one by one, so only the image at fault fails. Anything with only
    ``recognize(image, digits=)`` is read one by one. The server's recognition threads
    and batch jobs both read through this.

    Parameters
    ----------
    recognizer : Recognizer
    images : sequence of ImageSource
    digits : int or sequence of (int or None), optional
        One count for all, or one per image.

    Returns
    -------
    list of Recognition or Exception
    """
    images = list(images)
    each = _counts(digits, len(images))
    batch = getattr(recognizer, "recognize_batch", None)
    if batch is not None and len(images) > 1:
        try:
            return list(batch(images, digits=each))
        except Exception:  # noqa: BLE001 - read them one by one, so only the image at fault fails
            pass
    outcomes: list[Any] = []
    for image, count in zip(images, each):
        try:
            outcomes.append(recognizer.recognize(image, digits=count))
        except Exception as exc:  # noqa: BLE001 - handed to the caller, who answers for that image
            outcomes.append(exc)
    return outcomes


def _counts(digits: int | None | Sequence[int | None], n: int) -> list[int | None]:
    """Per image, how many digits it holds: one count (or None) for all, or one per image."""
    if digits is None or isinstance(digits, (int, np.integer)):
        return [digits] * n
    each = list(digits)
    if len(each) != n:
        raise UsageError(f"{n} images but {len(each)} digit counts; give one count, or one per image")
    return each


class Recognizer:
    """Reads the digits in images with one model bundle.

    Parameters
    ----------
    bundle : Bundle
        A loaded model bundle (`digitrec.bundle.load_bundle`).
    threshold : float, optional
        Confidence under which a digit is ``uncertain``; default: the card's
        ``threshold``, or 0.5 if the card has none.
    max_bytes, max_pixels : int
        Limits on an input's encoded size and declared pixel count.
    pairs : Bundle, optional
        A pair reader (input format ``"pair"``, ``digitrec train cnn-pairs``): a wide blob
        the model rejects or doubts is offered to it whole, and read as two digits when
        it is sure of the pair (`PAIR_DOUBT`, `PAIR_ASPECT`, `PAIR_SURE`). Not asked
        when the segmentation is made to give a caller's count of digits.

    Examples
    --------
    >>> rec = Recognizer.load()                      # doctest: +SKIP
    >>> rec.recognize("photo.jpg").text              # doctest: +SKIP
    '1835'
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        threshold: float | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        pairs: Bundle | None = None,
    ) -> None:
        if bundle.input_format not in DIGIT_FORMATS:
            raise UsageError(
                f"model {bundle.name!r} reads {bundle.input_format} samples, not single digits; "
                "recognise with a digit model (the default reads pairs with it)"
            )
        if pairs is not None and (pairs.input_format != "pair" or len(pairs.classes) != PAIR_CLASSES):
            raise UsageError(f"model {pairs.name!r} is no pair reader (input format {pairs.input_format!r})")
        self.bundle = bundle
        self.pairs = pairs
        self.name = bundle.name
        if threshold is None:
            threshold = bundle.card.get("threshold", DEFAULT_THRESHOLD)
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise UsageError(f"threshold must be a number between 0 and 1, not {threshold!r}") from None
        if not 0.0 <= threshold <= 1.0:
            raise UsageError(f"threshold must be between 0 and 1, not {threshold}")
        self.threshold = threshold
        if max_bytes < 1 or max_pixels < 1:
            raise UsageError("max_bytes and max_pixels must be positive")
        self.max_bytes = int(max_bytes)
        self.max_pixels = int(max_pixels)
        self._classes = np.asarray(bundle.classes, dtype=np.int64)
        temperature = bundle.card.get("temperature")
        # A network's ONNX graph already computes softmax(logits / temperature), so the
        # card's temperature is a record; only a card that says "apply_temperature"
        # (a model whose weights cannot hold it) has the recogniser apply it.
        self._inv_temperature = 1.0
        if temperature is not None and bundle.card.get("apply_temperature", False):
            try:
                temperature = float(temperature)
            except (TypeError, ValueError):
                temperature = 0.0
            if not temperature > 0:
                raise BundleError(f"model {self.name!r}: card temperature must be positive, not {temperature!r}")
            self._inv_temperature = 1.0 / temperature

    @classmethod
    def load(
        cls,
        model: str | Path | None = None,
        *,
        threshold: float | None = None,
        threads: int | None = None,
        pairs: str | Path | None = "auto",
        **limits: int,
    ) -> Recognizer:
        """Load a model by name or path (None: the shipped default) and wrap it.

        Parameters
        ----------
        model : str or path, optional
            A shipped model's name or a bundle folder/.zip.
        threshold : float, optional
            Overrides the card's threshold.
        threads : int, optional
            onnxruntime's intra-op threads.
        pairs : str or path or None, default="auto"
            The pair reader: a shipped model's name or a bundle path; ``"auto"``: the
            shipped one (`PAIRS_MODEL`) for an MNIST-format model; None: none.
        **limits
            ``max_bytes`` and/or ``max_pixels``.
        """
        unknown = set(limits) - {"max_bytes", "max_pixels"}
        if unknown:
            raise UsageError(f"unknown limit(s) {sorted(unknown)}; use max_bytes or max_pixels")
        bundle = load_bundle(resolve_model(model), threads=threads)
        if pairs == "auto":
            pairs = PAIRS_MODEL if bundle.input_format == "mnist" and PAIRS_MODEL in available_models() else None
        pair_bundle = None if pairs is None else load_bundle(resolve_model(pairs), threads=threads)
        return cls(bundle, threshold=threshold, pairs=pair_bundle, **limits)

    def info(self) -> dict[str, Any]:
        """What the server's ``GET /v1/models`` says about this model."""
        card = self.bundle.card
        return {
            "name": self.name,
            "recipe": card.get("recipe"),
            "input_format": self.bundle.input_format,
            "classes": self.bundle.classes,
            "reject_class": self.bundle.has_reject,
            "threshold": self.threshold,
            "temperature": card.get("temperature"),
            "metrics": card.get("metrics", {}),
            "created": card.get("created"),
            "pairs": None if self.pairs is None else self.pairs.name,
        }

    def _probabilities(self, samples: np.ndarray) -> np.ndarray:
        proba = self.bundle.predict_proba(samples)
        n_out = len(self._classes) + (1 if self.bundle.has_reject else 0)
        if proba.ndim != 2 or proba.shape[1] != n_out:
            raise BundleError(
                f"model {self.name!r} gave {proba.shape[-1]} outputs per digit, but its card promises {n_out}"
            )
        if self._inv_temperature != 1.0:
            # softmax(z / T) is p ** (1 / T) renormalised: no need for the logits.
            scaled = np.power(np.clip(proba, 1e-12, 1.0), self._inv_temperature)
            proba = scaled / scaled.sum(axis=1, keepdims=True)
        return proba

    def recognize(self, image: ImageSource, *, digits: int | None = None) -> Recognition:
        """Read the number in an image.

        Parameters
        ----------
        image : path, bytes, binary file, PIL.Image.Image or ndarray
        digits : int, optional
            How many digits the image holds, if known: the answer then has exactly that
            many, or `SegmentationError` says why not. The image is read as if the count
            were not known first, and that reading is kept when it has that many digits
            (it is the better one then: numbers read exactly given their count 96.0% ->
            96.9% on bench_realistic's seed 0, see docs/benchmarks.md); else the
            segmentation is made to give that many.

        Returns
        -------
        Recognition
        """
        if digits is None:
            return self._recognize(image, None)
        check_digit_count(digits)
        source = _readable_twice(image, self.max_bytes)
        free = self._recognize(source(), None)
        if len(free.digits) == digits:
            return free
        return self._recognize(source(), digits)

    def _recognize(self, image: ImageSource, digits: int | None) -> Recognition:
        prepared, proba = self._prepare(image, digits)
        if proba is None:
            proba = self._probabilities(prepared.samples)
        return self._answer(prepared, proba, digits)

    def recognize_batch(
        self, images: Sequence[ImageSource], *, digits: int | None | Sequence[int | None] = None
    ) -> list[Recognition | DigitrecError]:
        """Read several images, the model running once over all their digits.

        The answers are those `recognize` gives one image at a time, in less time: the
        model reads every digit of the batch in one call, and each step stays in the
        processor's caches instead of alternating with the others (measured in
        docs/benchmarks.md). Probabilities may differ from `recognize`'s in the last
        float32 digits (the model's arithmetic is grouped differently in a batch).

        Parameters
        ----------
        images : sequence of path, bytes, binary file, PIL.Image.Image or ndarray
        digits : int or sequence of (int or None), optional
            How many digits each image holds, if known: one number for all, or one per image.

        Returns
        -------
        list of Recognition or DigitrecError
            One per image, in order: an image that cannot be read gives the
            `DigitrecError` that says why, in its place, and the others are still read.
        """
        images = list(images)
        each = _counts(digits, len(images))
        prepared: list[tuple[Prepared, np.ndarray | None] | Recognition | DigitrecError] = []
        for image, count in zip(images, each):
            try:
                # An image of known count is read as `recognize` reads it (two ways, one kept).
                prepared.append(self._prepare(image, None) if count is None else self.recognize(image, digits=count))
            except DigitrecError as exc:
                prepared.append(exc)
        waiting = [p[0].samples for p in prepared if isinstance(p, tuple) and p[1] is None]
        if waiting:
            # One model call for every digit not already judged while segmenting.
            ends = np.cumsum([len(w) for w in waiting])[:-1]
            proba = iter(np.split(self._probabilities(np.concatenate(waiting)), ends))
        out: list[Recognition | DigitrecError] = []
        for item in prepared:
            if isinstance(item, tuple):
                out.append(self._answer(item[0], next(proba) if item[1] is None else item[1]))
            else:
                out.append(item)
        return out

    def _prepare(self, image: ImageSource, digits: int | None) -> tuple[Prepared, np.ndarray | None]:
        """Decode and segment ``image``: its `Prepared`, and the model's probabilities
        for its samples when segmenting already asked for them (else None)."""
        last: list[tuple[np.ndarray, np.ndarray]] = []  # the latest (samples, probabilities) judged

        def judge(samples: np.ndarray) -> np.ndarray:
            # Kept: the samples prepare returns are most often the ones it judged last.
            proba = self._probabilities(samples)
            last[:] = [(samples, proba)]
            return proba[:, : len(self._classes)].max(axis=1)

        prepared = prepare(
            image,
            self.bundle.input_format,
            digits=digits,
            max_bytes=self.max_bytes,
            max_pixels=self.max_pixels,
            judge=judge,
        )
        if not len(prepared.boxes):
            return prepared, np.zeros((0, len(self._classes) + int(self.bundle.has_reject)), np.float32)
        return prepared, (last[0][1] if last and last[0][0] is prepared.samples else None)

    def _answer(self, prepared: Prepared, proba: np.ndarray, digits: int | None = None) -> Recognition:
        """The `Recognition` of a prepared image, given the model's probabilities for its samples."""
        n_digits = len(self._classes)
        results = [
            _digit_result(row[:n_digits], self._classes, box, blob, self.bundle.has_reject and row[n_digits])
            for row, box, blob in zip(proba, prepared.boxes, prepared.blobs)
        ]
        samples, crops = prepared.samples, prepared.crops
        if self.pairs is not None and digits is None:
            results, samples, crops = self._read_pairs(results, samples, crops)
        if digits is None:  # a count the caller gave is kept, marks and all
            keep = stray_marks(results, self.threshold)
            if len(keep) < len(results):
                results, samples, crops = [results[i] for i in keep], samples[keep], [crops[i] for i in keep]
        for result, trust in zip(results, trusted_at(results, self.threshold)):
            result.uncertain = not trust
        text = "".join("?" if r.uncertain else str(r.digit) for r in results)
        return Recognition(text=text, digits=results, model=self.name, samples=samples, size=prepared.size, crops=crops)

    def _read_pairs(
        self, results: list[DigitResult], samples: np.ndarray, crops: list[np.ndarray]
    ) -> tuple[list[DigitResult], np.ndarray, list[np.ndarray]]:
        """Offer the rejected or doubtful wide blobs to the pair reader; read the sure ones as two digits.

        A pair's two digits get the marginal probabilities of the pair reader's answer,
        boxes and crops cut at the blob's thinnest column near its middle (`split_pair`),
        and as samples the halves in the model's format (for pictures; the digit model
        did not read them).
        """
        offered = [
            i
            for i, (r, crop) in enumerate(zip(results, crops))
            if (r.rejected or r.confidence < PAIR_DOUBT) and crop.shape[1] >= PAIR_ASPECT * crop.shape[0]
        ]
        if not offered:
            return results, samples, crops
        proba = self.pairs.predict_proba(np.stack([to_pair(crops[i]) for i in offered]))
        read: dict[int, np.ndarray] = {i: row for i, row in zip(offered, proba) if row[:PAIR_CLASSES].max() >= PAIR_SURE}
        if not read:
            return results, samples, crops
        out_results: list[DigitResult] = []
        out_samples: list[np.ndarray] = []
        out_crops: list[np.ndarray] = []
        for i, (result, sample, crop) in enumerate(zip(results, samples, crops)):
            if i not in read:
                out_results.append(result)
                out_samples.append(sample)
                out_crops.append(crop)
                continue
            table = read[i][:PAIR_CLASSES].reshape(10, 10)  # [first digit, second digit]
            halves, boxes = split_pair(crop, result.box)
            for marginal, half, box in zip((table.sum(axis=1), table.sum(axis=0)), halves, boxes):
                out_results.append(_digit_result(marginal, np.arange(10), box, result.blob, False))
                out_samples.append(to_format(half, self.bundle.input_format))
                out_crops.append(half)
        return out_results, np.stack(out_samples).astype(samples.dtype, copy=False), out_crops


def _readable_twice(image: ImageSource, max_bytes: int) -> Callable[[], ImageSource]:
    """Something that gives ``image`` again on each call: a binary file is read once, its name kept.

    At most ``max_bytes + 1`` bytes are read: reading one more than the limit is how the
    decoder tells a file over it.
    """
    if not hasattr(image, "read"):
        return lambda: image  # paths, bytes, PIL images and arrays can be read again as they are
    data = image.read(max_bytes + 1)
    name = getattr(image, "name", None)
    if not isinstance(data, (bytes, bytearray)):
        # A text-mode file: handed on as it is, so that reading it says what is wrong.
        return lambda: image

    def again() -> io.BytesIO:
        stream = io.BytesIO(data)
        if name is not None:
            stream.name = name
        return stream

    return again


def _digit_result(proba: np.ndarray, classes: np.ndarray, box: Box, blob: int, reject: float | bool) -> DigitResult:
    """One digit's result from its class probabilities (``reject``: the reject output's, or False)."""
    order = np.argsort(-proba, kind="stable")[:3]
    confidence = float(proba[order[0]])
    return DigitResult(
        digit=int(classes[order[0]]),
        confidence=confidence,
        uncertain=False,
        top=[(int(classes[i]), float(proba[i])) for i in order],
        box=tuple(int(v) for v in box),
        rejected=bool(reject is not False and float(reject) > confidence),
        blob=blob,
    )


def split_pair(crop: np.ndarray, box: Box) -> tuple[list[np.ndarray], list[Box]]:
    """Two touching digits' crops and boxes: the blob cut at its thinnest column in its middle 40%
    (`preprocess._weakest_column`, as the segmentation's cuts: ties go towards the middle).

    Parameters
    ----------
    crop : ndarray of shape (height, width)
        The blob's ink (at working resolution).
    box : (x0, y0, x1, y1)
        Where the blob is in the image.

    Returns
    -------
    crops : list of two ndarray
    boxes : list of two (x0, y0, x1, y1)
        Each half's box in image pixels, tightened to its ink.
    """
    height, width = crop.shape
    lo, hi = round(0.3 * width), max(round(0.7 * width), round(0.3 * width) + 1)
    column = _weakest_column(crop.sum(axis=0), lo, hi, width / 2) if width >= 2 else 0
    column = min(max(column, 1), max(width - 1, 1))
    x0, y0, x1, y1 = box
    sx, sy = (x1 - x0) / max(width, 1), (y1 - y0) / max(height, 1)
    halves = [crop[:, :column], crop[:, column:]]
    boxes: list[Box] = []
    for half, left in zip(halves, (0, column)):
        rows = np.flatnonzero(half.any(axis=1))
        top, bottom = (rows[0], rows[-1] + 1) if rows.size else (0, height)
        right = left + half.shape[1]
        boxes.append((
            int(x0 + left * sx), int(y0 + top * sy), min(x1, int(np.ceil(x0 + right * sx))), min(y1, int(np.ceil(y0 + bottom * sy))),
        ))
    return halves, boxes
