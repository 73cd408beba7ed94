"""plots.py: each figure is a pure function returning a Figure that saves as a PNG."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from digitrec import plots
from digitrec.errors import UsageError

pytest.importorskip("matplotlib")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=50)
    data = buffer.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text()]


def test_importing_plots_loads_no_matplotlib():
    code = "import sys, digitrec.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_confusion_shows_every_count():
    confusion = np.array([[5, 1, 0], [2, 7, 0], [0, 0, 9]])
    fig = plots.plot_confusion(confusion, [0, 1, 2])
    texts = _texts(fig)
    assert "Confusion matrix (24 images)" in texts
    for count in confusion.ravel():
        assert str(count) in texts
    _png(fig)
    with pytest.raises(UsageError, match="square"):
        plots.plot_confusion(np.ones((2, 3), dtype=int), [0, 1])


def test_per_class_bars_have_the_values_and_an_honest_axis():
    rows = [{"digit": d, "precision": 0.9 + d / 100, "recall": 0.95, "f1": 0.9} for d in range(10)]
    fig = plots.plot_per_class(rows)
    (ax,) = fig.axes
    heights = [round(p.get_height(), 6) for p in ax.patches]
    assert heights[:10] == [round(0.9 + d / 100, 6) for d in range(10)] and heights[10:] == [0.95] * 10
    low = ax.get_ylim()[0]
    assert 0 < low <= 0.9 and f"{low:.2f}" in ax.get_ylabel(), "a cut axis must say where it starts"
    _png(fig)


def test_history_splits_losses_from_accuracies_and_ignores_the_rest():
    fig = plots.plot_history({"loss": [1.0, 0.5], "valid_loss": [1.1, 0.7], "valid_acc": [0.6, 0.8], "dur": [3, 3]})
    assert len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert sorted(line.get_label() for line in loss_ax.get_lines()) == ["loss", "valid_loss"]
    assert [line.get_label() for line in acc_ax.get_lines()] == ["valid_acc"]
    assert len(plots.plot_history({"loss": [0.3, 0.2, 0.1]}).axes) == 1
    _png(fig)
    with pytest.raises(UsageError):
        plots.plot_history({"dur": [1, 2]})


def test_misclassified_grid_labels_each_image():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 16, size=(13, 64))  # flat optdigits rows are drawn as 8x8
    true, predicted = list(range(13)), [(t + 1) % 10 for t in range(13)]
    fig = plots.plot_misclassified(images, true, predicted, np.linspace(0.3, 0.9, 13), columns=5)
    texts = _texts(fig)
    for t, p in zip(true, predicted):
        assert any(text.startswith(f"{t}→{p} (") for text in texts)
    (image,) = fig.axes[0].get_images()
    canvas = np.ma.getdata(image.get_array())
    assert np.isnan(canvas).any(), "white gaps between tiles"
    assert np.nanmin(canvas) == 0.0 and np.nanmax(canvas) == 1.0
    _png(fig)
    with pytest.raises(UsageError):
        plots.plot_misclassified(images[:2], [1], [2])


def test_hidden_weights_keep_each_units_sign():
    weights = np.zeros((3, 784))
    weights[0, :10] = 5.0
    weights[1, :10] = -0.01  # tiny weights still fill the colour scale
    fig = plots.plot_hidden_weights(weights, (28, 28))
    (image,) = fig.axes[0].get_images()
    canvas = np.ma.getdata(image.get_array())
    assert np.nanmax(canvas) == 1.0 and np.nanmin(canvas) == -1.0
    assert image.get_clim() == (-1.0, 1.0)
    assert {"unit 0", "unit 1", "unit 2"} <= set(_texts(fig))
    _png(fig)
    with pytest.raises(UsageError, match="784"):
        plots.plot_hidden_weights(np.zeros((3, 64)), (28, 28))
