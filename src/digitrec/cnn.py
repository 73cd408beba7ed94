"""A convolutional network for digits, as a scikit-learn classifier.

`DigitCNN` is an ordinary scikit-learn estimator (``__init__`` stores parameters,
``fit`` learns, learned state ends in ``_``), so `clone`, `GridSearchCV` and
``parametrize_with_checks`` work on it. Inside ``fit`` it builds a skorch
`NeuralNetClassifier` around a small PyTorch module and lets skorch run the
training loop; what skorch cannot do is written here:

* the module takes flattened images, ``(n, 784)`` MNIST or ``(n, 64)`` optdigits,
  and reshapes (and rescales) them itself, so the exported ONNX graph reads the
  model's input format directly;
* data augmentation (random small shifts, rotations and zooms) is a layer that,
  like dropout, acts only in training mode and is done on the whole batch in torch;
* an optional small ensemble (``n_networks``): several networks in one module,
  trained side by side, each on its own loss, their logits averaged for prediction;
* a temperature is fitted on the held-out validation part after training
  (`temperature_`) and an "uncertain" threshold is read off the same part
  (`threshold_`); the test set is never used for either;
* `to_onnx` exports the network with ``softmax(logits / temperature)`` inside.

Training is seeded and deterministic on CPU: the same data and parameters give
bit-identical weights (``torch.use_deterministic_algorithms`` and a fixed number
of threads while fitting; the caller's torch settings and RNG are restored).

torch and skorch are imported only inside the functions that need them (the
``[train]`` extra).
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelEncoder

# Private to scikit-learn (pinned by pyproject's range); parametrize_with_checks in
# tests/test_recipes.py catches a change in it.
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from digitrec.errors import UsageError, require
from digitrec.progress import ProgressFn, null_progress

__all__ = ["DigitCNN", "to_onnx", "fit_temperature", "confidence_threshold"]

#: Share of the correctly classified validation digits that may fall under the
#: default "uncertain" threshold (1%: a real digit is rarely flagged).
THRESHOLD_QUANTILE = 0.01
#: The threshold is kept in this range: a validation part with no errors (small
#: 8x8 sets) would otherwise put it at 1.0, marking every digit uncertain.
THRESHOLD_RANGE = (0.2, 0.95)
#: Temperatures searched. On a validation part with (almost) no errors the log-loss
#: keeps falling as T -> 0, so T is not allowed to sharpen the network by more than 2x.
TEMPERATURE_RANGE = (0.5, 10.0)


def _torch():
    return require("torch", "train")


@functools.cache
def _modules() -> dict[str, type]:
    """The torch module classes, defined on first use so importing this file needs no torch."""
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    class RandomAffine(nn.Module):
        """Random shift/rotation/zoom of each image in a batch; identity in eval mode."""

        def __init__(self, shift: float, rotation: float, zoom: float, side: int) -> None:
            super().__init__()
            self.shift = shift
            self.rotation = rotation
            self.zoom = zoom
            self.side = side

        def forward(self, x):
            if not self.training or (self.shift == 0 and self.rotation == 0 and self.zoom == 0):
                return x
            n = x.shape[0]
            u = torch.rand(n, 4, dtype=x.dtype, device=x.device) * 2 - 1
            angle = u[:, 0] * math.radians(self.rotation)
            scale = 1 + u[:, 1] * self.zoom
            # affine_grid works in [-1, 1] coordinates: one pixel is 2 / side.
            tx = u[:, 2] * self.shift * 2 / self.side
            ty = u[:, 3] * self.shift * 2 / self.side
            cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
            theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)

    class DigitNet(nn.Module):
        """Flattened image in, class logits out: conv/BN/ReLU stages, each ending in a 2x2 max-pool."""

        def __init__(
            self,
            n_features: int,
            n_classes: int,
            channels: tuple[tuple[int, ...], ...],
            dropout: float,
            input_max: float,
            shift: float,
            rotation: float,
            zoom: float,
            bfloat16: bool = False,
        ) -> None:
            super().__init__()
            self.bfloat16 = bfloat16
            self.n_features = n_features
            self.side = max(1, math.isqrt(n_features - 1) + 1) if n_features > 1 else 1
            self.input_max = float(input_max)
            self.augment = RandomAffine(shift, rotation, zoom, self.side)
            layers: list[nn.Module] = []
            width, side = 1, self.side
            for stage in channels:
                for out in stage:
                    layers += [nn.Conv2d(width, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
                    width = out
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
                side = (side + 1) // 2
            self.features = nn.Sequential(*layers)
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(width * side * side, n_classes))
            if bfloat16:
                self.to(memory_format=torch.channels_last)

        def forward(self, x):
            pad = self.side * self.side - self.n_features
            if pad:
                # Inputs that are not a square image are padded with "no ink".
                x = F.pad(x, (0, pad))
            x = x.reshape(-1, 1, self.side, self.side) / self.input_max
            if self.training and self.bfloat16:
                # Training only: bfloat16 convolutions in channels-last layout run about twice
                # as fast on CPUs with AMX/AVX512-BF16; evaluation and the ONNX export stay float32.
                x = self.augment(x).contiguous(memory_format=torch.channels_last)
                with torch.autocast(x.device.type, dtype=torch.bfloat16):
                    return self.head(self.features(x)).float()
            return self.head(self.features(self.augment(x)))

    class Ensemble(nn.Module):
        """Several `DigitNet` built from the same arguments, initialised one after the other.

        In training mode the members' logits are stacked on a last axis, ``(n, classes,
        members)``, so `MemberCrossEntropy` trains each member on its own loss (they only
        share the batches; each draws its own augmentation). In eval mode (prediction,
        validation, the ONNX export) their logits are averaged.
        """

        def __init__(self, n_networks: int, **net_kwargs) -> None:
            super().__init__()
            self.members = nn.ModuleList(DigitNet(**net_kwargs) for _ in range(n_networks))

        def forward(self, x):
            logits = torch.stack([member(x) for member in self.members], dim=-1)
            return logits if self.training else logits.mean(dim=-1)

    class MemberCrossEntropy(nn.CrossEntropyLoss):
        """Cross-entropy that also takes `Ensemble`'s stacked training logits: the members' mean loss."""

        def forward(self, input, target):
            if input.ndim == 3:
                target = target[:, None].expand(-1, input.shape[-1])
            return super().forward(input, target)

    class Calibrated(nn.Module):
        """``softmax(net(x) / temperature)``: the graph `to_onnx` exports."""

        def __init__(self, net: nn.Module, temperature: float) -> None:
            super().__init__()
            self.net = net
            self.temperature = float(temperature)

        def forward(self, x):
            return torch.softmax(self.net(x) / self.temperature, dim=1)

    return {
        "RandomAffine": RandomAffine,
        "DigitNet": DigitNet,
        "Ensemble": Ensemble,
        "MemberCrossEntropy": MemberCrossEntropy,
        "Calibrated": Calibrated,
    }


@contextlib.contextmanager
def _deterministic(seed: int, threads: int, device: str = "cpu") -> Iterator[None]:
    """Seed torch, force deterministic kernels and fix the threads; restore all afterwards.

    On a GPU some kernels (cuBLAS, pooling's backward) have no deterministic version:
    there the request only warns, and runs repeat closely, not bit for bit.
    """
    torch = _torch()
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    gpu = device != "cpu"
    with torch.random.fork_rng(devices=[torch.device(device)] if gpu else []):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=gpu)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
            torch.set_num_threads(old_threads)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising the log-loss of ``softmax(logits / T)`` on (logits, y).

    Temperature scaling (Guo et al., 2017) changes confidences, never the predicted class.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / math.exp(log_t), axis=1)[rows, y].mean())

    low, high = TEMPERATURE_RANGE
    result = minimize_scalar(nll, bounds=(math.log(low), math.log(high)), method="bounded")
    return float(math.exp(result.x))


def confidence_threshold(proba: np.ndarray, y: np.ndarray, quantile: float = THRESHOLD_QUANTILE) -> float:
    """The confidence under which only ``quantile`` of the correctly classified samples fall."""
    correct = proba.argmax(axis=1) == y
    if not correct.any():
        return 0.5
    return float(np.clip(np.quantile(proba.max(axis=1)[correct], quantile), *THRESHOLD_RANGE))


class DigitCNN(ClassifierMixin, BaseEstimator):
    """A small convolutional network for flattened digit images (skorch inside).

    Parameters
    ----------
    channels : tuple of tuple of int, default=((16,), (32, 32), (64, 64))
        Convolution widths, stage by stage; each conv is 3x3 + batch norm + ReLU and
        each stage ends in a 2x2 max-pool. A linear layer maps the last stage to logits.
    dropout : float, default=0.1
        Dropout before the linear layer.
    max_epochs : int, default=8
        Passes over the training part.
    batch_size : int, default=128
    lr : float, default=3e-3
        Peak learning rate of the one-cycle schedule (AdamW).
    weight_decay : float, default=1e-4
    optimizer : {"adamw", "sgd"}, default="adamw"
        AdamW, or SGD with Nesterov momentum 0.9.
    shift : float, default=2.0
        Largest random shift, in pixels, of a training image (0: none).
    rotation : float, default=10.0
        Largest random rotation in degrees.
    zoom : float, default=0.1
        Largest random relative zoom in or out.
    input_max : float, default=1.0
        The value of full ink in the input (1 for MNIST, 16 for optdigits); the
        network divides by it so it sees 0..1 either way.
    validation_fraction : float, default=0.1
        Share of the training data held out (stratified) to report validation
        accuracy and to fit `temperature_` and `threshold_`; 0 holds nothing out.
    random_state : int, default=0
        Seeds the split, the initial weights, the batches and the augmentation.
    threads : int, default=2
        torch threads while fitting, and worker processes making the re-drawn digits
        and negatives (fixed so results do not depend on the machine's core count;
        the samples made do not depend on it at all).
    bfloat16 : bool, default=False
        Train with bfloat16 convolutions (channels-last): about twice as fast on CPUs
        with AMX or AVX512-BF16, slow on others. Prediction and ONNX stay float32.
    negatives : int, default=0
        Number of synthetic "not a single digit" samples (`digitrec.negatives`:
        rendered letters, symbols, scribbles and smudges, touching digit pairs and
        digit fragments, made from the training part, seeded) added to the training
        part as an extra class, at most one per nine training digits (6000 for the
        54000 MNIST digits a 10% validation part leaves). With 0 the network has one
        output per class; above 0 it has one more, the reject column, last.
    redrawn : float, default=0.0
        Share of the training digits (MNIST only) replaced by the same digits drawn
        on a drawing pad with a finer, the same or a fatter pen and read back through
        `digitrec.preprocess` (`digitrec.redrawn`), so the network also learns the
        crisp, evenly wide strokes real pens give after preprocessing. Seeded; the
        validation part is left as it is.
    numbers : float, default=0.0
        Share of the training digits (MNIST only) written into numbers of two to four
        digits in every realistic style and replaced by what `digitrec.preprocess`
        cuts out of their number (`digitrec.redrawn.digits_from_numbers`), so the
        network also learns digits as segmentation gives them: smaller, a neighbour's
        stroke reaching in, touching strokes cut. Seeded; the validation part is left
        as it is.
    rendered : float, default=0.0
        Share of the training digits (MNIST only) rendered as the images people have
        (photographed paper, chalk, scans, canvases, rotated photos, fine pens and
        markers: `digitrec.synth.STYLES`) and replaced by what `digitrec.preprocess`
        reads back (`digitrec.redrawn.render_digits`). Seeded; the validation part is
        left as it is.
    n_networks : int, default=1
        Networks trained side by side (same batches, own initial weights, own
        augmentation draws, own loss) and averaged: their mean logits are the
        estimator's. Each one more costs one network's training and prediction time.
    device : {"cpu", "cuda"}, default="cpu"
        Where to train. "cuda" trains on an NVIDIA GPU (the weights come back to the
        CPU afterwards; predicting and the ONNX export are the same). Seeded runs on a
        GPU repeat closely but not bit for bit.
    threshold : float or None, default=None
        The "uncertain" threshold to ship (`threshold_`). None: calibrated, the
        confidence under which 1% of the correctly classified validation digits fall.
        Clean MNIST digits are surer than digits read from photos, so a model for
        real images may fix one chosen on realistic renders instead (``cnn-reader``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The digit classes only. With ``negatives > 0``, `predict_proba`,
        `decision_function` and the ONNX export have one more column, last: "not a
        single digit" (``reject_class_``); `predict` still answers the best digit.
    reject_class_ : bool
        Whether the last output column is the reject class.
    n_features_in_ : int
    net_ : skorch.NeuralNetClassifier
        The trained skorch net; ``net_.module_`` is the torch module (logits out): a
        ``DigitNet``, or with ``n_networks > 1`` an ``Ensemble`` of them (``members``).
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss``, and with validation ``valid_loss``, ``valid_acc``.
    temperature_ : float
        Temperature scaling fitted on the validation part (1.0 without one).
    threshold_ : float
        Confidence under which 1% of the correctly classified validation digits fall
        (0.5 without a validation part).
    calibration_ : dict
        How `temperature_` and `threshold_` were chosen, for the model card.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> cnn = DigitCNN(channels=((8,),), max_epochs=2, input_max=16, validation_fraction=0)
    >>> cnn.fit(X[:200], y[:200]).predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        "channels": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "shift": [Interval(Real, 0, None, closed="left")],
        "rotation": [Interval(Real, 0, 180, closed="both")],
        "zoom": [Interval(Real, 0, 1, closed="left")],
        "input_max": [Interval(Real, 0, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "threads": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions({"adamw", "sgd"})],
        "bfloat16": ["boolean"],
        "negatives": [Interval(Integral, 0, None, closed="left")],
        "redrawn": [Interval(Real, 0, 1, closed="both")],
        "numbers": [Interval(Real, 0, 1, closed="both")],
        "rendered": [Interval(Real, 0, 1, closed="both")],
        "threshold": [Interval(Real, 0, 1, closed="both"), None],
        "n_networks": [Interval(Integral, 1, None, closed="left")],
        "device": [StrOptions({"cpu", "cuda"})],
    }

    def __init__(
        self,
        *,
        channels: tuple[tuple[int, ...], ...] = ((16,), (32, 32), (64, 64)),
        dropout: float = 0.1,
        max_epochs: int = 8,
        batch_size: int = 128,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        optimizer: str = "adamw",
        shift: float = 2.0,
        rotation: float = 10.0,
        zoom: float = 0.1,
        input_max: float = 1.0,
        validation_fraction: float = 0.1,
        random_state: int = 0,
        threads: int = 2,
        bfloat16: bool = False,
        negatives: int = 0,
        redrawn: float = 0.0,
        numbers: float = 0.0,
        rendered: float = 0.0,
        n_networks: int = 1,
        device: str = "cpu",
        threshold: float | None = None,
    ) -> None:
        self.channels = channels
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.shift = shift
        self.rotation = rotation
        self.zoom = zoom
        self.input_max = input_max
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.threads = threads
        self.bfloat16 = bfloat16
        self.negatives = negatives
        self.redrawn = redrawn
        self.numbers = numbers
        self.rendered = rendered
        self.n_networks = n_networks
        self.device = device
        self.threshold = threshold

    def _device(self) -> str:
        if self.device == "cuda" and not _torch().cuda.is_available():
            raise UsageError("device='cuda' but torch sees no CUDA GPU here; train with device='cpu' (the default)")
        return str(self.device)

    def _split(self, X: np.ndarray, y: np.ndarray):
        """Stratified train/validation split (plain shuffle where a class is too rare)."""
        from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

        n_valid = int(round(self.validation_fraction * len(y)))
        if n_valid < 1 or len(y) - n_valid < 1:
            return X, y, None, None
        try:
            splitter = StratifiedShuffleSplit(1, test_size=n_valid, random_state=self.random_state)
            train, valid = next(splitter.split(X, y))
        except ValueError:
            splitter = ShuffleSplit(1, test_size=n_valid, random_state=self.random_state)
            train, valid = next(splitter.split(X, y))
        return X[train], y[train], X[valid], y[valid]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, *, progress: ProgressFn = null_progress) -> DigitCNN:
        """Train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Flattened images (784 for MNIST, 64 for optdigits).
        y : array-like of shape (n_samples,)
        progress : ProgressFn, optional
            Called after each epoch as ``progress("Training", epoch, max_epochs,
            loss=..., valid_acc=...)``.

        Returns
        -------
        self
        """
        torch = _torch()
        skorch = require("skorch", "train")
        from skorch.callbacks import Callback, LRScheduler
        from skorch.dataset import Dataset
        from skorch.helper import predefined_split

        device = self._device()  # before any work: no GPU is said at once
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        y_enc = encoder.transform(y).astype(np.int64)
        X_train, y_train, X_valid, y_valid = self._split(X, y_enc)
        n_digits = len(self.classes_)
        from digitrec.redrawn import digits_from_numbers, redraw_digits, render_digits

        replacements = ((self.redrawn, redraw_digits), (self.numbers, digits_from_numbers), (self.rendered, render_digits))
        for share, replace in replacements:
            if float(share) > 0:
                X_train, _ = replace(
                    X_train,
                    float(share),
                    input_max=float(self.input_max),
                    random_state=int(self.random_state),
                    n_jobs=int(self.threads),
                    progress=progress,
                )
        self.reject_class_ = int(self.negatives) > 0
        if self.reject_class_:
            from digitrec.negatives import make_negatives

            # Made from the training part only: the validation digits stay unseen.
            # At most one negative per nine training digits (6000 for MNIST's 54000), so a
            # short run on a small split stays short and mostly digits.
            n_negatives = max(1, min(int(self.negatives), len(y_train) // 9))
            negatives = make_negatives(
                X_train,
                n_negatives,
                input_max=float(self.input_max),
                random_state=int(self.random_state),
                n_jobs=int(self.threads),
                progress=progress,
            )
            X_train = np.concatenate([X_train, negatives])
            y_train = np.concatenate([y_train, np.full(len(negatives), n_digits, dtype=np.int64)])

        epochs = int(self.max_epochs)
        steps = epochs * math.ceil(len(y_train) / self.batch_size)

        class Report(Callback):
            def on_epoch_end(self, net, **kwargs):
                row = net.history[-1]
                info = {"loss": float(row["train_loss"])}
                if "valid_acc" in row:
                    info["valid_acc"] = float(row["valid_acc"])
                progress("Training", len(net.history), epochs, **info)

        modules = _modules()
        optimizer = (
            {"optimizer": torch.optim.AdamW, "optimizer__weight_decay": self.weight_decay}
            if self.optimizer == "adamw"
            else {
                "optimizer": torch.optim.SGD,
                "optimizer__momentum": 0.9,
                "optimizer__nesterov": True,
                "optimizer__weight_decay": self.weight_decay,
            }
        )
        # One network is a plain DigitNet, as before ensembles existed (the same weights for a seed).
        n_networks = int(self.n_networks)
        module = (
            {"module": modules["DigitNet"]}
            if n_networks == 1
            else {"module": modules["Ensemble"], "module__n_networks": n_networks}
        )
        with _deterministic(int(self.random_state), int(self.threads), device), warnings.catch_warnings():
            # On a GPU, "no deterministic implementation" is said once per kernel per batch.
            warnings.filterwarnings("ignore", message=".*deterministic.*", category=UserWarning)
            net = skorch.NeuralNetClassifier(
                **module,
                module__n_features=X.shape[1],
                module__n_classes=n_digits + int(self.reject_class_),
                module__channels=tuple(tuple(int(c) for c in stage) for stage in self.channels),
                module__dropout=float(self.dropout),
                module__input_max=float(self.input_max),
                module__shift=float(self.shift),
                module__rotation=float(self.rotation),
                module__zoom=float(self.zoom),
                module__bfloat16=bool(self.bfloat16),
                criterion=modules["MemberCrossEntropy"],
                lr=self.lr,
                max_epochs=epochs,
                batch_size=int(self.batch_size),
                iterator_train__shuffle=True,
                iterator_valid__batch_size=1024,
                train_split=None if X_valid is None else predefined_split(Dataset(X_valid, y_valid)),
                predict_nonlinearity=None,
                callbacks=[
                    (
                        "one_cycle",
                        LRScheduler(
                            policy=torch.optim.lr_scheduler.OneCycleLR,
                            max_lr=self.lr,
                            total_steps=steps,
                            step_every="batch",
                        ),
                    ),
                    ("report", Report()),
                ],
                device=device,
                verbose=0,
                **optimizer,
            )
            progress("Training", 0, epochs)
            net.fit(X_train, y_train)
            if device != "cpu":
                # Calibrating, predicting and exporting run on the CPU, like the ONNX model users get.
                net.module_.to("cpu")
                net.device = "cpu"
            self.net_ = net
            self.history_ = [
                {k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if k in _HISTORY_KEYS}
                for row in net.history
            ]
            self.n_iter_ = len(net.history)
            if X_valid is not None:
                logits = self._logits(X_valid)
                self.temperature_ = fit_temperature(logits, y_valid)
                proba = _softmax(logits / self.temperature_)
                # The threshold is read from the digit columns: the recogniser's confidence
                # is the best digit's probability (the reject column, where there is one,
                # marks a digit uncertain on its own when it wins).
                self.threshold_ = confidence_threshold(proba[:, :n_digits], y_valid)
                self.calibration_ = {
                    "n_valid": int(len(y_valid)),
                    "valid_accuracy": float((proba[:, :n_digits].argmax(1) == y_valid).mean()),
                    "temperature": "temperature scaling: the T in "
                    f"[{TEMPERATURE_RANGE[0]}, {TEMPERATURE_RANGE[1]}] minimising the log-loss of "
                    "softmax(logits / T) on a stratified validation part held out of the training data",
                    "threshold": f"the confidence under which {THRESHOLD_QUANTILE:.0%} of the correctly "
                    "classified validation digits fall (calibrated probabilities), kept in "
                    f"[{THRESHOLD_RANGE[0]}, {THRESHOLD_RANGE[1]}]",
                }
            else:
                self.temperature_ = 1.0
                self.threshold_ = 0.5
                self.calibration_ = {"n_valid": 0, "temperature": "none (no validation part)", "threshold": "default 0.5"}
            if self.threshold is not None:
                self.calibration_["threshold"] = (
                    f"fixed by the estimator's threshold parameter (the calibrated one: {self.threshold_:.3f})"
                )
                self.threshold_ = float(self.threshold)
        return self

    def _logits(self, X: np.ndarray) -> np.ndarray:
        torch = _torch()
        module = self.net_.module_
        module.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(X), 2048):
                out.append(module(torch.as_tensor(X[start : start + 2048])).numpy())
        if not out:
            return np.zeros((0, len(self.classes_) + int(getattr(self, "reject_class_", False))), dtype=np.float32)
        return np.concatenate(out)

    def decision_function(self, X) -> np.ndarray:
        """The network's logits, one column per class (and the reject column last, if any)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self._logits(X)

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities: ``softmax(logits / temperature_)``.

        One column per class in `classes_`, plus the "not a single digit" column
        last when ``reject_class_``.
        """
        return _softmax(self.decision_function(X).astype(np.float64) / self.temperature_)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample (the best digit column: never the reject class)."""
        scores = self.decision_function(X)
        return self.classes_[scores[:, : len(self.classes_)].argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.sparse = False
        return tags


_HISTORY_KEYS = ("epoch", "train_loss", "valid_loss", "valid_acc", "dur")


def _softmax(z: np.ndarray) -> np.ndarray:
    from scipy.special import softmax

    return softmax(z, axis=1)


def to_onnx(estimator: DigitCNN, *, opset: int = 17) -> bytes:
    """Export a fitted `DigitCNN` to ONNX bytes.

    The graph takes one float32 input ``input`` of shape ``(N, n_features)``
    (dynamic batch) and gives one output ``probabilities`` of shape
    ``(N, n_classes)`` (one more column, the reject class, when the estimator
    has ``reject_class_``): ``softmax(logits / temperature_)``, so onnxruntime
    reproduces `DigitCNN.predict_proba` without torch.

    Parameters
    ----------
    estimator : DigitCNN
        A fitted network.
    opset : int, default=17

    Returns
    -------
    bytes
        The serialised ONNX model.
    """
    import io

    torch = _torch()
    check_is_fitted(estimator)
    module = estimator.net_.module_
    graph = _modules()["Calibrated"](module, estimator.temperature_).eval()
    example = torch.zeros(2, estimator.n_features_in_, dtype=torch.float32)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter (dynamo=False) gives a small, plain graph for
        # these few standard layers and needs no onnxscript rewrite passes; its
        # deprecation notice is not news to a user of digitrec.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            graph,
            (example,),
            buffer,
            input_names=["input"],
            output_names=["probabilities"],
            dynamic_axes={"input": {0: "batch"}, "probabilities": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    module.eval()
    return buffer.getvalue()


