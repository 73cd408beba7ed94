"""The tutorial's network taken apart: how one training step really works.

The seed trains ``MLPClassifier(hidden_layer_sizes=(15,), activation='logistic',
solver='sgd', learning_rate_init=.1, ...)`` and prints ``Iteration 1, loss =
2.22958289``. This module does the same training with every step written out in
NumPy, in the order scikit-learn does it, so the numbers come out the same to the
last printed digit (in practice bit for bit):

1. **initialisation** (`init_network`): weights drawn uniformly in
   ``±sqrt(factor / (fan_in + fan_out))`` (Glorot; ``factor`` is 2 for the logistic
   activation, 6 otherwise) from the same ``RandomState``, in the same order;
2. **forward pass** (`forward`): ``a = activation(a_prev @ W + b)`` per hidden layer,
   softmax on the output layer;
3. **loss** (`log_loss`, `l2_penalty`): the mean cross-entropy of the batch plus
   ``alpha / 2 * sum(W**2) / batch_size``;
4. **back-propagation** (`loss_and_gradients`): the output error ``p - y`` carried
   back through the transposed weights and the activation's derivative;
5. **one SGD step** (`NesterovSGD`): momentum with Nesterov's look-ahead;
6. **epochs** (`train`): the sample order reshuffled each epoch, mini-batches of 200,
   the epoch loss the size-weighted mean of the batch losses, and the stopping rule
   (no improvement by ``tol`` for more than ``n_iter_no_change`` epochs).

`gradient_check` verifies back-propagation against finite differences, and
`knob_experiment` runs real, short trainings (with scikit-learn's own
``MLPClassifier``) that vary one hyper-parameter at a time.

Only two elementary functions come from SciPy, ``expit`` and ``xlogy``: they are
what scikit-learn calls, and NumPy's own ``exp``/``log`` may differ from them in
the last bit, which would break the bit-for-bit match (not the lesson).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit, xlogy

from digitrec.errors import UsageError
from digitrec.progress import ProgressFn, null_progress

__all__ = [
    "SEED_PARAMETERS",
    "Network",
    "glorot_bound",
    "init_network",
    "forward",
    "log_loss",
    "l2_penalty",
    "loss_and_gradients",
    "NesterovSGD",
    "one_hot",
    "shuffled_batches",
    "TrainingRun",
    "train",
    "sklearn_twin",
    "GradientCheck",
    "gradient_check",
    "KNOBS",
    "KnobRun",
    "knob_experiment",
    "tutorial_data",
]

#: The seed's network (`digitrec.tutorial.seed_network`), in scikit-learn's
#: parameter names: the keywords `train` takes, at their defaults.
#: ``n_iter_no_change=2`` is the rule of the scikit-learn the seed ran on ("two
#: consecutive epochs"); today's default, 10, would train past its 156 iterations.
SEED_PARAMETERS: dict[str, Any] = {
    "hidden_layer_sizes": (15,),
    "activation": "logistic",
    "alpha": 1e-4,
    "batch_size": "auto",
    "learning_rate_init": 0.1,
    "momentum": 0.9,
    "nesterovs_momentum": True,
    "max_iter": 200,
    "tol": 1e-4,
    "n_iter_no_change": 2,
    "shuffle": True,
    "random_state": 1,
}

_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
}


def _activation_derivative(name: str, activated: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Multiply the error ``delta`` by the activation's slope, written via its output.

    Each slope is a function of the activation's *output* ``a`` (logistic:
    ``a(1-a)``, tanh: ``1-a²``), so the forward pass's values are all that is kept.
    The multiplications happen in scikit-learn's order, which keeps the rounding
    identical.
    """
    if name == "logistic":
        delta = delta * activated
        delta *= 1 - activated
    elif name == "tanh":
        delta = delta * (1 - activated**2)
    elif name == "relu":
        delta = delta.copy()
        delta[activated == 0] = 0
    return delta


def _check_activation(name: str) -> None:
    if name not in _ACTIVATIONS:
        raise UsageError(f"unknown activation {name!r}; use one of {', '.join(sorted(_ACTIVATIONS))}")


@dataclass
class Network:
    """A fully connected network's parameters: one weight matrix and bias per layer.

    Attributes
    ----------
    coefs : list of ndarray
        ``coefs[i]`` has shape ``(units in layer i, units in layer i+1)``, as
        scikit-learn's ``coefs_``.
    intercepts : list of ndarray
        ``intercepts[i]`` has shape ``(units in layer i+1,)``, as ``intercepts_``.
    activation : str
        The hidden layers' activation: ``logistic``, ``tanh``, ``relu`` or ``identity``.
        The output layer is always a softmax.
    """

    coefs: list[np.ndarray]
    intercepts: list[np.ndarray]
    activation: str = "logistic"

    @property
    def layer_sizes(self) -> list[int]:
        """Units per layer, input first: ``[64, 15, 10]`` for the seed's network."""
        return [self.coefs[0].shape[0]] + [c.shape[1] for c in self.coefs]

    @property
    def n_parameters(self) -> int:
        """How many numbers training adjusts (1135 for the seed's network)."""
        return int(sum(c.size for c in self.coefs) + sum(b.size for b in self.intercepts))

    def copy(self) -> Network:
        """An independent copy (training changes the arrays in place)."""
        return Network([c.copy() for c in self.coefs], [b.copy() for b in self.intercepts], self.activation)

    @classmethod
    def from_estimator(cls, estimator: Any) -> Network:
        """The parameters of a fitted scikit-learn ``MLPClassifier``, copied."""
        return cls(
            [np.array(c) for c in estimator.coefs_],
            [np.array(b) for b in estimator.intercepts_],
            estimator.activation,
        )


def glorot_bound(fan_in: int, fan_out: int, activation: str = "logistic") -> float:
    """Half-width of the uniform range scikit-learn draws a layer's first weights from.

    Glorot & Bengio (2010) keep the signal's variance about equal from layer to
    layer with ``sqrt(6 / (fan_in + fan_out))``; for the logistic function, whose
    slope at 0 is 1/4, scikit-learn uses 2 instead of 6.

    Parameters
    ----------
    fan_in, fan_out : int
        Units feeding the layer and units in it.
    activation : str, default="logistic"
        The hidden activation.

    Returns
    -------
    float
        The bound ``b``; weights and biases start in ``[-b, b)``.
    """
    factor = 2.0 if activation == "logistic" else 6.0
    return float(np.sqrt(factor / (fan_in + fan_out)))


def init_network(
    layer_sizes: Sequence[int],
    *,
    activation: str = "logistic",
    random_state: int | np.random.RandomState | None = 1,
) -> Network:
    """Draw a network's first weights exactly as scikit-learn's ``MLPClassifier`` does.

    Layer by layer, the weight matrix is drawn first, then the bias vector, both
    from ``RandomState.uniform(-b, b)`` with ``b = glorot_bound(...)``. Passing the
    same ``RandomState`` on to `shuffled_batches` continues its stream as
    scikit-learn does.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input first, e.g. ``[64, 15, 10]``.
    activation : str, default="logistic"
        The hidden activation (it sets the Glorot factor).
    random_state : int, RandomState or None, default=1
        The seed, or a generator to draw from (it is advanced).

    Returns
    -------
    Network
    """
    _check_activation(activation)
    sizes = [int(s) for s in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise UsageError(f"a network needs at least an input and an output layer of >= 1 unit each, got {sizes}")
    rng = random_state if isinstance(random_state, np.random.RandomState) else np.random.RandomState(random_state)
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = glorot_bound(fan_in, fan_out, activation)
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return Network(coefs, intercepts, activation)


def _softmax(z: np.ndarray) -> np.ndarray:
    # Subtracting each row's maximum changes nothing mathematically but keeps exp()
    # from overflowing.
    e = np.exp(z - z.max(axis=1)[:, np.newaxis])
    e /= e.sum(axis=1)[:, np.newaxis]
    return e


def forward(network: Network, X: np.ndarray) -> list[np.ndarray]:
    """The forward pass: every layer's output for a batch of samples.

    Parameters
    ----------
    network : Network
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    list of ndarray
        ``[X, hidden_1, ..., probabilities]``; the last has one row per sample
        and one column per class, each row summing to 1.
    """
    _check_activation(network.activation)
    activate = _ACTIVATIONS[network.activation]
    activations = [X]
    last = len(network.coefs) - 1
    for i, (W, b) in enumerate(zip(network.coefs, network.intercepts)):
        z = activations[-1] @ W
        z += b
        activations.append(_softmax(z) if i == last else activate(z))
    return activations


def log_loss(Y: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean cross-entropy: minus the log of the probability given to the true class.

    Probabilities are clipped to ``[eps, 1-eps]`` so a confident mistake costs a
    large but finite amount (``-log(eps)`` ≈ 36), as in scikit-learn.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_classes)
        One-hot true classes (`one_hot`).
    probabilities : ndarray of shape (n_samples, n_classes)
        The network's output.

    Returns
    -------
    float
    """
    eps = np.finfo(probabilities.dtype).eps
    clipped = np.clip(probabilities, eps, 1 - eps)
    # Averaging per class, then summing over classes, is scikit-learn's order.
    return float(-xlogy(Y, clipped).mean(axis=0).sum())


def l2_penalty(network: Network, alpha: float, n_samples: int) -> float:
    """The regularisation term ``alpha / 2 * (sum of squared weights) / n_samples``.

    Biases are not penalised. Dividing by the batch size makes ``alpha`` act per
    sample, so a batch of 200 and the last, smaller batch weigh it alike.
    """
    squares = 0.0
    for W in network.coefs:
        flat = W.ravel()
        squares += np.dot(flat, flat)
    return float((0.5 * alpha) * squares / n_samples)


def loss_and_gradients(
    network: Network, X: np.ndarray, Y: np.ndarray, alpha: float
) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """Forward pass, loss and back-propagation for one batch.

    With a softmax output and cross-entropy loss, the error at the output layer's
    input is simply ``probabilities - Y``. Each earlier layer's error is the next
    one's carried back through the transposed weights, times the activation's
    slope. A layer's weight gradient is its input transposed times its error, plus
    the L2 term ``alpha * W``, all divided by the batch size.

    Parameters
    ----------
    network : Network
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_classes)
        One-hot true classes.
    alpha : float
        L2 regularisation strength.

    Returns
    -------
    loss : float
        Cross-entropy plus the L2 term, for this batch.
    coef_grads, intercept_grads : list of ndarray
        d loss / d coefs[i] and d loss / d intercepts[i], same shapes as the parameters.
    """
    n = X.shape[0]
    activations = forward(network, X)
    loss = log_loss(Y, activations[-1]) + l2_penalty(network, alpha, n)

    n_layers = len(network.coefs)
    coef_grads: list[np.ndarray] = [None] * n_layers  # type: ignore[list-item]
    intercept_grads: list[np.ndarray] = [None] * n_layers  # type: ignore[list-item]
    delta = activations[-1] - Y
    for i in range(n_layers - 1, -1, -1):
        grad = activations[i].T @ delta
        grad += alpha * network.coefs[i]
        grad /= n
        coef_grads[i] = grad
        intercept_grads[i] = np.sum(delta, axis=0) / n
        if i > 0:
            delta = _activation_derivative(network.activation, activations[i], delta @ network.coefs[i].T)
    return float(loss), coef_grads, intercept_grads


@dataclass
class NesterovSGD:
    """Stochastic gradient descent with (Nesterov) momentum, as scikit-learn's ``SGDOptimizer``.

    Each parameter keeps a velocity ``v``. A step computes ``v = momentum * v -
    learning_rate * grad``; plain momentum adds ``v`` to the parameter, Nesterov's
    variant adds ``momentum * v - learning_rate * grad`` instead, a look-ahead
    that corrects the step sooner when the slope changes.

    Parameters
    ----------
    learning_rate : float, default=0.1
    momentum : float, default=0.9
    nesterov : bool, default=True
    """

    learning_rate: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    velocities: list[np.ndarray] | None = field(default=None, repr=False)

    def step(
        self, network: Network, coef_grads: list[np.ndarray], intercept_grads: list[np.ndarray]
    ) -> list[np.ndarray]:
        """Move ``network``'s parameters (in place) one step down the given gradients.

        Returns
        -------
        list of ndarray
            The changes applied, weights first then biases (scikit-learn's order).
        """
        params = network.coefs + network.intercepts
        grads = list(coef_grads) + list(intercept_grads)
        if self.velocities is None:
            self.velocities = [np.zeros_like(p) for p in params]
        self.velocities = [self.momentum * v - self.learning_rate * g for v, g in zip(self.velocities, grads)]
        updates = self.velocities
        if self.nesterov:
            updates = [self.momentum * v - self.learning_rate * g for v, g in zip(self.velocities, grads)]
        for param, update in zip(params, updates):
            param += update
        return updates


def one_hot(y: np.ndarray, classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels as a one-hot matrix: one column per class, True where the label is.

    Returns
    -------
    Y : ndarray of bool, shape (n_samples, n_classes)
    classes : ndarray
        The sorted classes, one per column.
    """
    y = np.asarray(y)
    classes = np.unique(y) if classes is None else np.asarray(classes)
    return y[:, np.newaxis] == classes[np.newaxis, :], classes


def shuffled_batches(
    order: np.ndarray, batch_size: int, rng: np.random.RandomState | None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One epoch's mini-batches: reshuffle the sample order, then cut it in slices.

    scikit-learn shuffles the *previous* epoch's order (a permutation of a
    permutation), drawing with ``RandomState.shuffle`` on ``arange(n)``; the last
    batch holds what is left (1000 samples in batches of 200 give 5 full ones).

    Parameters
    ----------
    order : ndarray of int
        The previous epoch's sample order (``arange(n)`` before the first).
    batch_size : int
    rng : RandomState or None
        ``None`` keeps the order (no shuffling).

    Returns
    -------
    order : ndarray of int
        This epoch's order.
    batches : list of ndarray of int
        Sample indices of each batch.
    """
    if rng is not None:
        permutation = np.arange(order.shape[0])
        rng.shuffle(permutation)
        order = order[permutation]
    return order, [order[start : start + batch_size] for start in range(0, order.shape[0], batch_size)]


@dataclass
class TrainingRun:
    """What `train` did.

    Attributes
    ----------
    network : Network
        The trained parameters.
    initial : Network
        The parameters before the first step.
    losses : list of float
        The epoch losses, as ``MLPClassifier.loss_curve_``.
    batch_losses : list of list of float
        Each epoch's batch losses, in order.
    classes : ndarray
        The classes, one per output unit.
    stopped : str
        Why training ended.
    seconds : float
        Wall time of the training loop.
    """

    network: Network
    initial: Network
    losses: list[float]
    batch_losses: list[list[float]]
    classes: np.ndarray
    stopped: str
    seconds: float

    @property
    def n_iter(self) -> int:
        """Epochs run."""
        return len(self.losses)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most probable class of each sample."""
        return self.classes[np.argmax(forward(self.network, np.asarray(X, dtype=float))[-1], axis=1)]


def _validate_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] == 0:
        raise UsageError(f"X must be a 2-D array of samples x features, got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise UsageError(f"y must hold one label per row of X ({X.shape[0]}), got shape {y.shape}")
    if not np.isfinite(X).all():
        raise UsageError("X contains NaN or infinite values; clean or impute them before training")
    if np.unique(y).size < 3:
        raise UsageError("mechanics.train covers the multi-class (softmax) case: give labels of at least 3 classes")
    return X, y


def train(
    X: Any,
    y: Any,
    *,
    hidden_layer_sizes: Sequence[int] = (15,),
    activation: str = "logistic",
    alpha: float = 1e-4,
    batch_size: int | str = "auto",
    learning_rate_init: float = 0.1,
    momentum: float = 0.9,
    nesterovs_momentum: bool = True,
    max_iter: int = 200,
    tol: float = 1e-4,
    n_iter_no_change: int = 2,
    shuffle: bool = True,
    random_state: int | None = 1,
    progress: ProgressFn = null_progress,
) -> TrainingRun:
    """Train the network with the NumPy pieces above, the way ``MLPClassifier(solver='sgd')`` does.

    The defaults are the seed's network (`SEED_PARAMETERS`); the parameter names
    are scikit-learn's, so ``sklearn_twin(**same)`` builds the estimator to
    compare with.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        At least three classes.
    hidden_layer_sizes, activation, alpha, batch_size, learning_rate_init, momentum,
    nesterovs_momentum, max_iter, tol, n_iter_no_change, shuffle, random_state
        As in ``MLPClassifier`` (constant learning rate, no early stopping).
    progress : ProgressFn, optional
        Told each epoch, with its loss.

    Returns
    -------
    TrainingRun
    """
    X, y = _validate_xy(X, y)
    n_samples = X.shape[0]
    if batch_size == "auto":
        batch_size = 200  # scikit-learn's "auto": min(200, n_samples)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UsageError(f"batch_size must be 'auto' or an integer >= 1, got {batch_size!r}")
    batch_size = min(int(batch_size), n_samples)
    if max_iter < 1 or learning_rate_init <= 0 or alpha < 0 or not 0 <= momentum <= 1:
        raise UsageError("need max_iter >= 1, learning_rate_init > 0, alpha >= 0 and 0 <= momentum <= 1")
    Y, classes = one_hot(y)
    rng = np.random.RandomState(random_state)
    network = init_network(
        [X.shape[1], *hidden_layer_sizes, classes.size], activation=activation, random_state=rng
    )
    initial = network.copy()
    optimizer = NesterovSGD(learning_rate_init, momentum, nesterovs_momentum)

    losses: list[float] = []
    batch_losses: list[list[float]] = []
    best_loss, epochs_without_improvement = np.inf, 0
    stopped = f"reached max_iter={max_iter}"
    order = np.arange(n_samples, dtype=int)
    started = time.perf_counter()
    for epoch in range(1, max_iter + 1):
        order, batches = shuffled_batches(order, batch_size, rng if shuffle else None)
        accumulated, epoch_batches = 0.0, []
        for batch in batches:
            loss, coef_grads, intercept_grads = loss_and_gradients(network, X[batch], Y[batch], alpha)
            accumulated += loss * batch.shape[0]
            epoch_batches.append(loss)
            optimizer.step(network, coef_grads, intercept_grads)
        losses.append(accumulated / n_samples)
        batch_losses.append(epoch_batches)
        progress("training (numpy)", epoch, max_iter, loss=losses[-1])
        if not np.isfinite(losses[-1]):
            stopped = f"diverged at epoch {epoch} (loss is not finite); lower learning_rate_init"
            break
        # "Improvement" means beating the best loss so far by more than tol.
        epochs_without_improvement = epochs_without_improvement + 1 if losses[-1] > best_loss - tol else 0
        best_loss = min(best_loss, losses[-1])
        if epochs_without_improvement > n_iter_no_change:
            stopped = (
                f"training loss did not improve more than tol={tol:f} "
                f"for {n_iter_no_change} consecutive epochs"
            )
            break
    return TrainingRun(network, initial, losses, batch_losses, classes, stopped, time.perf_counter() - started)


def sklearn_twin(**parameters: Any) -> Any:
    """The unfitted ``MLPClassifier`` that `train` with the same keywords imitates.

    It is the seed's network (`digitrec.tutorial.seed_network`) with the given
    parameters changed.

    Parameters
    ----------
    **parameters
        `train`'s keywords (scikit-learn's names); missing ones keep the seed's values.

    Returns
    -------
    sklearn.neural_network.MLPClassifier
    """
    from digitrec.tutorial import seed_network

    unknown = set(parameters) - set(SEED_PARAMETERS)
    if unknown:
        raise UsageError(f"unknown parameter(s) {sorted(unknown)}; use {sorted(SEED_PARAMETERS)}")
    return seed_network().set_params(**parameters)


# --- Checking back-propagation -------------------------------------------------


@dataclass
class GradientCheck:
    """Back-propagation's gradient against central finite differences.

    Attributes
    ----------
    relative_error : float
        ``|g_numeric - g_backprop| / (|g_numeric| + |g_backprop|)`` over all
        checked parameters (Euclidean norms); below ~1e-7 means they agree.
    max_abs_error : float
        The largest difference in any one parameter.
    n_checked : int
        Parameters checked.
    numeric, backprop : ndarray
        The two gradients, flattened in the checked order.
    """

    relative_error: float
    max_abs_error: float
    n_checked: int
    numeric: np.ndarray
    backprop: np.ndarray

    @property
    def ok(self) -> bool:
        """Whether the gradients agree to 1e-6 relative error."""
        return self.relative_error < 1e-6


def gradient_check(
    network: Network,
    X: Any,
    y: Any,
    *,
    alpha: float = 1e-4,
    epsilon: float = 1e-6,
    max_parameters: int | None = None,
    random_state: int = 0,
) -> GradientCheck:
    """Compare `loss_and_gradients` with ``(L(w+ε) - L(w-ε)) / 2ε`` for each parameter.

    Parameters
    ----------
    network : Network
        Left unchanged.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_classes)
        Labels (one of the network's classes ``0..n_outputs-1``) or a one-hot matrix.
    alpha : float, default=1e-4
    epsilon : float, default=1e-6
        The finite-difference step.
    max_parameters : int, optional
        Check only this many parameters, picked at random; all by default.
    random_state : int, default=0
        For that pick.

    Returns
    -------
    GradientCheck
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n_outputs = network.layer_sizes[-1]
    Y = y if y.ndim == 2 else one_hot(y, np.arange(n_outputs))[0]
    if X.ndim != 2 or X.shape[1] != network.layer_sizes[0] or Y.shape != (X.shape[0], n_outputs):
        raise UsageError(
            f"gradient_check needs X of shape (n, {network.layer_sizes[0]}) and labels for each row; "
            f"got X {X.shape} and y {y.shape}"
        )
    probe = network.copy()
    _, coef_grads, intercept_grads = loss_and_gradients(probe, X, Y, alpha)
    params = probe.coefs + probe.intercepts
    grads = coef_grads + intercept_grads
    locations = [(p, idx) for p in range(len(params)) for idx in np.ndindex(params[p].shape)]
    if max_parameters is not None and max_parameters < len(locations):
        pick = np.random.RandomState(random_state).choice(len(locations), max_parameters, replace=False)
        locations = [locations[i] for i in sorted(pick)]
    numeric = np.empty(len(locations))
    backprop = np.empty(len(locations))
    for k, (p, idx) in enumerate(locations):
        saved = params[p][idx]
        params[p][idx] = saved + epsilon
        plus = loss_and_gradients(probe, X, Y, alpha)[0]
        params[p][idx] = saved - epsilon
        minus = loss_and_gradients(probe, X, Y, alpha)[0]
        params[p][idx] = saved
        numeric[k] = (plus - minus) / (2 * epsilon)
        backprop[k] = grads[p][idx]
    scale = np.linalg.norm(numeric) + np.linalg.norm(backprop)
    relative = float(np.linalg.norm(numeric - backprop) / scale) if scale > 0 else 0.0
    return GradientCheck(relative, float(np.max(np.abs(numeric - backprop))), len(locations), numeric, backprop)


# --- What each knob does -------------------------------------------------------

#: The values each knob is tried at by default; the seed's value is among them.
KNOBS: dict[str, tuple[Any, ...]] = {
    "learning_rate_init": (0.001, 0.01, 0.1, 1.0),
    "hidden_layer_sizes": ((5,), (15,), (50,), (200,)),
    "activation": ("identity", "logistic", "tanh", "relu"),
    "momentum": (0.0, 0.5, 0.9, 0.99),
    "alpha": (1e-4, 1e-1, 1.0, 10.0),
}


@dataclass
class KnobRun:
    """One short training with one knob changed from the seed's network.

    Attributes
    ----------
    knob : str
        The ``MLPClassifier`` parameter changed.
    value : object
        Its value in this run.
    loss_curve : list of float
        The epoch losses (``loss_curve_``).
    train_accuracy, test_accuracy : float
        On the tutorial split's first 1000 and other 797 digits.
    weight_norm : float
        ``sqrt(sum of squared weights)``: what ``alpha`` pushes down.
    n_iter : int
    hit_max_iter : bool
        True when ``max_iter`` ran out before the stopping rule fired (the loss
        was still improving by more than ``tol``).
    seconds : float
        Training time.
    """

    knob: str
    value: Any
    loss_curve: list[float]
    train_accuracy: float
    test_accuracy: float
    weight_norm: float
    n_iter: int
    hit_max_iter: bool
    seconds: float

    @property
    def label(self) -> str:
        """``knob=value`` for legends."""
        value = self.value[0] if isinstance(self.value, tuple) and len(self.value) == 1 else self.value
        return f"{self.knob}={value}"


def tutorial_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tutorial's split of scikit-learn's 8x8 digits: first 1000 to train, other 797 to test.

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarray
    """
    from digitrec.datasets import load_split

    split = load_split("digits/tutorial")
    return split.X_train, split.y_train, split.X_test, split.y_test


def knob_experiment(
    knob: str,
    values: Sequence[Any] | None = None,
    *,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    max_iter: int = 200,
    base: dict[str, Any] | None = None,
    progress: ProgressFn = null_progress,
) -> list[KnobRun]:
    """Train the seed's network once per value of one knob and record what happened.

    These are real trainings with scikit-learn's ``MLPClassifier`` (the same
    algorithm as `train`, only faster to call), on the tutorial split, all other
    parameters as in the seed.

    Parameters
    ----------
    knob : str
        One of `KNOBS`' keys: ``learning_rate_init``, ``hidden_layer_sizes``,
        ``activation``, ``momentum``, ``alpha``.
    values : sequence, optional
        The values to try; `KNOBS` [knob] by default.
    data : tuple of 4 arrays, optional
        ``(X_train, y_train, X_test, y_test)``; `tutorial_data` by default.
    max_iter : int, default=200
        Epoch budget per run (the seed's); lower it for a quick look.
    base : dict, optional
        Parameters to change from `SEED_PARAMETERS` in every run.
    progress : ProgressFn, optional
        Told after each run.

    Returns
    -------
    list of KnobRun
        One per value, in the order given.
    """
    from sklearn.exceptions import ConvergenceWarning

    if knob not in KNOBS:
        raise UsageError(f"unknown knob {knob!r}; use one of {', '.join(KNOBS)}")
    values = KNOBS[knob] if values is None else tuple(values)
    if not values:
        raise UsageError(f"give at least one value of {knob} to try")
    if max_iter < 1:
        raise UsageError(f"max_iter must be at least 1, got {max_iter}")
    X_train, y_train, X_test, y_test = tutorial_data() if data is None else data
    runs = []
    for done, value in enumerate(values, start=1):
        if knob == "hidden_layer_sizes" and isinstance(value, int):
            value = (value,)
        estimator = sklearn_twin(**{**(base or {}), "max_iter": max_iter, knob: value})
        started = time.perf_counter()
        with warnings.catch_warnings():
            # Running out of epochs is an outcome here (recorded as hit_max_iter),
            # and a diverging run may overflow: both are what the experiment shows.
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                estimator.fit(X_train, y_train)
            except ValueError as exc:
                if "non-finite" not in str(exc):
                    raise
        seconds = time.perf_counter() - started
        curve = [float(v) for v in getattr(estimator, "loss_curve_", [])]
        finite = all(np.isfinite(w).all() for w in estimator.coefs_)
        runs.append(
            KnobRun(
                knob=knob,
                value=value,
                loss_curve=curve,
                train_accuracy=float(estimator.score(X_train, y_train)) if finite else float("nan"),
                test_accuracy=float(estimator.score(X_test, y_test)) if finite else float("nan"),
                weight_norm=float(np.sqrt(sum(np.sum(w**2) for w in estimator.coefs_))),
                n_iter=int(estimator.n_iter_),
                hit_max_iter=bool(estimator.n_iter_ >= max_iter),
                seconds=seconds,
            )
        )
        progress(f"knob {knob}", done, len(values), test_accuracy=runs[-1].test_accuracy)
    return runs
