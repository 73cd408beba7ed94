"""How good a model is on a test set: the metrics, and a report folder showing them.

`evaluate` runs any loaded `~digitrec.bundle.Bundle` over samples already in its
input format and returns an `Evaluation` (accuracy, confusion matrix, per-class
precision/recall/F1, the misclassified samples, speed). `write_report` turns it
into a folder a person opens in a browser::

    metrics.json        Evaluation.to_dict()
    confusion.png       the confusion matrix
    per_class.png       precision and recall per digit
    curves.png          loss and accuracy per epoch (when the bundle recorded them)
    misclassified.png   the wrong answers, with true and predicted labels
    hidden_weights.png  an MLP's first-layer weights as images (MLPs only)
    index.html          all of the above on one self-contained page
"""

from __future__ import annotations

import html
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitrec.bundle import INPUT_FORMATS, Bundle
from digitrec.errors import UsageError
from digitrec.fileio import atomic_directory
from digitrec.progress import ProgressFn, null_progress

__all__ = ["Evaluation", "evaluate", "write_report", "image_shape", "training_history", "mlp_first_layer"]

#: Samples per `Bundle.predict_proba` call: big enough for full speed, small
#: enough that the progress bar moves on MNIST's 10 000 test images.
BATCH = 1024

#: The most misclassified images and hidden units a report draws; more is unreadable.
MAX_MISCLASSIFIED_SHOWN = 100
MAX_HIDDEN_UNITS_SHOWN = 64


@dataclass
class Evaluation:
    """A model's results on one test set.

    Attributes
    ----------
    model : str
        The bundle's name.
    input_format : str
        The model's input format.
    split : str or None
        The dataset split evaluated on (e.g. ``"digits/tutorial"``), when known.
    classes : list of int
        The digits, in the order of the confusion matrix's rows and columns.
    n : int
        Number of test samples.
    accuracy : float
        Fraction predicted right.
    confusion : ndarray of shape (n_classes, n_classes)
        ``confusion[i, j]`` counts samples of digit ``classes[i]`` predicted as ``classes[j]``.
    per_class : list of dict
        For each digit: ``digit``, ``precision``, ``recall``, ``f1``, ``support``.
    misclassified : list of dict
        For each wrong answer, in test-set order: ``index``, ``true``, ``predicted``,
        ``confidence`` (the probability given to the predicted digit).
    seconds : float
        Time spent predicting.
    predictions_per_second : float
        ``n / seconds``.
    rejected : int or None
        For models with a reject output: how many samples it rated "not a single
        digit" above every digit (they still count by their best digit).
    predicted : ndarray of int
        The predicted digit for every sample.
    confidence : ndarray of float
        The probability of each predicted digit.
    """

    model: str
    input_format: str
    split: str | None
    classes: list[int]
    n: int
    accuracy: float
    confusion: np.ndarray
    per_class: list[dict[str, Any]]
    misclassified: list[dict[str, Any]]
    seconds: float
    predictions_per_second: float
    rejected: int | None = None
    predicted: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, dtype=int))
    confidence: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))

    @property
    def macro_f1(self) -> float:
        """The unweighted mean of the per-digit F1 scores."""
        return float(np.mean([row["f1"] for row in self.per_class])) if self.per_class else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``metrics.json`` and ``digitrec evaluate --json``."""
        out: dict[str, Any] = {
            "model": self.model,
            "input_format": self.input_format,
            "split": self.split,
            "n": self.n,
            "accuracy": self.accuracy,
            "errors": len(self.misclassified),
            "macro_f1": self.macro_f1,
            "classes": list(self.classes),
            "confusion": self.confusion.tolist(),
            "per_class": self.per_class,
            "seconds": self.seconds,
            "predictions_per_second": self.predictions_per_second,
            "misclassified": self.misclassified,
        }
        if self.rejected is not None:
            out["rejected"] = self.rejected
        return out


def evaluate(
    bundle: Bundle,
    X: np.ndarray,
    y: np.ndarray,
    *,
    split: str | None = None,
    progress: ProgressFn = null_progress,
) -> Evaluation:
    """Predict every sample of a test set and measure how well the model did.

    Parameters
    ----------
    bundle : Bundle
        A loaded model bundle (ONNX or skops).
    X : ndarray of shape (n_samples, n_features)
        Test samples, already in ``bundle.input_format``.
    y : array-like of int, shape (n_samples,)
        The true digits.
    split : str, optional
        The split's name, recorded in the result.
    progress : ProgressFn, default=null_progress
        Told after each batch of predictions.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> from digitrec.bundle import load_bundle                 # doctest: +SKIP
    >>> result = evaluate(load_bundle("bundles/tiny"), X, y)    # doctest: +SKIP
    >>> round(result.accuracy, 3)                               # doctest: +SKIP
    0.912
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    X = np.asarray(X)
    y = np.asarray(y).astype(int, copy=False).ravel()
    if len(X) == 0:
        raise UsageError("the test set is empty; evaluate on a split with test samples")
    if len(X) != len(y):
        raise UsageError(f"the test set has {len(X)} samples but {len(y)} labels; give one label per sample")
    width = INPUT_FORMATS[bundle.input_format]
    if X.reshape(len(X), -1).shape[1] != width:
        raise UsageError(
            f"model {bundle.name!r} reads {_describe_format(bundle.input_format)} images "
            f"({width} values each), but the test samples have {X.reshape(len(X), -1).shape[1]}"
        )
    classes = bundle.classes
    unknown = sorted(set(np.unique(y).tolist()) - set(classes))
    if unknown:
        raise UsageError(f"the labels hold {unknown}, which model {bundle.name!r} cannot predict (it knows {classes})")

    # One untimed call first: onnxruntime and NumPy pay one-off set-up costs on
    # the first run, which would understate the speed of a small test set.
    bundle.predict_proba(X[:1])
    batches = []
    seconds = 0.0
    progress("predicting", 0, len(X))
    for start in range(0, len(X), BATCH):
        began = time.perf_counter()
        batches.append(bundle.predict_proba(X[start : start + BATCH]))
        seconds += time.perf_counter() - began
        progress("predicting", min(start + BATCH, len(X)), len(X))
    proba = np.concatenate(batches)

    # A reject column ("not a single digit") is not an answer here: every test
    # sample is a digit, so the best digit column is the model's answer.
    digit_proba = proba[:, : len(classes)]
    best = digit_proba.argmax(axis=1)
    predicted = np.asarray(classes)[best]
    confidence = digit_proba[np.arange(len(best)), best]
    rejected = int((proba[:, -1] > digit_proba.max(axis=1)).sum()) if bundle.has_reject else None

    confusion = confusion_matrix(y, predicted, labels=classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, predicted, labels=classes, zero_division=0
    )
    per_class = [
        {"digit": int(c), "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, precision, recall, f1, support)
    ]
    wrong = np.flatnonzero(predicted != y)
    misclassified = [
        {"index": int(i), "true": int(y[i]), "predicted": int(predicted[i]), "confidence": float(confidence[i])}
        for i in wrong
    ]
    return Evaluation(
        model=bundle.name,
        input_format=bundle.input_format,
        split=split,
        classes=list(classes),
        n=len(y),
        accuracy=float(np.mean(predicted == y)),
        confusion=confusion,
        per_class=per_class,
        misclassified=misclassified,
        seconds=seconds,
        predictions_per_second=len(y) / seconds if seconds > 0 else float("inf"),
        rejected=rejected,
        predicted=predicted,
        confidence=confidence,
    )


def image_shape(input_format: str) -> tuple[int, int]:
    """The 2-D shape of one sample of ``input_format``: (28, 28) for mnist, (8, 8) for optdigits."""
    side = int(round(np.sqrt(INPUT_FORMATS[input_format])))
    return side, side


def _describe_format(input_format: str) -> str:
    height, width = image_shape(input_format)
    return f"{input_format} {height}x{width}"


def training_history(bundle: Bundle) -> dict[str, list[float]]:
    """The per-epoch curves a bundle recorded, or an empty dict.

    ``card["history"]`` (written by `digitrec.training`) comes first; a scikit-learn
    MLP without it still has its own ``loss_curve_`` (and ``validation_scores_``
    when it stopped early), which are the same curves.
    """
    history = bundle.card.get("history")
    if isinstance(history, dict):
        curves = {
            str(key): [float(v) for v in values]
            for key, values in history.items()
            if isinstance(values, list) and values and all(isinstance(v, (int, float)) for v in values)
        }
        if curves:
            return curves
    estimator = _final_step(bundle.estimator)
    curves = {}
    if getattr(estimator, "loss_curve_", None):
        curves["loss"] = [float(v) for v in estimator.loss_curve_]
    if getattr(estimator, "validation_scores_", None):
        curves["valid_acc"] = [float(v) for v in estimator.validation_scores_ if v is not None]
    return curves


def _final_step(estimator: Any) -> Any:
    """The estimator at the end of a Pipeline (or the estimator itself)."""
    steps = getattr(estimator, "steps", None)
    if steps:
        return _final_step(steps[-1][1])
    return estimator


def mlp_first_layer(bundle: Bundle) -> np.ndarray | None:
    """An MLP's first-layer weights, one row per hidden unit, or None for other models.

    Returned only when the layer reads the image's pixels one to one (a Pipeline
    may scale them first, but a PCA in front would make the weights no image).

    Returns
    -------
    ndarray of shape (n_hidden, n_pixels) or None
    """
    from sklearn.neural_network import MLPClassifier

    estimator = _final_step(bundle.estimator)
    if not isinstance(estimator, MLPClassifier) or not hasattr(estimator, "coefs_"):
        return None
    weights = np.asarray(estimator.coefs_[0]).T
    if weights.shape[1] != INPUT_FORMATS[bundle.input_format]:
        return None
    return weights


def _images_of(X: np.ndarray, input_format: str) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    return X.reshape((len(X), *image_shape(input_format)))


def write_report(
    evaluation: Evaluation,
    bundle: Bundle,
    X: np.ndarray,
    y: np.ndarray,
    out_dir: str | Path,
    *,
    images: np.ndarray | None = None,
    progress: ProgressFn = null_progress,
) -> Path:
    """Write the report folder (metrics, figures, ``index.html``) atomically.

    Parameters
    ----------
    evaluation : Evaluation
        What `evaluate` returned for ``bundle`` on ``X``, ``y``.
    bundle : Bundle
        The model evaluated (its card gives the curves; an MLP gives its weights).
    X : ndarray of shape (n_samples, n_features)
        The test samples, in the model's input format.
    y : array-like of int
        The true digits.
    out_dir : path-like
        The report folder; an existing one is replaced whole once the new one is complete.
    images : ndarray of shape (n_samples, height, width), optional
        What to draw for each sample (default: ``X`` reshaped to 8x8 or 28x28).
    progress : ProgressFn, default=null_progress
        Told after each figure.

    Returns
    -------
    Path
        The report folder; open its ``index.html``.
    """
    from digitrec import plots

    y = np.asarray(y).astype(int, copy=False).ravel()
    if len(y) != evaluation.n or len(X) != evaluation.n:
        raise UsageError(
            f"the report needs the {evaluation.n} samples that were evaluated, got {len(X)} samples and {len(y)} labels"
        )
    images = _images_of(X, bundle.input_format) if images is None else np.asarray(images, dtype=float)
    if len(images) != evaluation.n:
        raise UsageError(f"give one image per test sample: got {len(images)} images for {evaluation.n} samples")
    history = training_history(bundle)
    hidden = mlp_first_layer(bundle)

    figures: dict[str, Any] = {
        "confusion.png": lambda: plots.plot_confusion(evaluation.confusion, evaluation.classes),
        "per_class.png": lambda: plots.plot_per_class(evaluation.per_class),
    }
    if history:
        figures["curves.png"] = lambda: plots.plot_history(history)
    if evaluation.misclassified:
        # The most confident mistakes first: those are the telling ones.
        shown = sorted(evaluation.misclassified, key=lambda row: -row["confidence"])[:MAX_MISCLASSIFIED_SHOWN]
        figures["misclassified.png"] = lambda: plots.plot_misclassified(
            images[[row["index"] for row in shown]],
            [row["true"] for row in shown],
            [row["predicted"] for row in shown],
            [row["confidence"] for row in shown],
        )
    if hidden is not None:
        figures["hidden_weights.png"] = lambda: plots.plot_hidden_weights(
            hidden[:MAX_HIDDEN_UNITS_SHOWN], image_shape(bundle.input_format)
        )

    out_dir = Path(out_dir)
    total = len(figures) + 1
    progress("report", 0, total)
    with atomic_directory(out_dir) as tmp:
        # mkdtemp makes the folder private (0700); a report is meant to be shared or served.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        metrics = evaluation.to_dict()
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        for done, (name, draw) in enumerate(figures.items(), start=1):
            fig = draw()
            fig.savefig(tmp / name, dpi=100)
            progress("report", done, total)
        (tmp / "index.html").write_text(
            _index_html(evaluation, bundle, list(figures), history_missing=not history), encoding="utf-8"
        )
        progress("report", total, total)
    return out_dir


_CAPTIONS = {
    "confusion.png": "Confusion matrix: rows are the true digits, columns the model's answers.",
    "per_class.png": "Precision and recall for each digit.",
    "curves.png": "Loss and accuracy after each training epoch.",
    "misclassified.png": (
        f"Misclassified test images (at most {MAX_MISCLASSIFIED_SHOWN}), the most confident mistakes first: "
        "true → predicted (confidence)."
    ),
    "hidden_weights.png": (
        f"The first hidden layer's weights, one image per hidden unit (at most {MAX_HIDDEN_UNITS_SHOWN}); "
        "red: ink there raises the unit, blue: lowers it."
    ),
}


def _index_html(evaluation: Evaluation, bundle: Bundle, figures: list[str], *, history_missing: bool) -> str:
    """One self-contained page: inline CSS, images linked relatively, no external assets."""
    esc = html.escape
    card = bundle.card
    summary = [
        ("model", f"{evaluation.model} (recipe {card.get('recipe', '?')})"),
        ("input format", _describe_format(evaluation.input_format)),
        ("test set", f"{evaluation.split or 'given samples'}, {evaluation.n} images"),
        ("accuracy", f"{evaluation.accuracy:.4f} ({evaluation.n - len(evaluation.misclassified)}/{evaluation.n})"),
        ("macro F1", f"{evaluation.macro_f1:.4f}"),
        ("predictions per second", f"{evaluation.predictions_per_second:,.0f}"),
    ]
    if evaluation.rejected is not None:
        summary.append(("rated “not a digit”", str(evaluation.rejected)))
    trained = card.get("training") or {}
    if isinstance(trained, dict) and trained.get("dataset"):
        summary.append(("trained on", f"{trained.get('dataset')} {trained.get('split', '')}".strip()))
    rows = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary)
    per_class = "\n".join(
        f"<tr><td>{r['digit']}</td><td>{r['precision']:.3f}</td><td>{r['recall']:.3f}</td>"
        f"<td>{r['f1']:.3f}</td><td>{r['support']}</td></tr>"
        for r in evaluation.per_class
    )
    sections = "\n".join(
        f'<figure><img src="{esc(name)}" alt="{esc(name[:-4])}">'
        f"<figcaption>{esc(_CAPTIONS[name])}</figcaption></figure>"
        for name in figures
    )
    notes = []
    if history_missing:
        notes.append("This bundle recorded no training curves, so there is no curves.png.")
    if not evaluation.misclassified:
        notes.append("Every test image was classified correctly.")
    note_html = "".join(f"<p class=note>{esc(n)}</p>" for n in notes)
    title = f"digitrec report: {evaluation.model}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: .3rem .7rem; text-align: left; }}
th {{ background: #f4f4f4; }}
figure {{ margin: 2rem 0; }}
img {{ max-width: 100%; height: auto; border: 1px solid #eee; }}
figcaption, .note {{ color: #555; }}
.tables {{ display: flex; gap: 3rem; flex-wrap: wrap; align-items: flex-start; }}
</style>
</head>
<body>
<h1>{esc(title)}</h1>
<div class=tables>
<table>
{rows}
</table>
<table>
<tr><th>digit</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
{per_class}
</table>
</div>
{note_html}
{sections}
<p class=note>Numbers: <a href="metrics.json">metrics.json</a>.</p>
</body>
</html>
"""
