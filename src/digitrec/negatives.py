"""Training examples of "not a single digit", for a model's reject output.

A recogniser that can only answer with a digit calls a letter, a scribble or two
touching digits a confident digit. `make_negatives` makes, seeded, the samples a
model's extra "not a single digit" class is trained on, with the same code that
makes its recognition inputs:

* letters, symbols, scribbles and smudges drawn by `digitrec.synth` on a drawing pad
  with a random pen (`digitrec.redrawn.pen_factor`: fine, as drawn, or a marker)
  and passed through `digitrec.preprocess.prepare` (renders it reads as one
  piece; that piece's sample is the negative). Letters and symbols use only the DejaVu Sans faces
  (`training_fonts`), so the Serif and Mono faces stay a held-out test
  (``benchmarks/bench_realistic.py --fonts Serif,Mono``);
* two training digits side by side, touching or overlapping, cropped as one box;
* fragments: the left or right 40-60% of a training digit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from digitrec.errors import UsageError
from digitrec.preprocess import _trim
from digitrec.progress import ProgressFn, null_progress

__all__ = ["NEGATIVE_KINDS", "make_negatives", "render_non_digits", "training_fonts"]

#: The kinds of negatives, in the order their shares are filled.
NEGATIVE_KINDS: tuple[str, ...] = ("rendered", "pair", "fragment")
#: Share of each kind (rendered non-digits, touching pairs, fragments).
SHARES: tuple[float, ...] = (0.5, 0.25, 0.25)
#: The synth non-digit kinds rendered ("blank" and "noise" give no ink piece to learn from).
RENDERED_KINDS: tuple[str, ...] = ("letter", "symbol", "scribble", "smudge")

_FORMATS = {784: "mnist", 64: "optdigits"}


def training_fonts() -> tuple[str, ...]:
    """The DejaVu Sans faces (not Mono, not Serif): the only fonts negatives are drawn in."""
    from digitrec.synth import font_paths

    return tuple(
        p for p in font_paths() if "Sans" in os.path.basename(p) and not any(w in os.path.basename(p) for w in ("Mono", "Serif"))
    )


def _digit_ink(x: np.ndarray, side: int, input_max: float) -> np.ndarray:
    return np.clip(np.asarray(x, np.float32).reshape(side, side) / input_max, 0, 1)


def _pair(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two digit inks side by side, from overlapping by a quarter of the first's width to just touching."""
    a, b = _trim(a), _trim(b)
    if a.size == 0 or b.size == 0:
        return a if b.size == 0 else b
    gap = int(rng.integers(-max(1, a.shape[1] // 4), 1))
    dy = int(rng.integers(-2, 3))
    height = max(a.shape[0], b.shape[0]) + 2 * abs(dy)
    width = a.shape[1] + gap + b.shape[1]
    out = np.zeros((height, max(width, a.shape[1], b.shape[1])), np.float32)
    top_a = (height - a.shape[0]) // 2
    top_b = int(np.clip((height - b.shape[0]) // 2 + dy, 0, height - b.shape[0]))
    out[top_a : top_a + a.shape[0], : a.shape[1]] = a
    left_b = a.shape[1] + gap
    region = out[top_b : top_b + b.shape[0], left_b : left_b + b.shape[1]]
    np.maximum(region, b, out=region)
    return out


def _fragment(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The left or right 40-60% of a digit's ink (empty when the digit is too narrow).

    A narrow digit (a 1) or a narrow slice of any digit looks like a whole 1: such
    fragments would teach the model to reject real ones, so they are not made.
    """
    ink = _trim(ink)
    if ink.size == 0 or ink.shape[1] < 0.75 * ink.shape[0]:
        return ink[:0, :0]
    keep = max(1, round(ink.shape[1] * rng.uniform(0.4, 0.6)))
    part = _trim(ink[:, :keep] if rng.random() < 0.5 else ink[:, ink.shape[1] - keep :])
    if part.size == 0 or part.shape[1] < 0.45 * part.shape[0]:
        return ink[:0, :0]
    return part


def _fragments(X: np.ndarray, count: int, side: int, input_max: float, rng: np.random.Generator, formatter) -> list:
    out: list[np.ndarray] = []
    for _ in range(50 * count + 10):
        if len(out) >= count:
            break
        part = _fragment(_digit_ink(X[rng.integers(len(X))], side, input_max), rng)
        if part.size:
            out.append(formatter(part))
    return out


#: Rendered negatives per chunk of work (`digitrec.parallel.map_chunks`).
CHUNK = 250


def render_non_digits(
    count: int, rng: np.random.Generator, fonts: tuple[str, ...], read: Callable[[Any], Any]
) -> list:
    """Letters, symbols, scribbles and smudges drawn on a pad with a random pen, as ``read`` takes them.

    Parameters
    ----------
    count : int
        How many to keep (fewer if too many renders are refused).
    rng : numpy.random.Generator
    fonts : tuple of str
        Fonts for letters and symbols.
    read : callable
        ``read(image)``: the sample made of a render, or None to refuse it.

    Returns
    -------
    list
        What ``read`` gave, in order.
    """
    from digitrec import synth
    from digitrec.redrawn import pen_factor

    kept: list = []
    attempts = 0
    while len(kept) < count and attempts < 4 * count + 10:
        kind = RENDERED_KINDS[attempts % len(RENDERED_KINDS)]
        attempts += 1
        # Drawn on a pad with a random pen: the photo styles would cost ten times as
        # long, and the network is given the same kind of sample either way.
        image = synth.render_pen(synth.non_digit_ink(kind, rng, fonts=fonts), rng, pen_factor(rng))
        sample = read(image)
        if sample is not None:
            kept.append(sample)
    return kept


def _render_chunk(
    count: int, fmt: str, fonts: tuple[str, ...], seed: np.random.SeedSequence
) -> list[np.ndarray]:
    """``count`` rendered non-digits (fewer if too many renders break into pieces)."""
    from digitrec.redrawn import prepared_sample

    # Only renders read as one piece: the pieces of a "%" or an "i" (a small ring,
    # a bar, a dot) look like a 0 or a 1 and would teach the model to reject those.
    return render_non_digits(count, np.random.default_rng(seed), fonts, lambda image: prepared_sample(image, fmt))


def make_negatives(
    X_digits: np.ndarray,
    n: int,
    *,
    input_max: float = 1.0,
    random_state: int = 0,
    fonts: tuple[str, ...] | None = None,
    n_jobs: int = 1,
    progress: ProgressFn = null_progress,
) -> np.ndarray:
    """Make ``n`` "not a single digit" samples in the input format of ``X_digits``.

    Parameters
    ----------
    X_digits : ndarray of shape (n_samples, 784) or (n_samples, 64)
        Training digits (flattened MNIST or optdigits images); pairs and fragments
        are made from them, and their width picks the format of the output.
    n : int
        How many negatives.
    input_max : float, default=1.0
        Full ink in ``X_digits`` (1 for MNIST, 16 for optdigits).
    random_state : int, default=0
        The same seed and inputs give the same negatives.
    fonts : tuple of str, optional
        Fonts for letters and symbols; default `training_fonts()`.
    n_jobs : int, default=1
        Worker processes for the rendered part (a few ms each); the result does not depend on it.
    progress : ProgressFn, optional
        ``progress("Making negatives", done, n)`` as chunks finish and at the end.

    Returns
    -------
    ndarray of shape (n, n_features), float32
        Half rendered non-digits, a quarter touching pairs, a quarter fragments
        (any shortfall, from tiny inputs, is made up with more pairs).

    Raises
    ------
    UsageError
        ``X_digits`` is not in a known format, or holds no digits.
    """
    from digitrec.parallel import chunk_seeds, map_chunks
    from digitrec.preprocess import FORMATTERS

    X_digits = np.asarray(X_digits, dtype=np.float32)
    if X_digits.ndim != 2 or X_digits.shape[1] not in _FORMATS or len(X_digits) == 0:
        raise UsageError(
            f"negatives are made for MNIST (784) or optdigits (64) samples, got an array of shape {X_digits.shape}"
        )
    n = int(n)
    n_features = X_digits.shape[1]
    fmt = _FORMATS[n_features]
    formatter = FORMATTERS[fmt]
    side = round(np.sqrt(n_features))
    fonts = training_fonts() if fonts is None else tuple(fonts)
    rng = np.random.default_rng(int(random_state))
    counts = [int(n * s) for s in SHARES]
    counts[0] += n - sum(counts)
    out: list[np.ndarray] = []

    starts = range(0, counts[0], CHUNK)
    chunks = [
        (min(CHUNK, counts[0] - start), fmt, fonts, seed)
        for start, seed in zip(starts, chunk_seeds(random_state, 2, len(starts)))
    ]
    rendered = map_chunks(
        _render_chunk, chunks, n_jobs=n_jobs, progress=progress, description="Making negatives", total=n
    )
    out.extend(rendered[: counts[0]])

    for _ in range(counts[1]):
        i, j = rng.integers(len(X_digits), size=2)
        a, b = _digit_ink(X_digits[i], side, input_max), _digit_ink(X_digits[j], side, input_max)
        out.append(formatter(_pair(a, b, rng)))
    out.extend(_fragments(X_digits, counts[2], side, input_max, rng, formatter))
    while len(out) < n:
        # Too few rendered pieces or wide digits (tiny inputs): more touching pairs.
        i, j = rng.integers(len(X_digits), size=2)
        out.append(formatter(_pair(_digit_ink(X_digits[i], side, input_max), _digit_ink(X_digits[j], side, input_max), rng)))
    progress("Making negatives", n, n)
    if not out:
        return np.zeros((0, n_features), np.float32)
    return np.stack(out).astype(np.float32)
