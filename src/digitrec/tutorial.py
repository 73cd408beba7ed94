"""The seed tutorial, step by step, as data; and the seed's network.

The seed is the classic "Handwritten Digit Recognition with scikit-learn"
notebook (``shared/seed/handwritten_digits_sklearn_tutorial.txt``), written for
Python 2 and scikit-learn 0.19. `SeedTutorial` redoes it on today's libraries and
hands back every value the seed prints, as the exact text Python 3 prints, so
``digitrec tutorial`` (and the tests) can compare them line by line.

Two things changed since the seed, and each `Step` that meets one carries a
one-line ``note`` saying so:

* ``dir(digits)`` lists more attributes (``feature_names``, ``frame``);
* `~sklearn.neural_network.MLPClassifier` stops after ``n_iter_no_change=10``
  epochs without improvement instead of the seed era's fixed 2. `seed_network`
  sets ``n_iter_no_change=2``, which restores the seed's 156 iterations, its loss
  values to the last digit and its accuracy ``0.9159347553324969``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from digitrec.datasets import load_digits
from digitrec.errors import UsageError
from digitrec.fileio import atomic_write

if TYPE_CHECKING:
    from sklearn.neural_network import MLPClassifier

__all__ = [
    "SEED_NETWORK_PARAMS",
    "SEED_ERA_PARAMS",
    "N_TRAIN",
    "Step",
    "SeedTutorial",
    "seed_network",
    "save_tutorial_plots",
    "PLOT_FILES",
]

# The network exactly as the seed's In [18] builds it.
SEED_NETWORK_PARAMS: dict[str, Any] = {
    "hidden_layer_sizes": (15,),
    "activation": "logistic",
    "alpha": 1e-4,
    "solver": "sgd",
    "tol": 1e-4,
    "random_state": 1,
    "learning_rate_init": 0.1,
}

# Defaults that changed after the seed's scikit-learn (0.19), set back to its values.
# 0.20 made the "no improvement" patience a parameter, n_iter_no_change, and later
# releases raised its default to 10; 0.19 always stopped after 2 such epochs.
SEED_ERA_PARAMS: dict[str, Any] = {"n_iter_no_change": 2}

# The seed trains on the first 1000 images and tests on the other 797.
N_TRAIN = 1000

# The attributes the seed's dir(digits) printed.
SEED_DIR_DIGITS = ["DESCR", "data", "images", "target", "target_names"]

PLOT_FILES = ("first_digit.png", "plot_multi.png", "loss_curve.png")

# numpy's own defaults, pinned so a caller's np.set_printoptions cannot change the
# printed values (the seed's output is numpy's default >= 1.14 formatting).
_PRINT_OPTIONS: dict[str, Any] = {
    "precision": 8,
    "threshold": 1000,
    "edgeitems": 3,
    "linewidth": 75,
    "suppress": False,
    "nanstr": "nan",
    "infstr": "inf",
    "sign": "-",
    "floatmode": "maxprec",
    "legacy": False,
}


def seed_network(verbose: bool = False) -> MLPClassifier:
    """The seed tutorial's network, unfitted, with the seed era's stopping rule.

    Parameters
    ----------
    verbose : bool, default=False
        Let scikit-learn print ``Iteration N, loss = X`` on stdout while it fits,
        as in the seed.

    Returns
    -------
    sklearn.neural_network.MLPClassifier
        64 inputs, 15 logistic hidden units, 10 outputs; plain SGD at rate 0.1,
        ``random_state=1``, ``n_iter_no_change=2``.

    Examples
    --------
    >>> from digitrec.datasets import load_split
    >>> split = load_split("digits/tutorial")
    >>> mlp = seed_network().fit(split.X_train, split.y_train)
    >>> mlp.n_iter_, float(mlp.score(split.X_test, split.y_test))
    (156, 0.9159347553324969)
    """
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(**SEED_NETWORK_PARAMS, **SEED_ERA_PARAMS, verbose=verbose)


@dataclass(frozen=True)
class Step:
    """One cell of the seed tutorial and what it prints.

    Attributes
    ----------
    key : str
        A stable name (``"images_shape"``, ``"accuracy"``, ...).
    cell : int
        The seed notebook's cell number (``In [4]``).
    code : str
        The cell's code, in Python 3.
    lines : list of str
        Exactly what the cell prints on today's libraries (empty for a figure).
    note : str, optional
        One line on how today differs from the seed, and what restores it.
    figure : str, optional
        The PNG that ``--plots`` writes for this cell.
    """

    key: str
    cell: int
    code: str
    lines: list[str] = field(default_factory=list)
    note: str | None = None
    figure: str | None = None

    @property
    def heading(self) -> str:
        """``In [4]: digits.images.shape``, as the notebook shows the cell."""
        return f"In [{self.cell}]: {self.code}"


def _printed(value: Any, *, as_repr: bool = False) -> list[str]:
    """What ``print(value)`` (or the notebook's ``Out[]``, i.e. repr) shows, as lines."""
    with np.printoptions(**_PRINT_OPTIONS):
        return (repr(value) if as_repr else str(value)).splitlines()


class SeedTutorial:
    """The seed tutorial, run in its order: explore the data, fit, evaluate.

    The stages are separate because scikit-learn itself prints the training
    lines while `fit` runs; a caller prints `exploration`, calls `fit`, then
    prints `evaluation`, and the output comes out in the seed's order.

    Examples
    --------
    >>> tutorial = SeedTutorial()
    >>> [s.lines for s in tutorial.exploration() if s.key == "images_shape"]
    [['(1797, 8, 8)']]
    >>> _ = tutorial.fit()
    >>> tutorial.evaluation()[-1].lines
    ['0.9159347553324969']
    """

    def __init__(self) -> None:
        self.digits = load_digits()
        self.y = self.digits.target
        self.x = self.digits.images.reshape((len(self.digits.images), -1))
        self.x_train, self.y_train = self.x[:N_TRAIN], self.y[:N_TRAIN]
        self.x_test, self.y_test = self.x[N_TRAIN:], self.y[N_TRAIN:]
        self.mlp: MLPClassifier | None = None
        self.predictions: np.ndarray | None = None

    # ------------------------------------------------------------------ stages

    def exploration(self) -> list[Step]:
        """The cells before training: In [2] to In [11]."""
        digits, x = self.digits, self.x
        attributes = dir(digits)
        extra = [a for a in attributes if a not in SEED_DIR_DIGITS]
        dir_note = None
        if extra:
            dir_note = (
                f"today's load_digits also returns {', '.join(extra)}; "
                f"the seed (scikit-learn 0.19) listed {SEED_DIR_DIGITS}"
            )
        return [
            Step("dir", 2, "dir(digits)", _printed(attributes), note=dir_note),
            Step(
                "types",
                3,
                "print(type(digits.images)); print(type(digits.target))",
                _printed(type(digits.images)) + _printed(type(digits.target)),
            ),
            Step("images_shape", 4, "digits.images.shape", _printed(digits.images.shape)),
            Step("first_image", 5, "print(digits.images[0])", _printed(digits.images[0])),
            Step(
                "show_first_image",
                6,
                "plt.imshow(digits.images[0], cmap='binary'); plt.show()",
                figure=PLOT_FILES[0],
            ),
            Step(
                "target",
                7,
                "print(digits.target.shape); print(digits.target)",
                _printed(digits.target.shape) + _printed(digits.target),
            ),
            Step("plot_multi", 9, "plot_multi(0)", figure=PLOT_FILES[1]),
            Step("x_shape", 10, "x = digits.images.reshape((len(digits.images), -1)); x.shape", _printed(x.shape)),
            Step("x0", 11, "x[0]", _printed(x[0], as_repr=True)),
            Step(
                "split",
                12,
                f"x_train, y_train = x[:{N_TRAIN}], y[:{N_TRAIN}]; x_test, y_test = x[{N_TRAIN}:], y[{N_TRAIN}:]",
            ),
        ]

    def fit_step(self) -> Step:
        """The training cell (In [19]); its lines are printed by scikit-learn during `fit`."""
        defaults = _current_defaults()
        note = None
        if any(defaults.get(k) != v for k, v in SEED_ERA_PARAMS.items()):
            changed = ", ".join(f"{k}={defaults.get(k)!r}" for k in SEED_ERA_PARAMS)
            restored = ", ".join(f"{k}={v!r}" for k, v in SEED_ERA_PARAMS.items())
            note = (
                f"today's MLPClassifier defaults to {changed}; the seed's scikit-learn stopped after two epochs "
                f"without improvement (its message says 'two', today's '2'), so the network is built with "
                f"{restored} to restore it"
            )
        return Step("fit", 19, "mlp.fit(x_train, y_train)", note=note)

    def fit(self, verbose: bool = False) -> MLPClassifier:
        """Train the seed network on the first 1000 digits.

        Parameters
        ----------
        verbose : bool, default=False
            Let scikit-learn print each ``Iteration N, loss = X`` line on stdout.

        Returns
        -------
        sklearn.neural_network.MLPClassifier
            The fitted network (also kept as ``self.mlp``).
        """
        self.mlp = seed_network(verbose=verbose).fit(self.x_train, self.y_train)
        self.predictions = self.mlp.predict(self.x_test)
        return self.mlp

    def evaluation(self) -> list[Step]:
        """The cells after training: In [20] to In [22]."""
        mlp, predictions = self._fitted()
        return [
            Step(
                "predictions",
                20,
                "predictions = mlp.predict(x_test); predictions[:50]",
                _printed(predictions[:50], as_repr=True),
            ),
            Step("labels", 21, "y_test[:50]", _printed(self.y_test[:50], as_repr=True)),
            Step("accuracy", 22, "accuracy_score(y_test, predictions)", _printed(self.accuracy)),
        ]

    # ------------------------------------------------------------------ values

    @property
    def accuracy(self) -> float:
        """``accuracy_score(y_test, predictions)`` as a Python float."""
        from sklearn.metrics import accuracy_score

        _, predictions = self._fitted()
        return float(accuracy_score(self.y_test, predictions))

    def loss_lines(self) -> list[str]:
        """The ``Iteration N, loss = X`` lines scikit-learn prints while fitting (verbose)."""
        mlp, _ = self._fitted()
        # The same format string as sklearn's MLP (_multilayer_perceptron.py).
        return [f"Iteration {i}, loss = {loss:.8f}" for i, loss in enumerate(mlp.loss_curve_, start=1)]

    def to_dict(self) -> dict[str, Any]:
        """Every value the seed prints, as plain JSON types (``digitrec tutorial --json``)."""
        mlp, predictions = self._fitted()
        digits = self.digits
        notes = [s.note for s in [*self.exploration(), self.fit_step()] if s.note]
        return {
            "dir_digits": dir(digits),
            "types": [_printed(type(digits.images))[0], _printed(type(digits.target))[0]],
            "images_shape": list(digits.images.shape),
            "first_image": digits.images[0].tolist(),
            "target_shape": list(digits.target.shape),
            "target": digits.target.tolist(),
            "x_shape": list(self.x.shape),
            "x0": self.x[0].tolist(),
            "n_train": len(self.y_train),
            "n_test": len(self.y_test),
            "network": {k: list(v) if isinstance(v, tuple) else v for k, v in mlp.get_params().items()},
            "n_iter": int(mlp.n_iter_),
            "losses": [float(v) for v in mlp.loss_curve_],
            "predictions": predictions[:50].tolist(),
            "labels": self.y_test[:50].tolist(),
            "accuracy": self.accuracy,
            "notes": notes,
        }

    def _fitted(self) -> tuple[MLPClassifier, np.ndarray]:
        if self.mlp is None or self.predictions is None:
            raise UsageError("the tutorial's network is not trained yet; call fit() first")
        return self.mlp, self.predictions


def _current_defaults() -> dict[str, Any]:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier().get_params()


def save_tutorial_plots(tutorial: SeedTutorial, folder: str | os.PathLike) -> list[Path]:
    """Write the tutorial's three figures as PNG, each atomically.

    Parameters
    ----------
    tutorial : SeedTutorial
        A fitted tutorial (the loss curve needs the training).
    folder : path-like
        Where to write ``first_digit.png``, ``plot_multi.png`` and ``loss_curve.png``;
        created if needed.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from digitrec import plots

    mlp, _ = tutorial._fitted()
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file; give --plots a folder to write the PNG figures into")
    figures = {
        PLOT_FILES[0]: plots.plot_digit(tutorial.digits.images[0]),
        PLOT_FILES[1]: plots.plot_multi(tutorial.digits.images, tutorial.digits.target, start=0, n=16),
        PLOT_FILES[2]: plots.plot_loss_curve(mlp.loss_curve_, title="Training loss of the seed network"),
    }
    written = []
    for name, fig in figures.items():
        try:
            with atomic_write(folder / name, "wb") as handle:
                fig.savefig(handle, format="png")
        except OSError as exc:
            raise UsageError(
                f"cannot write {folder / name} ({exc.strerror or exc}); give --plots a folder you can write to"
            ) from None
        written.append(folder / name)
    return written
