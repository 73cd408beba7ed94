"""Fit a recipe on a split, with progress, and write the model bundle.

`train` builds the recipe's estimator, fits it on the split's training part,
scores it on the test part and keeps the training history. `save_trained` writes
the bundle: ONNX for the networks (torch is then never needed to use them), skops
for scikit-learn estimators, and a ``card.json`` that says exactly how the model
was made (recipe, data and its hash, metrics, history, versions, command).
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from digitrec.errors import UsageError
from digitrec.progress import ProgressFn, null_progress
from digitrec.recipes import get_recipe

__all__ = ["TrainResult", "train", "save_trained", "build_card", "history_columns", "DEFAULT_THRESHOLD"]

#: The "uncertain" threshold written for models that have no validation part to
#: choose one from (the scikit-learn recipes); the recogniser may override it.
DEFAULT_THRESHOLD = 0.5


@dataclass
class TrainResult:
    """A fitted recipe and what happened while fitting it.

    Attributes
    ----------
    estimator : estimator
        The fitted model.
    recipe : str
    split : digitrec.datasets.Split
        The data it was trained and tested on.
    history : list of dict
        Per epoch (networks) or iteration (MLPs): ``train_loss`` and, for the
        networks, ``valid_loss`` and ``valid_acc``. Empty for SVC and k-NN.
    seconds : float
        Wall-clock seconds spent in ``fit``.
    cpu_seconds : float
        CPU seconds of this process during ``fit`` (all threads), a load-independent figure.
    metrics : dict
        ``accuracy`` and ``n`` on the split's test part.
    seed : int or None
        The seed applied to every ``random_state``, or None for the recipe's own.
    overrides : dict
        ``set_params`` values applied to the recipe.
    """

    estimator: Any
    recipe: str
    split: Any = field(repr=False)
    history: list[dict]
    seconds: float
    cpu_seconds: float
    metrics: dict
    seed: int | None = None
    overrides: dict = field(default_factory=dict)


def _apply_seed(estimator, seed: int) -> None:
    keys = [k for k in estimator.get_params(deep=True) if k == "random_state" or k.endswith("__random_state")]
    if keys:
        estimator.set_params(**{k: seed for k in keys})


def _find_mlp(estimator):
    """The MLPClassifier inside a recipe's estimator, if there is one."""
    from sklearn.neural_network import MLPClassifier

    seen = estimator
    for _ in range(4):
        if isinstance(seen, MLPClassifier):
            return seen
        if hasattr(seen, "steps"):
            seen = seen.steps[-1][1]
        elif hasattr(seen, "estimator"):
            seen = seen.estimator
        else:
            return None
    return None


_ITERATION = re.compile(r"Iteration (\d+), loss = ([0-9.eE+-]+)")


class _IterationReader(io.TextIOBase):
    """A stdout stand-in that turns scikit-learn's ``Iteration N, loss = X`` lines into progress."""

    def __init__(self, progress: ProgressFn, total: int) -> None:
        self.progress = progress
        self.total = total
        self.losses: list[float] = []
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            match = _ITERATION.search(line)
            if match:
                self.losses.append(float(match.group(2)))
                self.progress("Training", int(match.group(1)), self.total, loss=float(match.group(2)))
        return len(text)


@contextlib.contextmanager
def _mlp_iterations(estimator, progress: ProgressFn) -> Iterator[_IterationReader | None]:
    """Report an MLP's iterations while it fits, from its own verbose lines.

    Turning ``verbose`` on only makes scikit-learn print; the fitted weights are
    the same (no warm starts, no extra calls). ``verbose`` is restored afterwards.
    """
    mlp = _find_mlp(estimator)
    if mlp is None:
        yield None
        return
    old = mlp.verbose
    reader = _IterationReader(progress, int(mlp.max_iter))
    mlp.verbose = True
    try:
        with contextlib.redirect_stdout(reader):
            yield reader
    finally:
        mlp.verbose = old


def _fit(estimator, X, y, progress: ProgressFn) -> list[dict]:
    from digitrec.cnn import DigitCNN
    from digitrec.pairs import PairReader

    if isinstance(estimator, (DigitCNN, PairReader)):
        estimator.fit(X, y, progress=progress)
        return list(estimator.history_)
    from threadpoolctl import threadpool_limits

    # One BLAS thread: the same sums in the same order on every machine (so the same
    # model), and no spinning threads fighting for a busy CPU.
    with threadpool_limits(limits=1), _mlp_iterations(estimator, progress) as reader:
        if reader is None:
            progress("Training", 0, 1)
        estimator.fit(X, y)
        if reader is None:
            progress("Training", 1, 1)
    mlp = _find_mlp(estimator)
    if mlp is not None:
        # It stopped early (converged): finish the bar at the iterations it ran.
        progress("Training", mlp.n_iter_, mlp.n_iter_, loss=float(mlp.loss_curve_[-1]))
        return [{"epoch": i + 1, "train_loss": float(loss)} for i, loss in enumerate(mlp.loss_curve_)]
    return []


def train(
    recipe_name: str,
    split,
    *,
    seed: int | None = None,
    progress: ProgressFn = null_progress,
    overrides: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Fit a recipe on a split's training part and score it on the test part.

    Parameters
    ----------
    recipe_name : str
        A name from `digitrec.recipes.RECIPES`.
    split : digitrec.datasets.Split or str
        The data, or a split name for `digitrec.datasets.load_split`.
    seed : int, optional
        Sets every ``random_state`` of the estimator; None keeps the recipe's own
        (the tutorial's network keeps the seed's ``random_state=1``).
    progress : ProgressFn
        ``progress("Training", epoch_or_iteration, total, loss=..., valid_acc=...)``.
    overrides : mapping, optional
        ``set_params`` values, e.g. ``{"max_epochs": 1}``.

    Returns
    -------
    TrainResult

    Raises
    ------
    UnknownRecipeError
        No such recipe.
    UsageError
        The split's input format is not the recipe's, or an override does not apply.
    """
    recipe = get_recipe(recipe_name)
    if isinstance(split, str):
        from digitrec.datasets import load_split

        split = load_split(split)
    if split.input_format != recipe.input_format:
        raise UsageError(
            f"recipe {recipe.name!r} reads {recipe.input_format} samples but split {split.name!r} holds "
            f"{split.input_format}; use --dataset {recipe.default_dataset}"
        )
    overrides = dict(overrides or {})
    estimator = recipe.build(**overrides)
    if seed is not None:
        _apply_seed(estimator, int(seed))
    start, cpu_start = time.perf_counter(), time.process_time()
    history = _fit(estimator, split.X_train, split.y_train, progress)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    # A model that reads something else than digits (pairs) is scored on that, made from the test digits.
    X_test, y_test = estimator.test_set(split.X_test, split.y_test) if hasattr(estimator, "test_set") else (
        split.X_test, split.y_test)
    predicted = estimator.predict(X_test)
    metrics = {
        "accuracy": float(np.mean(predicted == y_test)),
        "n": int(len(y_test)),
        "errors": int(np.sum(predicted != y_test)),
        "split": split.name,
    }
    return TrainResult(estimator, recipe.name, split, history, seconds, cpu_seconds, metrics, seed, overrides)


def _weights(estimator) -> tuple[bytes, str]:
    from digitrec.cnn import DigitCNN

    estimator = getattr(estimator, "network_", estimator)  # a pair reader exports its network
    if isinstance(estimator, DigitCNN):
        from digitrec.cnn import to_onnx

        return to_onnx(estimator), "onnx"
    from digitrec.bundle import skops_bytes

    return skops_bytes(estimator), "skops"


def build_card(result: TrainResult, *, name: str, command: str | None) -> dict:
    """The ``card.json`` content for a trained model (without the weights entry)."""
    from digitrec.bundle import library_versions

    estimator = result.estimator
    recipe = get_recipe(result.recipe)
    split = result.split
    card: dict[str, Any] = {
        "name": name,
        "recipe": recipe.name,
        "description": recipe.description,
        "input_format": getattr(estimator, "input_format_", recipe.input_format),
        "classes": [int(c) for c in estimator.classes_],
        # A DigitCNN trained with negatives has a last "not a single digit" output.
        "reject_class": bool(getattr(estimator, "reject_class_", False)),
        "training": {
            "dataset": split.name.split("/")[0],
            "split": split.name,
            "n_train": int(split.n_train),
            "sha256": split.sha256,
            "seed": result.seed,
            "overrides": {k: _plain(v) for k, v in result.overrides.items()},
            "seconds": round(result.seconds, 2),
            "cpu_seconds": round(result.cpu_seconds, 2),
        },
        "params": {k: _plain(v) for k, v in sorted(_top_params(estimator).items())},
        "metrics": {"test": dict(result.metrics)},
        "history": history_columns(result.history),
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }
    card["metrics"]["accuracy"] = result.metrics["accuracy"]
    card["metrics"]["n"] = result.metrics["n"]
    if hasattr(estimator, "temperature_"):
        card["temperature"] = float(estimator.temperature_)
        card["temperature_applied"] = "inside the ONNX graph: softmax(logits / temperature)"
        card["threshold"] = float(estimator.threshold_)
        card["calibration"] = dict(estimator.calibration_)
    else:
        card["temperature"] = 1.0
        card["temperature_applied"] = "none: the estimator's own predict_proba"
        card["threshold"] = DEFAULT_THRESHOLD
        card["calibration"] = {"threshold": f"default {DEFAULT_THRESHOLD}, not measured (no validation part)"}
    return card


def history_columns(history: list[dict]) -> dict[str, list[float]]:
    """Per-epoch rows as the card stores them: one list per curve (``train_loss``, ``valid_acc``, ...).

    Epoch durations are left out: they depend on the machine's load, and the card
    should come out the same when the command is run again.
    """
    keys = [k for k in ("train_loss", "valid_loss", "valid_acc") if any(k in row for row in history)]
    return {k: [float(row[k]) for row in history if k in row] for k in keys}


def _top_params(estimator) -> dict:
    return {k: v for k, v in estimator.get_params(deep=False).items() if _plain(v) is not None or v is None}


def _plain(value: Any) -> Any:
    """A JSON-ready form of a parameter value, or its repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)


def save_trained(result: TrainResult, out: str | Path, *, name: str | None = None, command: str | None = None) -> Path:
    """Write a trained model as a bundle (folder, or ``.zip`` if ``out`` ends so).

    Parameters
    ----------
    result : TrainResult
        From `train`.
    out : path-like
        The bundle folder (replaced atomically) or ``.zip`` file.
    name : str, optional
        The model's name; default: the folder's name.
    command : str, optional
        The exact command line that made it, recorded in the card.

    Returns
    -------
    Path
    """
    from digitrec.bundle import save_bundle

    out = Path(out)
    name = name or (out.stem if out.suffix == ".zip" else out.name)
    weights, fmt = _weights(result.estimator)
    card = build_card(result, name=name, command=command)
    return save_bundle(out, weights=weights, weights_format=fmt, card=card)
