"""Our own scikit-learn building blocks for the recipes.

`Scale16` brings the optdigits values (0..16) into 0..1, which gradient-trained
models (the MLPs) prefer. `ShiftAugmenter` is a meta-estimator: it fits its
estimator on the training images plus copies shifted by one pixel, the classic
way to teach a shape model that a digit moved a little is still the same digit.
It is a classifier, not a transformer, because a scikit-learn transformer cannot
add rows (a `Pipeline` would drop the extra labels).

Both follow the scikit-learn layout (``__init__`` stores parameters, learned state
ends in ``_``) so `clone`, `GridSearchCV` and skops work on them.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, TransformerMixin, _fit_context, clone

# Private to scikit-learn (pinned by pyproject's range); tests/test_recipes.py runs
# parametrize_with_checks, which catches a change in it.
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["Scale16", "ShiftAugmenter", "shifted_copies"]


class Scale16(TransformerMixin, BaseEstimator):
    """Divide by 16: the optdigits range 0..16 becomes 0..1.

    Nothing is learned, but it is fitted like any transformer so that the number
    of features is recorded and checked.

    Examples
    --------
    >>> import numpy as np
    >>> Scale16().fit_transform(np.array([[0.0, 8.0, 16.0]]))
    array([[0. , 0.5, 1. ]])
    """

    def fit(self, X, y=None):
        """Record the number of features; nothing is learned."""
        validate_data(self, X)
        return self

    def transform(self, X):
        """Return ``X / 16``."""
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, reset=False)
        return X / 16.0

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


def _image_side(n_features: int) -> int | None:
    side = math.isqrt(n_features)
    return side if side * side == n_features and side > 1 else None


def shifted_copies(X: np.ndarray, y: np.ndarray, shift: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return ``X`` and its copies moved ``shift`` pixels up, down, left and right.

    Rows of ``X`` are square images flattened row-major; what moves out of the
    image is dropped and the uncovered edge is 0 (no ink). Rows that are not
    square images are returned once, unshifted.

    Parameters
    ----------
    X : ndarray of shape (n_samples, side * side)
    y : ndarray of shape (n_samples,)
    shift : int, default=1

    Returns
    -------
    X_aug : ndarray of shape (5 * n_samples, side * side)
    y_aug : ndarray of shape (5 * n_samples,)
    """
    side = _image_side(X.shape[1])
    if side is None or shift == 0:
        return X, y
    images = X.reshape(-1, side, side)
    out = [images]
    for axis, step in ((1, shift), (1, -shift), (2, shift), (2, -shift)):
        moved = np.roll(images, step, axis=axis)
        edge = [slice(None)] * 3
        edge[axis] = slice(0, step) if step > 0 else slice(step, None)
        moved[tuple(edge)] = 0
        out.append(moved)
    return np.concatenate(out).reshape(-1, side * side), np.tile(y, len(out))


class ShiftAugmenter(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Fit a classifier on the images and their one-pixel shifts.

    Training sees each image five times: as it is and moved one pixel up, down,
    left and right. Prediction passes the images through unchanged. On the tutorial
    split this takes an RBF SVC from 96.5% to 97.2% (``svc`` and ``svc-shift``).

    Parameters
    ----------
    estimator : classifier
        The classifier to fit on the augmented data (cloned).
    shift : int, default=1
        How many pixels to move the copies; 0 fits on the images alone.

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone.
    classes_ : ndarray
        The labels seen in `fit`.
    n_features_in_ : int

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.svm import SVC
    >>> X, y = load_digits(return_X_y=True)
    >>> model = ShiftAugmenter(SVC(gamma="scale")).fit(X[:300], y[:300])
    >>> model.predict(X[300:305]).tolist(), y[300:305].tolist()
    ([7, 3, 5, 1, 0], [7, 3, 5, 1, 0])
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "shift": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, estimator, *, shift: int = 1):
        self.estimator = estimator
        self.shift = shift

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit a clone of `estimator` on ``X``, ``y`` and their shifted copies."""
        X, y = validate_data(self, X, y)
        X_aug, y_aug = shifted_copies(X, y, int(self.shift))
        self.estimator_ = clone(self.estimator).fit(X_aug, y_aug)
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        """Predict with the fitted estimator."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.estimator_.predict(X)

    def _estimator_has_proba(self) -> bool:
        target = getattr(self, "estimator_", self.estimator)
        return hasattr(target, "predict_proba")

    @available_if(_estimator_has_proba)
    def predict_proba(self, X):
        """Class probabilities from the fitted estimator."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.estimator_.predict_proba(X)

    def _estimator_has_decision(self) -> bool:
        target = getattr(self, "estimator_", self.estimator)
        return hasattr(target, "decision_function")

    @available_if(_estimator_has_decision)
    def decision_function(self, X):
        """Decision scores from the fitted estimator (what probability calibration uses)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.estimator_.decision_function(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = clone(self.estimator).__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.classifier_tags = inner.classifier_tags
        return tags
