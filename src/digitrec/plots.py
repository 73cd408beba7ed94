"""Every matplotlib figure digitrec draws: pure functions returning a ``Figure``.

matplotlib is imported inside each function (the ``[plots]`` extra), with the
non-interactive Agg backend, so importing this module costs nothing and works
on a machine with no display. Callers save the figure (``fig.savefig``) and
close it; nothing here touches ``pyplot``'s global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from digitrec.errors import UsageError, require

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "plot_digit",
    "plot_multi",
    "plot_loss_curve",
    "plot_confusion",
    "plot_per_class",
    "plot_history",
    "plot_misclassified",
    "plot_hidden_weights",
    "plot_loss_match",
    "plot_gradient_check",
    "plot_knob_runs",
    "plot_accuracy_comparison",
]


def _figure(**kwargs: Any) -> Figure:
    """A new Agg-backed Figure, made without pyplot (no global state, no display)."""
    require("matplotlib", "plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _as_square(image: Any) -> np.ndarray:
    """An image as a 2-D array; a flat 64- or 784-vector becomes 8x8 or 28x28."""
    array = np.asarray(image, dtype=float)
    if array.ndim == 1:
        side = int(round(np.sqrt(array.size)))
        if side * side != array.size:
            raise UsageError(
                f"cannot draw a flat image of {array.size} values; give a square image (e.g. 8x8 or 28x28)"
            )
        array = array.reshape(side, side)
    if array.ndim != 2:
        raise UsageError(f"cannot draw an image of shape {array.shape}; give a 2-D image or a flat square one")
    return array


def plot_digit(image: Any, *, title: str | None = None) -> Figure:
    """Draw one digit image in black ink on white, as the tutorial's ``plt.imshow``.

    Parameters
    ----------
    image : array-like
        An 8x8 or 28x28 image, or its flattened row-major vector; high values are ink.
    title : str, optional
        A title above the image.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (640x480 px at 100 dpi, the tutorial's default size).
    """
    fig = _figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot()
    ax.imshow(_as_square(image), cmap="binary")
    if title is not None:
        ax.set_title(title)
    return fig


def plot_multi(images: Any, labels: Sequence[Any], start: int = 0, n: int = 16) -> Figure:
    """Draw ``n`` digits from ``start`` in a grid, each titled with its label.

    This is the tutorial's ``plot_multi(i)``: by default a 4x4 grid of 16 digits,
    black ink on white, axes off.

    Parameters
    ----------
    images : array-like, shape (n_samples, h, w) or (n_samples, h*w)
        The images.
    labels : sequence
        One label per image, shown as its title.
    start : int, default=0
        Index of the first digit drawn.
    n : int, default=16
        How many digits to draw.

    Returns
    -------
    matplotlib.figure.Figure
        The grid figure.
    """
    images = np.asarray(images)
    if n < 1:
        raise UsageError(f"plot_multi needs n >= 1 digits to draw, got {n}")
    if start < 0 or start + n > len(images):
        raise UsageError(f"plot_multi cannot draw digits {start}..{start + n - 1}: there are only {len(images)} images")
    if len(labels) < start + n:
        raise UsageError(f"plot_multi needs a label for each digit drawn: got {len(labels)} labels")
    columns = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    fig = _figure(figsize=(15, 15 * rows / columns))
    for j in range(n):
        ax = fig.add_subplot(rows, columns, j + 1)
        ax.imshow(_as_square(images[start + j]), cmap="binary")
        ax.set_title(str(labels[start + j]))
        ax.axis("off")
    return fig


def plot_loss_curve(losses: Sequence[float], *, title: str = "Training loss") -> Figure:
    """Draw the training loss per iteration (``MLPClassifier.loss_curve_``).

    Parameters
    ----------
    losses : sequence of float
        The loss after each iteration (epoch), first to last.
    title : str, default="Training loss"
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        A line plot of loss against iteration, counted from 1.
    """
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 1 or losses.size == 0:
        raise UsageError("plot_loss_curve needs a non-empty list of losses, one per iteration")
    fig = _figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot()
    ax.plot(np.arange(1, losses.size + 1), losses, marker=".")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig


# --- evaluation report figures (digitrec.evaluation.write_report) ---


def plot_confusion(confusion: Any, labels: Sequence[Any]) -> Figure:
    """Draw a confusion matrix with its counts (scikit-learn's ``ConfusionMatrixDisplay``).

    Parameters
    ----------
    confusion : array-like of shape (n_classes, n_classes)
        ``confusion[i, j]`` counts samples of ``labels[i]`` predicted as ``labels[j]``.
    labels : sequence
        The class names, in row (and column) order.

    Returns
    -------
    matplotlib.figure.Figure
        Rows are the true digits, columns the predicted ones.
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1] or confusion.shape[0] != len(labels):
        raise UsageError(f"plot_confusion needs a square matrix with one row per label, got {confusion.shape}")
    fig = _figure(figsize=(7, 6))
    ax = fig.add_subplot()
    ConfusionMatrixDisplay(confusion, display_labels=list(labels)).plot(
        ax=ax, cmap="Blues", values_format="d", colorbar=True
    )
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"Confusion matrix ({int(confusion.sum())} images)")
    fig.tight_layout()
    return fig


def plot_per_class(per_class: Sequence[dict[str, Any]]) -> Figure:
    """Draw precision and recall for each class as paired bars.

    Parameters
    ----------
    per_class : sequence of dict
        One dict per class with ``digit``, ``precision`` and ``recall``
        (`digitrec.evaluation.Evaluation.per_class`).

    Returns
    -------
    matplotlib.figure.Figure
        The bars; the y axis starts just below the lowest value so small
        differences show, and its label says so.
    """
    if not per_class:
        raise UsageError("plot_per_class needs at least one class")
    digits = [str(row["digit"]) for row in per_class]
    precision = np.array([row["precision"] for row in per_class], dtype=float)
    recall = np.array([row["recall"] for row in per_class], dtype=float)
    # Good models score 0.95..1 everywhere; from 0 every bar would look the same.
    low = max(0.0, np.floor((min(precision.min(), recall.min()) - 0.02) * 20) / 20)
    fig = _figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    x = np.arange(len(digits))
    ax.bar(x - 0.2, precision, width=0.4, label="precision", color="#4c72b0")
    ax.bar(x + 0.2, recall, width=0.4, label="recall", color="#dd8452")
    ax.set_xticks(x, digits)
    ax.set_xlabel("digit")
    ax.set_ylabel("score" if low == 0 else f"score (axis starts at {low:.2f})")
    # Headroom above 1.0 keeps the legend off the bars.
    ax.set_ylim(low, 1.0 + 0.15 * (1.0 - low))
    ax.set_yticks([t for t in ax.get_yticks() if low <= t <= 1.0])
    ax.set_title("Precision and recall per digit")
    ax.legend(loc="upper center", ncol=2)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_history(history: dict[str, Sequence[float]]) -> Figure:
    """Draw training curves: losses on the left, accuracies on the right.

    Parameters
    ----------
    history : dict of str to sequence of float
        Per-epoch values by name, as in a bundle card's ``history``: names with
        ``loss`` in them are losses (``loss``, ``valid_loss``), names with
        ``acc`` or ``score`` are accuracies (``valid_acc``); others are ignored.

    Returns
    -------
    matplotlib.figure.Figure
        One panel for the losses and one for the accuracies (only those present).
    """
    losses = {k: v for k, v in history.items() if "loss" in k and len(v)}
    accuracies = {k: v for k, v in history.items() if ("acc" in k or "score" in k) and "loss" not in k and len(v)}
    panels = [(name, curves) for name, curves in (("loss", losses), ("accuracy", accuracies)) if curves]
    if not panels:
        raise UsageError("plot_history needs at least one curve named like 'loss' or 'valid_acc'")
    fig = _figure(figsize=(6 * len(panels), 4.5))
    for j, (ylabel, curves) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), j)
        for key, values in curves.items():
            values = np.asarray(values, dtype=float)
            ax.plot(np.arange(1, values.size + 1), values, marker="." if values.size <= 50 else None, label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if ylabel == "loss" and all(np.min(v) > 0 for v in curves.values()):
            ax.set_yscale("log")
        ax.set_title(f"{ylabel.capitalize()} per epoch")
        ax.legend()
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_misclassified(
    images: Any,
    true: Sequence[int],
    predicted: Sequence[int],
    confidence: Sequence[float] | None = None,
    *,
    columns: int = 10,
) -> Figure:
    """Draw misclassified digits in a grid, each titled ``true→predicted (confidence)``.

    Parameters
    ----------
    images : array-like, shape (n, h, w) or (n, h*w)
        The images, ink high (drawn black on white).
    true, predicted : sequence of int
        The right digit and the model's answer for each image.
    confidence : sequence of float, optional
        The probability the model gave its answer.
    columns : int, default=10
        Images per row.

    Returns
    -------
    matplotlib.figure.Figure
        The grid.
    """
    images = np.asarray(images)
    if len(images) == 0:
        raise UsageError("plot_misclassified needs at least one image")
    if len(true) != len(images) or len(predicted) != len(images):
        raise UsageError("plot_misclassified needs a true and a predicted label for each image")
    if confidence is not None and len(confidence) != len(images):
        raise UsageError("plot_misclassified needs one confidence per image")
    tiles = np.stack([_as_square(image) for image in images])
    low = tiles.min(axis=(1, 2), keepdims=True)
    span = np.maximum(tiles.max(axis=(1, 2), keepdims=True) - low, 1e-12)
    labels = [
        f"{true[j]}→{predicted[j]}" + (f" ({confidence[j]:.2f})" if confidence is not None else "")
        for j in range(len(tiles))
    ]
    return _mosaic_figure(
        (tiles - low) / span,
        labels,
        columns=columns,
        cmap="binary",
        vmin=0.0,
        vmax=1.0,
        title="true → predicted (confidence)",
        label_color="#b22222",
    )


def _mosaic_figure(
    tiles: np.ndarray,
    labels: Sequence[str],
    *,
    columns: int,
    cmap: str,
    vmin: float,
    vmax: float,
    title: str,
    label_color: str = "black",
    inches_per_tile: float = 1.3,
) -> Figure:
    """Labelled tiles drawn as ONE image in one axes.

    A grid of 100 small axes takes seconds to lay out and save; one mosaic with
    text labels takes a fraction of that and looks the same.
    """
    import matplotlib

    count, height, width = tiles.shape
    columns = max(1, min(columns, count))
    rows = int(np.ceil(count / columns))
    gap = max(1, round(width * 0.15))
    label_room = max(2, round(height * 0.4))
    cell_w, cell_h = width + gap, height + label_room
    # NaN between tiles is drawn as the colormap's "bad" colour: white paper.
    canvas = np.full((rows * cell_h, columns * cell_w - gap), np.nan)
    anchors = []
    for j, tile in enumerate(tiles):
        row, column = divmod(j, columns)
        top, left = row * cell_h + label_room, column * cell_w
        canvas[top : top + height, left : left + width] = tile
        anchors.append((left + (width - 1) / 2, top - 0.6))
    scale = inches_per_tile / cell_w
    title_inches = 0.5
    fig = _figure(figsize=(canvas.shape[1] * scale + 0.2, canvas.shape[0] * scale + title_inches))
    ax = fig.add_axes((0.01, 0.0, 0.98, 1 - title_inches / fig.get_figheight()))
    colours = matplotlib.colormaps[cmap].with_extremes(bad="white")
    ax.imshow(canvas, cmap=colours, vmin=vmin, vmax=vmax, interpolation="nearest")
    for (x, y), label in zip(anchors, labels):
        ax.text(x, y, label, ha="center", va="bottom", fontsize=9, color=label_color)
    ax.set_axis_off()
    fig.suptitle(title, y=1 - 0.1 / fig.get_figheight(), va="top")
    return fig


def plot_hidden_weights(weights: Any, image_shape: tuple[int, int], *, columns: int = 8) -> Figure:
    """Draw each hidden unit's input weights as an image (an MLP's first layer).

    Parameters
    ----------
    weights : array-like of shape (n_units, height * width)
        One row per hidden unit (``MLPClassifier.coefs_[0].T``).
    image_shape : (int, int)
        The input image's (height, width).
    columns : int, default=8
        Units per row.

    Returns
    -------
    matplotlib.figure.Figure
        Red where ink raises the unit's input, blue where it lowers it; each unit
        on its own symmetric scale, so the pattern shows however large its weights.
    """
    weights = np.asarray(weights, dtype=float)
    height, width = image_shape
    if weights.ndim != 2 or len(weights) == 0 or weights.shape[1] != height * width:
        raise UsageError(
            f"plot_hidden_weights needs one row of {height * width} weights per unit, got shape {weights.shape}"
        )
    scale = np.abs(weights).max(axis=1, keepdims=True)
    tiles = (weights / np.where(scale > 0, scale, 1.0)).reshape(len(weights), height, width)
    return _mosaic_figure(
        tiles,
        [f"unit {j}" for j in range(len(tiles))],
        columns=columns,
        cmap="RdBu_r",
        vmin=-1.0,
        vmax=1.0,
        title=f"First-layer weights of {len(weights)} hidden units (red: ink raises the unit, blue: lowers it)",
        inches_per_tile=1.2,
    )


# --- How training works (digitrec.mechanics) ----------------------------------


def plot_loss_match(numpy_losses: Sequence[float], sklearn_losses: Sequence[float]) -> Figure:
    """Draw the NumPy re-implementation's epoch losses over scikit-learn's, and their difference.

    Parameters
    ----------
    numpy_losses : sequence of float
        ``mechanics.train(...).losses``.
    sklearn_losses : sequence of float
        ``MLPClassifier.loss_curve_`` of the same training.

    Returns
    -------
    matplotlib.figure.Figure
        Left: both curves (log scale). Right: ``numpy - sklearn`` per epoch, with
        the largest absolute difference in the title.
    """
    ours = np.asarray(numpy_losses, dtype=float)
    theirs = np.asarray(sklearn_losses, dtype=float)
    if ours.ndim != 1 or theirs.ndim != 1 or ours.size == 0 or theirs.size == 0:
        raise UsageError("plot_loss_match needs two non-empty lists of epoch losses")
    n = min(ours.size, theirs.size)
    fig = _figure(figsize=(12, 4.5))
    left = fig.add_subplot(1, 2, 1)
    left.plot(np.arange(1, theirs.size + 1), theirs, lw=4, alpha=0.4, label=f"scikit-learn ({theirs.size} epochs)")
    left.plot(np.arange(1, ours.size + 1), ours, lw=1.2, color="black", label=f"NumPy ({ours.size} epochs)")
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.set_title("Epoch loss")
    left.legend()
    left.grid(True, alpha=0.3)
    right = fig.add_subplot(1, 2, 2)
    difference = ours[:n] - theirs[:n]
    right.plot(np.arange(1, n + 1), difference, marker=".", color="tab:red")
    right.axhline(0, color="grey", lw=0.8)
    right.set_xlabel("epoch")
    right.set_ylabel("NumPy - scikit-learn")
    right.set_title(f"Difference (max |diff| = {np.max(np.abs(difference)):.3g})")
    right.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_gradient_check(numeric: Any, backprop: Any, *, relative_error: float | None = None) -> Figure:
    """Draw back-propagation's gradient against the finite-difference one, parameter by parameter.

    Parameters
    ----------
    numeric, backprop : array-like of shape (n_parameters,)
        ``GradientCheck.numeric`` and ``GradientCheck.backprop``.
    relative_error : float, optional
        Shown in the title.

    Returns
    -------
    matplotlib.figure.Figure
        A scatter plot; points on the diagonal mean the two agree.
    """
    numeric = np.asarray(numeric, dtype=float).ravel()
    backprop = np.asarray(backprop, dtype=float).ravel()
    if numeric.size == 0 or numeric.shape != backprop.shape:
        raise UsageError("plot_gradient_check needs two gradients of the same, non-zero length")
    fig = _figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    ax.scatter(numeric, backprop, s=6, alpha=0.6)
    low, high = float(min(numeric.min(), backprop.min())), float(max(numeric.max(), backprop.max()))
    ax.plot([low, high], [low, high], color="grey", lw=0.8)
    ax.set_xlabel("finite differences")
    ax.set_ylabel("back-propagation")
    title = f"Gradient check, {numeric.size} parameters"
    if relative_error is not None:
        title += f"\nrelative error {relative_error:.2e}"
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_knob_runs(runs: Sequence[Any], *, title: str | None = None) -> Figure:
    """Draw what one hyper-parameter does: loss curves and accuracies, one per value tried.

    Parameters
    ----------
    runs : sequence of KnobRun
        From `digitrec.mechanics.knob_experiment` (anything with ``knob``, ``label``,
        ``loss_curve``, ``train_accuracy`` and ``test_accuracy``).
    title : str, optional
        Defaults to "What <knob> does".

    Returns
    -------
    matplotlib.figure.Figure
        Left: epoch loss per value (log scale; a diverging run's curve is cut where
        it stops being finite). Right: train and test accuracy per value.
    """
    if not runs:
        raise UsageError("plot_knob_runs needs at least one run")
    fig = _figure(figsize=(12, 4.5))
    curves = fig.add_subplot(1, 2, 1)
    finite_curves = []
    for run in runs:
        loss = np.asarray(run.loss_curve, dtype=float)
        if not np.isfinite(loss).all():
            loss = loss[: int(np.argmax(~np.isfinite(loss)))]
        finite_curves.append(loss)
    # A diverging run would stretch the axis over twenty decades and flatten every
    # other curve: cap the axis a little above the highest starting loss instead.
    starts = [loss[0] for loss in finite_curves if loss.size]
    top = 3 * max(starts) if starts else None
    for run, loss in zip(runs, finite_curves):
        label = run.label
        if loss.size < len(run.loss_curve) or (top is not None and loss.size and loss.max() > top):
            label += " (diverged)"
        curves.plot(np.arange(1, loss.size + 1), loss, label=label)
    curves.set_yscale("log")
    if top is not None and all(loss.size and loss.min() > 0 for loss in finite_curves):
        curves.set_ylim(top=top)
    curves.set_xlabel("epoch")
    curves.set_ylabel("training loss")
    curves.set_title(title or f"What {runs[0].knob} does")
    curves.legend(fontsize=8)
    curves.grid(True, alpha=0.3)
    bars = fig.add_subplot(1, 2, 2)
    positions = np.arange(len(runs))
    train = np.nan_to_num([run.train_accuracy for run in runs])
    test = np.nan_to_num([run.test_accuracy for run in runs])
    bars.bar(positions - 0.2, train, width=0.4, label="train")
    bars.bar(positions + 0.2, test, width=0.4, label="test")
    for x, value in zip(positions, test):
        bars.annotate(f"{value:.3f}", (x + 0.2, value), ha="center", va="bottom", fontsize=8)
    bars.set_xticks(positions, [run.label.split("=", 1)[-1] for run in runs])
    bars.set_xlabel(runs[0].knob)
    bars.set_ylabel("accuracy")
    bars.set_ylim(0, 1.18)
    bars.set_title("Accuracy after training")
    bars.legend(fontsize=8, loc="upper center", ncol=2)
    fig.tight_layout()
    return fig


def plot_accuracy_comparison(
    names: Sequence[str], accuracies: Sequence[float], seconds: Sequence[float] | None = None, *, title: str | None = None
) -> Figure:
    """Draw models' test accuracies side by side, as horizontal bars labelled with their values.

    Parameters
    ----------
    names : sequence of str
        One per model, drawn top to bottom in the order given.
    accuracies : sequence of float
        Test accuracy of each, 0..1.
    seconds : sequence of float, optional
        Training time of each, added to its label.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        The error rate (1 - accuracy) is what differs between good models, so the
        axis starts a little below the lowest accuracy rather than at 0.
    """
    accuracies = np.asarray(accuracies, dtype=float)
    if len(names) == 0 or len(names) != accuracies.size or (seconds is not None and len(seconds) != len(names)):
        raise UsageError("plot_accuracy_comparison needs one accuracy (and, if given, one time) per model name")
    fig = _figure(figsize=(8, 0.45 * len(names) + 1.5))
    ax = fig.add_subplot()
    positions = np.arange(len(names))[::-1]
    ax.barh(positions, accuracies, color="tab:blue")
    if seconds is None:
        labels = [str(name) for name in names]
    else:
        labels = [f"{name} ({float(s):.1f} s)" for name, s in zip(names, seconds)]
    ax.set_yticks(positions, labels)
    for y, value in zip(positions, accuracies):
        ax.annotate(f"{value:.2%}", (value, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    low = float(np.nanmin(accuracies)) if np.isfinite(accuracies).any() else 0.0
    ax.set_xlim(max(0.0, low - 0.05), 1.02)
    ax.set_xlabel("test accuracy")
    ax.set_title(title or "Test accuracy")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
