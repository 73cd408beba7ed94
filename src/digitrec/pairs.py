"""Reading two touching digits as one: the pair reader's training data and estimator.

Two digits written so close that their strokes cross ("18", "99", a thick "66") are
one blob of ink. Cut at any column, one half keeps the crossing and the other
misses it, and a single-digit model is sure of neither (docs/benchmarks.md, eighth
session). A pair reader looks at the whole blob instead and answers one of the 100
pairs "00".."99", or "not a pair" (its reject output), the way people read such
blobs. The recogniser asks it only about blobs the digit model rejects or doubts.

`compose` writes training digits side by side, touching or crossing; `make_pair_set`
makes the pair reader's training samples (in `digitrec.preprocess.to_pair`'s format);
`PairReader` trains a `digitrec.cnn.DigitCNN` on them (``digitrec train cnn-pairs``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from digitrec.errors import UsageError
from digitrec.preprocess import PAIR_CLASSES
from digitrec.progress import ProgressFn, null_progress

__all__ = ["NOT_A_PAIR", "compose", "make_pair_set", "PairReader"]

#: The label of the samples that are not two digits (the reject output's class while training).
NOT_A_PAIR = PAIR_CLASSES

#: Shares of the "not a pair" samples among the pairs: one digit alone, three
#: touching digits, and letters, symbols, scribbles and smudges (`digitrec.negatives`).
SINGLE_SHARE, TRIPLE_SHARE, RENDERED_SHARE = 0.10, 0.05, 0.15


def compose(inks: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Digits written side by side, each touching or crossing the one before.

    Each digit is scaled by 0.85-1.15 and moved up or down by up to 3 px; the next one
    starts from a third of the narrower digit's width inside the previous one to just
    past its edge (on a 28x28 digit's scale), so no column between them is empty.

    Parameters
    ----------
    inks : list of ndarray
        The digits' ink, 0..1 (e.g. MNIST images / 255).
    rng : numpy.random.Generator

    Returns
    -------
    ndarray
        The blob's ink, trimmed to its box.
    """
    from digitrec.preprocess import _resize, _trim

    parts = []
    for ink in inks:
        part = _trim(np.asarray(ink, np.float32))
        scale = rng.uniform(0.85, 1.15)
        if part.size and abs(scale - 1) > 0.03:
            part = _resize(part, (max(1, round(part.shape[1] * scale)), max(1, round(part.shape[0] * scale))))
        parts.append(part)
    parts = [p for p in parts if p.size]
    if not parts:
        return np.zeros((0, 0), np.float32)
    shifts = [0] + [int(rng.integers(-3, 4)) for _ in parts[1:]]
    height = max(p.shape[0] for p in parts) + 8
    out = np.zeros((height, sum(p.shape[1] for p in parts) + 2 * len(parts)), np.float32)
    x = 0
    for k, (part, dy) in enumerate(zip(parts, shifts)):
        if k:
            overlap = max(1, int(0.35 * min(parts[k - 1].shape[1], part.shape[1])))
            x += int(rng.integers(-overlap, 1))
        top = (height - part.shape[0]) // 2 + dy
        region = out[top : top + part.shape[0], x : x + part.shape[1]]
        np.maximum(region, part, out=region)
        x += part.shape[1]
    return _trim(out)


def _one_piece_pair(image) -> np.ndarray | None:
    """The pair sample of a render that `prepare` reads as one piece (the crop the recogniser would offer), else None."""
    from digitrec.preprocess import prepare, to_pair

    crops = prepare(image, "mnist").crops
    return to_pair(crops[0]) if len(crops) == 1 else None


def _rendered_chunk(count: int, seed: np.random.SeedSequence) -> list[np.ndarray]:
    """``count`` rendered non-digits read as one piece, in the pair format (fewer if renders break up)."""
    from digitrec.negatives import render_non_digits, training_fonts

    return render_non_digits(count, np.random.default_rng(seed), training_fonts(), _one_piece_pair)


#: Rendered non-digits per chunk of work (`digitrec.parallel.map_chunks`).
CHUNK = 500


def make_pair_set(
    X_digits: np.ndarray,
    y_digits: np.ndarray,
    n_pairs: int,
    *,
    not_pairs: bool = True,
    rendered: bool = True,
    random_state: int = 0,
    n_jobs: int = 1,
    progress: ProgressFn = null_progress,
) -> tuple[np.ndarray, np.ndarray]:
    """Pair-format training samples made from single MNIST digits.

    Parameters
    ----------
    X_digits : ndarray of shape (n_samples, 784)
        MNIST digits, 0..1 or 0..255 (scaled to 0..1 by their maximum).
    y_digits : ndarray of shape (n_samples,)
        Their labels, 0..9.
    n_pairs : int
        How many pairs (`compose`), at least 100: the first 100 are each pair once, so
        every label is there; label ``10 * first + second``.
    not_pairs : bool, default=True
        Also make "not a pair" samples: single digits, three touching digits and (with
        ``rendered``) non-digits, `SINGLE_SHARE`, `TRIPLE_SHARE`, `RENDERED_SHARE` of ``n_pairs``.
    rendered : bool, default=True
        Also render letters, symbols, scribbles and smudges (`RENDERED_SHARE`, a few ms each).
    random_state : int, default=0
    n_jobs : int, default=1
        Worker processes for the rendered part; the result does not depend on it.
    progress : ProgressFn, optional

    Returns
    -------
    X : ndarray of shape (n, 1600), float32
    y : ndarray of shape (n,), int64
        ``NOT_A_PAIR`` for single digits, three touching digits and rendered non-digits.

    Raises
    ------
    UsageError
        ``X_digits`` is not MNIST-shaped or lacks a digit, or ``n_pairs`` is under 100.
    """
    from digitrec.parallel import chunk_seeds, map_chunks
    from digitrec.preprocess import _trim, to_pair

    X_digits = np.asarray(X_digits, np.float32)
    if X_digits.ndim != 2 or X_digits.shape[1] != 784 or len(X_digits) == 0:
        raise UsageError(f"pairs are made from MNIST digits (784 values each), got an array of shape {X_digits.shape}")
    inks = X_digits.reshape(-1, 28, 28) / max(float(X_digits.max()), 1e-6)
    labels = np.asarray(y_digits).astype(np.int64)
    by_digit = [np.flatnonzero(labels == d) for d in range(10)]
    if any(len(rows) == 0 for rows in by_digit):
        raise UsageError("pairs are made from digits of all ten classes; some class has no digit here")
    n_pairs = int(n_pairs)
    if n_pairs < NOT_A_PAIR:
        raise UsageError(f"make at least {NOT_A_PAIR} pairs (one of each), not {n_pairs}")
    rng = np.random.default_rng(int(random_state))
    samples: list[np.ndarray] = []
    targets: list[int] = []
    progress("Making pairs", 0, n_pairs)
    for k in range(n_pairs):
        if k < NOT_A_PAIR:  # each pair once, so every label has a column
            i, j = rng.choice(by_digit[k // 10]), rng.choice(by_digit[k % 10])
        else:
            i, j = rng.integers(len(labels), size=2)
        samples.append(to_pair(compose([inks[i], inks[j]], rng)))
        targets.append(10 * int(labels[i]) + int(labels[j]))
        if (k + 1) % 10000 == 0:
            progress("Making pairs", k + 1, n_pairs)
    for _ in range(int(SINGLE_SHARE * n_pairs) if not_pairs else 0):
        samples.append(to_pair(_trim(inks[rng.integers(len(labels))])))
        targets.append(NOT_A_PAIR)
    for _ in range(max(1, int(TRIPLE_SHARE * n_pairs)) if not_pairs else 0):
        samples.append(to_pair(compose([inks[i] for i in rng.integers(len(labels), size=3)], rng)))
        targets.append(NOT_A_PAIR)
    progress("Making pairs", n_pairs, n_pairs)
    n_rendered = int(RENDERED_SHARE * n_pairs) if not_pairs and rendered else 0
    if n_rendered:
        starts = range(0, n_rendered, CHUNK)
        chunks = [
            (min(CHUNK, n_rendered - start), seed)
            for start, seed in zip(starts, chunk_seeds(int(random_state), 3, len(starts)))
        ]
        made = map_chunks(
            _rendered_chunk, chunks, n_jobs=n_jobs, progress=progress, description="Rendering non-pairs",
            total=n_rendered,
        )
        samples.extend(made)
        targets.extend([NOT_A_PAIR] * len(made))
    return np.stack(samples).astype(np.float32), np.asarray(targets, np.int64)


class PairReader(ClassifierMixin, BaseEstimator):
    """Reads two touching digits as one of the 100 pairs, or says "not a pair".

    Trained on single MNIST digits: `fit` writes them into pairs (`make_pair_set`) and
    trains a `digitrec.cnn.DigitCNN` on the pair format, whose last output is "not a
    pair". Its ONNX export is the network's (`network_`), so recognising needs no torch.

    Parameters
    ----------
    n_pairs : int, default=140000
        Training pairs made from the training digits (plus the "not a pair" samples).
    max_epochs : int, default=4
    rendered : bool, default=True
        Train "not a pair" on rendered letters and symbols too (see `make_pair_set`).
    n_test_pairs : int, default=10000
        Pairs `test_set` makes from the test digits.
    random_state : int, default=0
    threads : int, default=2
        torch threads and worker processes.
    device : {"cpu", "cuda"}, default="cpu"

    Attributes
    ----------
    classes_ : ndarray of shape (100,)
        The pairs 0..99 (``10 * first + second``); the network's last output is "not a pair".
    reject_class_ : bool
        Always True.
    input_format_ : str
        ``"pair"``: the card's input format.
    network_ : DigitCNN
    temperature_, threshold_, calibration_, history_
        The network's.
    """

    input_format_ = "pair"

    def __init__(
        self,
        *,
        n_pairs: int = 140000,
        max_epochs: int = 4,
        rendered: bool = True,
        n_test_pairs: int = 10000,
        random_state: int = 0,
        threads: int = 2,
        device: str = "cpu",
    ) -> None:
        self.n_pairs = n_pairs
        self.max_epochs = max_epochs
        self.rendered = rendered
        self.n_test_pairs = n_test_pairs
        self.random_state = random_state
        self.threads = threads
        self.device = device

    def fit(self, X, y, *, progress: ProgressFn = null_progress) -> PairReader:
        """Make pairs of the digits ``X`` (784 values each) labelled ``y`` and train the network on them."""
        from digitrec.cnn import DigitCNN

        X_pairs, y_pairs = make_pair_set(
            X, y, self.n_pairs, rendered=self.rendered, random_state=self.random_state,
            n_jobs=self.threads, progress=progress,
        )
        # Pairs are not turned much (a row of digits is level) and already vary in size
        # and height; the threshold is the recogniser's business (PAIR_SURE).
        self.network_ = DigitCNN(
            max_epochs=self.max_epochs, shift=2.0, rotation=5.0, zoom=0.1, validation_fraction=0.05,
            random_state=self.random_state, threads=self.threads, device=self.device, threshold=0.5,
        ).fit(X_pairs, y_pairs, progress=progress)
        self.classes_ = np.arange(NOT_A_PAIR)
        self.reject_class_ = True
        self.n_features_in_ = self.network_.n_features_in_
        for name in ("temperature_", "threshold_", "calibration_", "history_"):
            setattr(self, name, getattr(self.network_, name))
        return self

    def test_set(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (no "not a pair" samples) made from held-out digits: what `digitrec train` scores."""
        return make_pair_set(X, y, self.n_test_pairs, not_pairs=False, random_state=self.random_state + 1)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of the 100 pairs and, last, of "not a pair", for pair-format samples."""
        return self.network_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        """The most probable pair (``10 * first + second``), "not a pair" aside."""
        return self.classes_[self.predict_proba(X)[:, :NOT_A_PAIR].argmax(axis=1)]
