"""Training digits re-drawn with other pens and read back the way users' images are.

MNIST's strokes are all about the same width and softly blurred. A digit drawn with a
fine pen or a fat marker reaches the network through `digitrec.preprocess`, which
re-strokes it towards MNIST's width but cannot make it look scanned in 1998: its edges
stay crisp and its width even. A model that never saw such inputs calls them unsure
(the "thin" style of ``benchmarks/bench_realistic.py`` was marked uncertain 13% of the
time).

`redraw_digits` replaces a share of the training digits by the same digits drawn
on a drawing pad (`digitrec.synth.render_pen`) with a thinner, the same or a thicker
pen, and read back through `digitrec.preprocess.prepare`: exactly what the model
will be given for such a drawing. The pen widths are drawn from ranges wider than
the benchmark's styles, so the model does not learn those two settings only.

`render_digits` does the same with every style of `digitrec.synth` (photographed
paper, chalk on a board, scans, canvases, rotated photos, fine pens and markers):
the lighting, JPEG noise, blur and resampling a photo or scan puts between a pen and
the model.

`digits_from_numbers` does the same for digits written in a row: a share of the
training digits is rendered as numbers of two to four digits (`digitrec.synth.render_number`,
every style), and each digit is replaced by what `prepare` cuts out of its number
when it finds exactly as many digits as were written: smaller digits, a neighbour's
stroke reaching in, a cut through touching strokes, as the model meets them in numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitrec.errors import UsageError
from digitrec.progress import ProgressFn, null_progress

__all__ = ["PEN_FACTORS", "pen_factor", "redraw_digits", "prepared_sample", "digits_from_numbers", "render_digits"]

#: (share, lowest, highest) stroke-width factors: fine pens, the digit as drawn, markers.
PEN_FACTORS: tuple[tuple[float, float, float], ...] = ((0.4, 0.15, 0.5), (0.3, 1.0, 1.0), (0.3, 1.3, 2.5))

def pen_factor(rng: np.random.Generator) -> float:
    """A stroke-width factor drawn from `PEN_FACTORS`."""
    u = rng.random()
    for share, low, high in PEN_FACTORS:
        if u < share:
            return float(rng.uniform(low, high)) if high > low else float(low)
        u -= share
    return 1.0


def prepared_sample(image, fmt: str) -> np.ndarray | None:
    """The model input `prepare` makes of ``image``, or None unless it reads as exactly one piece."""
    from digitrec.preprocess import prepare

    samples = prepare(image, fmt).samples
    return np.asarray(samples[0], np.float32) if len(samples) == 1 else None


def _picked(
    X: np.ndarray, share: float, input_max: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X`` checked and as float32, the ``share`` of its rows ``rng`` picks, and their ink (28x28, 0..1)."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != 784:
        raise UsageError(f"training digits are re-drawn in the MNIST format (784 features), got an array of shape {X.shape}")
    if not 0.0 <= share <= 1.0:
        raise UsageError(f"share must be between 0 and 1, got {share!r}")
    rows = rng.permutation(len(X))[: int(round(share * len(X)))]
    return X, rows, np.clip(X[rows].reshape(-1, 28, 28) / input_max, 0.0, 1.0)


def _replaced(X: np.ndarray, rows: np.ndarray, samples: list, input_max: float) -> tuple[np.ndarray, int]:
    """A copy of ``X`` with ``rows`` replaced by ``samples`` (0..1, rescaled), except where a sample is None."""
    out = X.copy()
    done = 0
    for row, sample in zip(rows, samples):
        if sample is not None:
            out[row] = sample * input_max
            done += 1
    return out, done


#: Rows per chunk of work (`digitrec.parallel.map_chunks`).
CHUNK = 250


def _rows_replaced(
    X: np.ndarray,
    share: float,
    input_max: float,
    rng: np.random.Generator,
    stream: tuple[int, int],
    work: Callable[[np.ndarray, np.random.SeedSequence], list[np.ndarray | None]],
    description: str,
    n_jobs: int,
    progress: ProgressFn,
) -> tuple[np.ndarray, int]:
    """``share`` of the rows of ``X`` (picked with ``rng``) replaced by what ``work`` makes of their ink, chunk by chunk.

    ``stream`` is (random_state, stream) of the chunks' seeds (`digitrec.parallel.chunk_seeds`).
    """
    from digitrec.parallel import chunk_seeds, map_chunks

    X, rows, inks = _picked(X, share, input_max, rng)
    starts = range(0, len(rows), CHUNK)
    seeds = chunk_seeds(stream[0], stream[1], len(starts))
    chunks = [(inks[start : start + CHUNK], seed) for start, seed in zip(starts, seeds)]
    samples = map_chunks(work, chunks, n_jobs=n_jobs, progress=progress, description=description, total=len(rows))
    return _replaced(X, rows, samples, input_max)


def _redraw_chunk(inks: np.ndarray, seed: np.random.SeedSequence) -> list[np.ndarray | None]:
    from digitrec.synth import render_pen

    rng = np.random.default_rng(seed)
    return [prepared_sample(render_pen(ink, rng, pen_factor(rng)), "mnist") for ink in inks]


def redraw_digits(
    X: np.ndarray,
    share: float,
    *,
    input_max: float = 1.0,
    random_state: int = 0,
    n_jobs: int = 1,
    progress: ProgressFn = null_progress,
) -> tuple[np.ndarray, int]:
    """Replace ``share`` of the MNIST digits in ``X`` by re-drawn copies.

    Parameters
    ----------
    X : ndarray of shape (n_samples, 784)
        Flattened MNIST digits (white ink on black); not modified.
    share : float
        Share of the rows to re-draw, 0..1 (rows chosen at random, seeded).
    input_max : float, default=1.0
        Full ink in ``X``; the re-drawn rows come back on the same scale.
    random_state : int, default=0
    n_jobs : int, default=1
        Worker processes (a few ms per row); the result does not depend on it.
    progress : ProgressFn, optional
        ``progress("Re-drawing digits", done, total)`` as chunks of rows finish.

    Returns
    -------
    X_new : ndarray of shape (n_samples, 784), float32
        A copy of ``X`` with the re-drawn rows in place of their originals (a row
        whose drawing does not read back as one piece keeps its original).
    n_redrawn : int
        How many rows were replaced.

    Raises
    ------
    UsageError
        ``X`` is not MNIST-shaped, or ``share`` is outside 0..1.
    """
    rng = np.random.default_rng(int(random_state))
    return _rows_replaced(X, share, input_max, rng, (random_state, 1), _redraw_chunk, "Re-drawing digits", n_jobs, progress)


#: Digits per rendered number (inclusive bounds), as people write numbers.
NUMBER_LENGTHS = (2, 4)


def _numbers_chunk(inks: np.ndarray, sizes: list[int], seed: np.random.SeedSequence) -> list[np.ndarray | None]:
    from digitrec.preprocess import prepare
    from digitrec.synth import STYLES, render_number

    rng = np.random.default_rng(seed)
    out: list[np.ndarray | None] = []
    start = 0
    for size in sizes:
        digits = inks[start : start + size]
        start += size
        style = STYLES[int(rng.integers(len(STYLES)))]
        image, _ = render_number(list(digits), [0] * size, style, rng)
        samples = prepare(image, "mnist").samples
        # Cut into as many pieces as digits written: piece k is digit k, left to right.
        out.extend(np.asarray(samples, np.float32) if len(samples) == size else [None] * size)
    return out


def digits_from_numbers(
    X: np.ndarray,
    share: float,
    *,
    input_max: float = 1.0,
    random_state: int = 0,
    n_jobs: int = 1,
    progress: ProgressFn = null_progress,
) -> tuple[np.ndarray, int]:
    """Replace ``share`` of the MNIST digits in ``X`` by the same digits cut out of rendered numbers.

    Parameters
    ----------
    X : ndarray of shape (n_samples, 784)
        Flattened MNIST digits (white ink on black); not modified.
    share : float
        Share of the rows to write into numbers, 0..1 (rows chosen at random, seeded,
        independently of `redraw_digits`'s choice).
    input_max : float, default=1.0
        Full ink in ``X``; the new rows come back on the same scale.
    random_state : int, default=0
    n_jobs : int, default=1
        Worker processes; the result does not depend on it.
    progress : ProgressFn, optional
        ``progress("Writing numbers", done, total)`` as chunks of rows finish.

    Returns
    -------
    X_new : ndarray of shape (n_samples, 784), float32
        A copy of ``X``: the digits of each number that `prepare` cut into exactly as
        many pieces as it has digits are replaced by those pieces; the others keep theirs.
    n_replaced : int

    Raises
    ------
    UsageError
        ``X`` is not MNIST-shaped, or ``share`` is outside 0..1.
    """
    from digitrec.parallel import chunk_seeds, map_chunks

    rng = np.random.default_rng([int(random_state), 2])
    X, rows, inks = _picked(X, share, input_max, rng)
    low, high = NUMBER_LENGTHS
    sizes: list[int] = []
    written = 0
    while written < len(rows):
        sizes.append(min(int(rng.integers(low, high + 1)), len(rows) - written))
        written += sizes[-1]
    # Chunks of whole numbers, about CHUNK digits each.
    chunks: list[tuple[int, list[int]]] = []
    start = 0
    for i in range(0, len(sizes), max(1, CHUNK // 3)):
        part = sizes[i : i + max(1, CHUNK // 3)]
        chunks.append((start, part))
        start += sum(part)
    seeds = chunk_seeds(random_state, 2, len(chunks))
    args = [(inks[a : a + sum(part)], part, seed) for (a, part), seed in zip(chunks, seeds)]
    samples = map_chunks(
        _numbers_chunk, args, n_jobs=n_jobs, progress=progress, description="Writing numbers", total=len(rows)
    )
    return _replaced(X, rows, samples, input_max)


def _render_chunk(inks: np.ndarray, seed: np.random.SeedSequence) -> list[np.ndarray | None]:
    from digitrec.synth import STYLES, render_digit

    rng = np.random.default_rng(seed)
    out: list[np.ndarray | None] = []
    for ink in inks:
        style = STYLES[int(rng.integers(len(STYLES)))]
        out.append(prepared_sample(render_digit(ink, style, rng), "mnist"))
    return out


def render_digits(
    X: np.ndarray,
    share: float,
    *,
    input_max: float = 1.0,
    random_state: int = 0,
    n_jobs: int = 1,
    progress: ProgressFn = null_progress,
) -> tuple[np.ndarray, int]:
    """Replace ``share`` of the MNIST digits in ``X`` by the same digits photographed, scanned or drawn.

    Each picked digit is rendered in one of `digitrec.synth.STYLES`, chosen at random,
    and read back through `digitrec.preprocess.prepare`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, 784)
        Flattened MNIST digits (white ink on black); not modified.
    share : float
        Share of the rows to render, 0..1 (rows chosen at random, seeded,
        independently of `redraw_digits`'s and `digits_from_numbers`'s choices).
    input_max : float, default=1.0
        Full ink in ``X``; the new rows come back on the same scale.
    random_state : int, default=0
    n_jobs : int, default=1
        Worker processes (several ms per row); the result does not depend on it.
    progress : ProgressFn, optional
        ``progress("Rendering digits", done, total)`` as chunks of rows finish.

    Returns
    -------
    X_new : ndarray of shape (n_samples, 784), float32
        A copy of ``X`` with the rendered rows in place of their originals (a row whose
        image does not read back as one piece keeps its original).
    n_rendered : int
        How many rows were replaced.

    Raises
    ------
    UsageError
        ``X`` is not MNIST-shaped, or ``share`` is outside 0..1.
    """
    rng = np.random.default_rng([int(random_state), 3])
    return _rows_replaced(X, share, input_max, rng, (random_state, 3), _render_chunk, "Rendering digits", n_jobs, progress)
