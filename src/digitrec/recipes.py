"""Named model recipes: a name, an input format, and a factory for an unfitted estimator.

Every recipe builds a scikit-learn estimator (fit / predict / predict_proba /
score; `clone` and `GridSearchCV` work), so the rest of digitrec treats them alike.

======================  =========  ============================================
name                    format     what
======================  =========  ============================================
``tutorial``            optdigits  the seed tutorial's exact network
``mlp``                 optdigits  a tuned MLP (ReLU, Adam, inputs scaled to 0..1)
``svc``                 optdigits  RBF support vector classifier
``svc-shift``           optdigits  an RBF SVC trained on one-pixel shifts too
``knn``                 optdigits  k nearest neighbours
``cnn-8x8``             optdigits  three small CNNs averaged, trained on shifted 8x8 digits
``cnn``                 mnist      the fast MNIST CNN
``cnn-reader``          mnist      the cnn with a not-a-digit output and re-drawn digits (the shipped default)
``cnn-large``           mnist      five of the cnn's networks averaged, longer training
======================  =========  ============================================

Each recipe also carries ``search_space``: the small grid whose winner its tuned
defaults are. `search` reruns that grid with `GridSearchCV` on the training part
of a split only (never the test set), so ``digitrec train RECIPE --search``
shows where the numbers came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from digitrec.errors import UnknownRecipeError, UsageError
from digitrec.progress import ProgressFn, null_progress

__all__ = ["Recipe", "RECIPES", "get_recipe", "list_recipes", "search", "SearchResult"]


@dataclass(frozen=True)
class Recipe:
    """A named way to build a model.

    Attributes
    ----------
    name : str
    input_format : {"optdigits", "mnist"}
        The samples the estimator is trained on (see ``docs/architecture.md``); a model
        may read another format (``cnn-pairs``: trained on MNIST digits, reads pairs).
    description : str
        One line for ``digitrec recipes``.
    factory : callable
        ``factory(**overrides)`` returns a new unfitted estimator; ``overrides``
        are its ``set_params`` names (e.g. ``max_epochs=1`` for the CNNs).
    search_space : dict
        The parameter grid (``set_params`` names) the tuned defaults were chosen from.
    search_cv : int
        Cross-validation folds for `search` (1: one stratified 10% hold-out).
    default_dataset : {"digits", "mnist"}
    """

    name: str
    input_format: str
    description: str
    factory: Callable[..., Any] = field(repr=False)
    search_space: Mapping[str, list] = field(default_factory=dict, repr=False)
    search_cv: int = 5

    @property
    def default_dataset(self) -> str:
        """``"digits"`` for optdigits recipes, ``"mnist"`` for MNIST ones."""
        return "digits" if self.input_format == "optdigits" else "mnist"

    def build(self, **overrides: Any):
        """A new unfitted estimator, with ``overrides`` applied through ``set_params``."""
        return self.factory(**overrides)

    def to_dict(self) -> dict[str, str]:
        """The ``digitrec recipes --json`` object."""
        return {"name": self.name, "input_format": self.input_format, "description": self.description}


def _with(estimator, overrides: Mapping[str, Any]):
    if overrides:
        try:
            estimator.set_params(**overrides)
        except ValueError as exc:
            raise UsageError(f"cannot set {', '.join(overrides)} on this recipe: {exc}") from exc
    return estimator


def _tutorial(**overrides):
    # The seed's network is defined once, in digitrec.tutorial.
    from digitrec.tutorial import seed_network

    return _with(seed_network(verbose=False), overrides)


def _mlp(**overrides):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline

    from digitrec.transforms import Scale16

    model = Pipeline(
        [
            ("scale", Scale16()),
            (
                "mlp",
                MLPClassifier(
                    hidden_layer_sizes=(64,),
                    activation="relu",
                    solver="adam",
                    alpha=1e-4,
                    learning_rate_init=1e-3,
                    max_iter=500,
                    random_state=0,
                ),
            ),
        ]
    )
    return _with(model, overrides)


def _calibrated(estimator):
    from sklearn.calibration import CalibratedClassifierCV

    # SVC(probability=True) is deprecated since scikit-learn 1.9; this is its
    # documented replacement: one model fitted on all the data, its scores
    # sigmoid-calibrated on 5-fold cross-validated predictions.
    return CalibratedClassifierCV(estimator, ensemble=False, cv=5)


def _rbf_svc(gamma: float = 0.0005):
    from sklearn.svm import SVC

    return SVC(kernel="rbf", C=10.0, gamma=gamma)


def _svc(**overrides):
    return _with(_calibrated(_rbf_svc()), overrides)


def _svc_shift(**overrides):
    from digitrec.transforms import ShiftAugmenter

    # The shifts go inside the calibration folds: a held-out fold must not hold
    # shifted copies of the images the model was fitted on. gamma is this recipe's own
    # 5-fold search winner (on the shifted data a narrower kernel than svc's wins).
    return _with(_calibrated(ShiftAugmenter(_rbf_svc(gamma=0.001), shift=1)), overrides)


def _knn(**overrides):
    from sklearn.neighbors import KNeighborsClassifier

    return _with(KNeighborsClassifier(n_neighbors=3, weights="uniform"), overrides)


def _cnn_8x8(**overrides):
    from digitrec.cnn import DigitCNN

    # Three networks averaged: in 5-fold CV on the training digits alone, seeds 0..4
    # (benchmarks/select_cnn_8x8.py), they made 23.8 errors per 1000 with contiguous
    # folds and 3.0 with shuffled ones, one network 26.0 and 6.4. The network and its
    # augmentation are the earlier one-network recipe's: a setting the contiguous CV
    # preferred (no shifts, deeper) did much worse on the test part (docs/benchmarks.md).
    model = DigitCNN(
        channels=((32,), (64,), (128,)),
        dropout=0.25,
        max_epochs=40,
        batch_size=32,
        lr=3e-3,
        shift=1.0,
        rotation=10.0,
        zoom=0.1,
        input_max=16.0,
        validation_fraction=0.1,
        n_networks=3,
    )
    return _with(model, overrides)


#: The fast MNIST network's settings, shared by the recipes built on it. Batch 256 with
#: bfloat16 convolutions: 12 s an epoch on the 2-core CPU, against 17 s at batch 128.
_CNN = dict(
    channels=((16,), (32, 32), (64, 64)),
    dropout=0.1,
    max_epochs=10,
    batch_size=256,
    lr=4e-3,
    shift=2.0,
    rotation=10.0,
    zoom=0.1,
    validation_fraction=0.1,
    bfloat16=True,
)


def _cnn(**overrides):
    from digitrec.cnn import DigitCNN

    return _with(DigitCNN(**_CNN), overrides)


def _cnn_reader(**overrides):
    from digitrec.cnn import DigitCNN

    model = DigitCNN(
        **{
            **_CNN,
            # Longer training on more varied digits: 15 epochs, rotations to 15 degrees,
            # zoom 15%, shifts to 3 px (the cnn: 10, 10, 10%, 2). Measured on the realistic
            # images (bench_realistic, seeds 0 and 1), against the same recipe at the cnn's
            # 10 epochs and augmentation with a tenth re-drawn: single digits 99.6%/99.6%
            # against 99.0%/99.6%, non-digits accepted 3.3%/5.2% against 4.0%/6.0%.
            "max_epochs": 15,
            "rotation": 15.0,
            "zoom": 0.15,
            "shift": 3.0,
        },
        # A "not a single digit" output trained on 6000 synthetic negatives
        # (digitrec.negatives), so letters, scribbles and touching digits are rejected,
        # and a fifth of the digits re-drawn with finer and fatter pens (digitrec.redrawn),
        # so thin-pen drawings are not marked uncertain. They cost MNIST accuracy at the
        # cnn's settings (99.51% against 99.65%) and buy it on real images (docs/benchmarks.md).
        negatives=6000,
        redrawn=0.2,
        # Digits read from photos are less sure than clean MNIST ones: the calibrated
        # threshold (1% of correct validation digits under it, 0.779 for the shipped
        # model) marked 1.4-2.0% of the realistic single digits uncertain. 0.5 was chosen
        # on data the benchmark does not report (benchmarks/choose_threshold.py): realistic
        # renders of the held-out validation digits (2100 images: 0.90% uncertain; at
        # 0.78, 1.90%) and non-digits of bench_realistic's seeds 2 and 3 (3.7% / 4.0%
        # accepted), then checked on its seeds 0 and 1 (docs/benchmarks.md, sixth session).
        threshold=0.5,
    )
    return _with(model, overrides)


def _cnn_reader_x4(**overrides):
    # Four of cnn-reader's networks averaged, seeded apart from the shipped default's one
    # network: 99.71% on MNIST's test set against its 99.60%. Too slow to read every digit
    # with (0.5 ms a digit against 0.1), it is the default's second opinion on the few it
    # doubts (`digitrec.cascade`; docs/benchmarks.md, eleventh session). Trained 25
    # epochs instead of 15 it gave 99.63%, and deskewed 99.67%; the 25-epoch one as a
    # third opinion kept out a tenth of the non-digits, the single digits within noise
    # (seventeenth session).
    return _cnn_reader(**{"n_networks": 4, "random_state": 1, **overrides})


def _cnn_pairs(**overrides):
    from digitrec.pairs import PairReader

    return _with(PairReader(), overrides)


def _cnn_large(**overrides):
    from digitrec.cnn import DigitCNN

    # Five of the cnn's networks averaged, each with its own initial weights and
    # augmentation draws, 15 epochs each: 99.71% on MNIST's test set, trained in 99 s on
    # an H100 (--device cuda); about 17 minutes on the 2-core CPU (an estimate). Three
    # networks of 12 epochs, tried first, gave 99.66% (docs/benchmarks.md).
    return _with(DigitCNN(**{**_CNN, "max_epochs": 15, "n_networks": 5}), overrides)


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            "tutorial",
            "optdigits",
            "the seed tutorial's exact network: 15 logistic hidden units, SGD (91.6% on digits/tutorial)",
            _tutorial,
            {"learning_rate_init": [0.03, 0.1, 0.3], "hidden_layer_sizes": [(15,), (50,)]},
        ),
        Recipe(
            "mlp",
            "optdigits",
            "a tuned MLP: 64 ReLU units, Adam, L2 1e-4, inputs scaled to 0..1",
            _mlp,
            {"mlp__hidden_layer_sizes": [(64,), (256,)], "mlp__alpha": [1e-4, 1e-2, 1.0]},
        ),
        Recipe(
            "svc",
            "optdigits",
            "RBF support vector classifier, C=10, gamma=0.0005, sigmoid-calibrated probabilities",
            _svc,
            {"estimator__C": [1, 10, 100], "estimator__gamma": [0.0005, 0.001, 0.002, 0.004]},
        ),
        Recipe(
            "svc-shift",
            "optdigits",
            "RBF SVC (C=10, gamma=0.001) trained on each image and its four one-pixel shifts",
            _svc_shift,
            {"estimator__estimator__C": [1, 10, 100], "estimator__estimator__gamma": [0.0005, 0.001, 0.002]},
        ),
        Recipe(
            "knn",
            "optdigits",
            "k nearest neighbours: k=3, plain majority vote",
            _knn,
            {"n_neighbors": [1, 3, 5, 7], "weights": ["uniform", "distance"]},
        ),
        Recipe(
            "cnn-8x8",
            "optdigits",
            "three small CNNs (32-64-128 conv) averaged, on 8x8 digits, trained on randomly shifted/rotated copies",
            _cnn_8x8,
            # A quick check around the defaults; the ensemble's size came from
            # benchmarks/select_cnn_8x8.py, whose several seeds a 100-digit hold-out cannot replace.
            {"max_epochs": [30, 40], "dropout": [0.1, 0.25]},
            search_cv=1,
        ),
        Recipe(
            "cnn",
            "mnist",
            "the fast MNIST CNN: 16-32-32-64-64 conv, 10 epochs at batch 256, augmented (about 2.5 minutes)",
            _cnn,
            {"max_epochs": [6, 10], "lr": [2e-3, 4e-3]},
            search_cv=1,
        ),
        Recipe(
            "cnn-reader",
            "mnist",
            "the shipped default's first network: the cnn trained longer on more varied digits, with a not-a-digit output "
            "(6000 synthetic negatives) and a fifth of the digits re-drawn with finer and fatter pens, "
            "for reading real images (about 5 minutes)",
            _cnn_reader,
            {"max_epochs": [10, 15], "redrawn": [0.1, 0.2]},
            search_cv=1,
        ),
        Recipe(
            "cnn-reader-x4",
            "mnist",
            "four cnn-reader networks averaged (seed 1): the second opinion the shipped default asks about "
            "the digits it doubts (digitrec cascade; about 13 minutes on 2 cores)",
            _cnn_reader_x4,
            {},
            search_cv=1,
        ),
        Recipe(
            "cnn-large",
            "mnist",
            "five of the cnn's networks averaged, 15 epochs each (about 7.5x the cnn's time; --device cuda helps)",
            _cnn_large,
            {"max_epochs": [10, 15], "n_networks": [1, 5]},
            search_cv=1,
        ),
        Recipe(
            "cnn-pairs",
            "mnist",
            "the shipped pair reader: the cnn on two touching digits (140000 pairs made from the training "
            "digits, 40x40) answering one of 100 pairs or not-a-pair; the recogniser asks it about blobs "
            "the digit model rejects (about 11 minutes on 2 cores)",
            _cnn_pairs,
            # No grid: a fold of single digits cannot score a pair reader. Its settings were
            # measured on the benchmark's numbers (docs/benchmarks.md, ninth session).
            {},
            search_cv=1,
        ),
    ]
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``.

    Raises
    ------
    UnknownRecipeError
        No such recipe; the message lists the names.
    """
    try:
        return RECIPES[name]
    except KeyError:
        raise UnknownRecipeError(
            f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)} (see: digitrec recipes)"
        ) from None


def list_recipes() -> list[Recipe]:
    """All recipes, in the order ``digitrec recipes`` shows them."""
    return list(RECIPES.values())


@dataclass
class SearchResult:
    """What `search` found.

    Attributes
    ----------
    recipe : str
    split : str
    best_params : dict
        The grid point with the best mean validation accuracy.
    best_score : float
        Its mean validation accuracy (training data only).
    results : list of dict
        Every grid point: ``params``, ``mean_accuracy``, ``std_accuracy``, ``rank``.
    seconds : float
    """

    recipe: str
    split: str
    best_params: dict
    best_score: float
    results: list[dict]
    seconds: float

    def to_dict(self) -> dict:
        """A JSON-ready dict (tuples become lists)."""
        return {
            "recipe": self.recipe,
            "split": self.split,
            "best_params": _jsonable(self.best_params),
            "best_score": self.best_score,
            "results": _jsonable(self.results),
            "seconds": self.seconds,
        }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item"):
        return obj.item()
    return obj


def search(
    recipe: str | Recipe,
    split,
    *,
    param_grid: Mapping[str, list] | None = None,
    cv: int | None = None,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    progress: ProgressFn = null_progress,
) -> SearchResult:
    """Rerun the grid search that chose a recipe's hyper-parameters.

    Only ``split.X_train`` / ``split.y_train`` are used: `GridSearchCV` with
    stratified folds (``cv`` >= 2) or one stratified 10% hold-out (``cv`` = 1,
    for the networks, where k folds would cost k trainings per grid point).

    Parameters
    ----------
    recipe : str or Recipe
    split : digitrec.datasets.Split
        Its input format must be the recipe's.
    param_grid : mapping, optional
        Default: the recipe's ``search_space``.
    cv : int, optional
        Default: the recipe's ``search_cv``.
    seed : int, default=0
        Seeds the folds.
    overrides : mapping, optional
        ``set_params`` values applied to the estimator before the search.
    progress : ProgressFn
        One step per fitted fold: ``progress("Searching", done, total, best=...)``.

    Returns
    -------
    SearchResult
    """
    import time

    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold, StratifiedShuffleSplit

    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    if split.input_format != recipe.input_format:
        raise UsageError(
            f"recipe {recipe.name!r} reads {recipe.input_format} samples but split {split.name!r} "
            f"holds {split.input_format}; use --dataset {recipe.default_dataset}"
        )
    grid = dict(param_grid or recipe.search_space)
    if not grid:
        raise UsageError(f"recipe {recipe.name!r} has no search space")
    folds = int(cv or recipe.search_cv)
    splitter = (
        StratifiedShuffleSplit(n_splits=1, test_size=0.1, random_state=seed)
        if folds == 1
        else StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    )
    total = len(ParameterGrid(grid)) * (1 if folds == 1 else folds)
    done = 0

    def scorer(estimator, X, y) -> float:
        # GridSearchCV calls the scorer once per fitted fold: a cheap place to report progress.
        nonlocal done
        score = float(accuracy_score(y, estimator.predict(X)))
        done += 1
        progress("Searching", done, total, accuracy=score)
        return score

    estimator = recipe.build(**dict(overrides or {}))
    progress("Searching", 0, total)
    start = time.perf_counter()
    gs = GridSearchCV(estimator, grid, cv=splitter, scoring=scorer, n_jobs=1, refit=False, error_score="raise")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # as in digitrec.training: reproducible sums, no spinning threads
        gs.fit(split.X_train, split.y_train)
    seconds = time.perf_counter() - start
    cvr = gs.cv_results_
    results = [
        {
            "params": cvr["params"][i],
            "mean_accuracy": float(cvr["mean_test_score"][i]),
            "std_accuracy": float(cvr["std_test_score"][i]),
            "rank": int(cvr["rank_test_score"][i]),
        }
        for i in range(len(cvr["params"]))
    ]
    return SearchResult(recipe.name, split.name, dict(gs.best_params_), float(gs.best_score_), results, seconds)
