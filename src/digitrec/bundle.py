"""Model bundles: weights that cannot run code, and a card that says what they are.

A bundle is a folder (or the same files in one ``.zip``)::

    card.json     name, recipe, input format, classes, training data and its hash,
                  metrics, library versions, how it was made, and the weights'
                  file name, format and SHA-256
    model.onnx    a network, run with onnxruntime            (format "onnx")
    model.skops   a scikit-learn estimator, loaded by skops   (format "skops")
                  with an explicit list of trusted types

Loading checks the card before it trusts anything: the schema, the input format,
the weights' hash (a tampered file is refused), and for skops that every type in
the file is on the trusted list. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitrec.errors import BundleError, ModelNotFoundError
from digitrec.fileio import atomic_directory, atomic_write

__all__ = [
    "SCHEMA",
    "INPUT_FORMATS",
    "TRUSTED_TYPES",
    "Bundle",
    "save_bundle",
    "load_bundle",
    "resolve_model",
    "available_models",
    "skops_bytes",
    "mlp_onnx_bytes",
    "library_versions",
]

SCHEMA = "digitrec.bundle/1"
CARD = "card.json"
WEIGHT_FILES = {"onnx": "model.onnx", "skops": "model.skops"}

#: Input formats a model can declare, and the width of one flattened sample.
INPUT_FORMATS = {"mnist": 28 * 28, "optdigits": 8 * 8, "pair": 40 * 40}
#: The formats of models that read one digit (a "pair" model reads two touching ones).
DIGIT_FORMATS = ("mnist", "optdigits")

#: Every type a skops bundle may contain. Anything else is refused at load time.
TRUSTED_TYPES = [
    "builtins.slice",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.float32",
    "numpy.int64",
    "numpy.int32",
    "numpy.random._mt19937.MT19937",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
    "numpy.random._pcg64.PCG64",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.MinMaxScaler",
    "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.decomposition._pca.PCA",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.svm._classes.SVC",
    "sklearn.neighbors._classification.KNeighborsClassifier",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.frozen._frozen.FrozenEstimator",
    "digitrec.transforms.ShiftAugmenter",
    "digitrec.transforms.Scale16",
]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a bundle's numbers depend on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("digitrec", "numpy", "scikit-learn", "torch", "skorch", "onnx", "onnxruntime", "skops"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def skops_bytes(estimator: Any) -> bytes:
    """Serialise a scikit-learn estimator with skops (no pickle)."""
    import skops.io as sio

    return sio.dumps(estimator)


def mlp_onnx_bytes(mlp: Any) -> bytes:
    """Write a fitted scikit-learn `MLPClassifier` as an ONNX graph (softmax output).

    Such a bundle loads with onnxruntime alone, in milliseconds, where a skops file
    imports skops' trusted-type machinery (seconds, and torch where installed).

    Parameters
    ----------
    mlp : MLPClassifier
        Fitted, with classes 0..n-1 and a multi-class softmax output.

    Returns
    -------
    bytes
        The serialised ONNX model: input ``x`` float32 ``(N, n_features)``,
        output ``proba`` float32 ``(N, n_classes)``.
    """
    from onnx import TensorProto, helper, numpy_helper

    activations = {"relu": "Relu", "logistic": "Sigmoid", "tanh": "Tanh", "identity": None}
    if mlp.activation not in activations:
        raise BundleError(f"cannot export an MLP with activation {mlp.activation!r} to ONNX")
    nodes, weights, current = [], [], "x"
    last = len(mlp.coefs_) - 1
    for i, (coef, intercept) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        weights += [
            numpy_helper.from_array(np.asarray(coef, np.float32), f"W{i}"),
            numpy_helper.from_array(np.asarray(intercept, np.float32), f"b{i}"),
        ]
        nodes += [
            helper.make_node("MatMul", [current, f"W{i}"], [f"m{i}"]),
            helper.make_node("Add", [f"m{i}", f"b{i}"], [f"z{i}"]),
        ]
        current = f"z{i}"
        op = "Softmax" if i == last else activations[mlp.activation]
        if op is not None:
            out = "proba" if i == last else f"a{i}"
            nodes.append(helper.make_node(op, [current], [out], **({"axis": 1} if op == "Softmax" else {})))
            current = out
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, mlp.coefs_[0].shape[0]])],
        [helper.make_tensor_value_info("proba", TensorProto.FLOAT, [None, mlp.coefs_[-1].shape[1]])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def save_bundle(
    path: str | Path,
    *,
    weights: bytes,
    weights_format: str,
    card: Mapping[str, Any],
) -> Path:
    """Write a bundle folder (or ``.zip``) atomically.

    Parameters
    ----------
    path : path-like
        The bundle folder, or a file ending in ``.zip``.
    weights : bytes
        ONNX model bytes or skops bytes.
    weights_format : {"onnx", "skops"}
        Which of the two ``weights`` is.
    card : mapping
        The card; must hold at least ``name``, ``recipe``, ``input_format`` and
        ``classes``. The schema and the weights' file, format and hash are added here.

    Returns
    -------
    Path
        Where the bundle was written.
    """
    if weights_format not in WEIGHT_FILES:
        raise BundleError(f"unknown weights format {weights_format!r}; use one of {sorted(WEIGHT_FILES)}")
    full = dict(card)
    full["schema"] = SCHEMA
    full["weights"] = {
        "file": WEIGHT_FILES[weights_format],
        "format": weights_format,
        "sha256": hashlib.sha256(weights).hexdigest(),
        "bytes": len(weights),
    }
    _check_card(full, where=str(path))
    card_text = json.dumps(full, indent=2, sort_keys=True) + "\n"
    path = Path(path)
    if path.suffix == ".zip":
        with atomic_write(path, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(CARD, card_text)
            zf.writestr(full["weights"]["file"], weights)
        return path
    with atomic_directory(path) as tmp:
        (tmp / CARD).write_text(card_text, encoding="utf-8")
        (tmp / full["weights"]["file"]).write_bytes(weights)
    return path


def _check_card(card: Mapping[str, Any], where: str) -> None:
    if card.get("schema") != SCHEMA:
        raise BundleError(
            f"{where} is not a digitrec model bundle (card schema {card.get('schema')!r}, "
            f"expected {SCHEMA!r}); train one with: digitrec train RECIPE --out DIR"
        )
    for key in ("name", "recipe", "input_format", "classes", "weights"):
        if key not in card:
            raise BundleError(f"{where}: card.json lacks {key!r}; the bundle is damaged, train or copy it again")
    if card["input_format"] not in INPUT_FORMATS:
        raise BundleError(
            f"{where}: unknown input format {card['input_format']!r}; this digitrec reads {sorted(INPUT_FORMATS)}"
        )
    weights = card["weights"]
    if not isinstance(weights, Mapping) or weights.get("format") not in WEIGHT_FILES:
        raise BundleError(f"{where}: card.json names no weights format digitrec can load (onnx or skops)")
    if weights.get("file") != WEIGHT_FILES[weights["format"]]:
        raise BundleError(f"{where}: card.json names an unexpected weights file {weights.get('file')!r}")


@dataclass
class Bundle:
    """A loaded model bundle: its card and a ``predict_proba`` over its input format.

    Attributes
    ----------
    path : Path
        Where it was loaded from.
    card : dict
        The parsed ``card.json``.
    """

    path: Path
    card: dict
    _model: Any = field(repr=False, default=None)
    _input_name: str | None = field(repr=False, default=None)

    @property
    def name(self) -> str:
        """The model's name from its card."""
        return str(self.card["name"])

    @property
    def input_format(self) -> str:
        """``"mnist"`` (784 floats in 0..1, white ink) or ``"optdigits"`` (64 floats in 0..16)."""
        return str(self.card["input_format"])

    @property
    def classes(self) -> list[int]:
        """The digits the model's probability columns stand for."""
        return [int(c) for c in self.card["classes"]]

    @property
    def has_reject(self) -> bool:
        """Whether the model has an extra last output meaning "not a single digit"."""
        return bool(self.card.get("reject_class", False))

    @property
    def estimator(self) -> Any | None:
        """The loaded scikit-learn estimator of a skops bundle; ``None`` for an ONNX one."""
        if self.card["weights"]["format"] != "skops":
            return None
        return self._model

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities for samples already in the model's input format.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            784 (mnist) or 64 (optdigits) values per row.

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
            One column per class in `classes`, plus the reject column if `has_reject`.
        """
        X = np.asarray(X)
        width = INPUT_FORMATS[self.input_format]
        # No rows has no width to infer; it is any model's empty answer.
        X = X.reshape(len(X), -1) if len(X) else X.reshape(0, width)
        if X.shape[1] != width:
            raise BundleError(f"model {self.name!r} expects {width} values per sample, got {X.shape[1]}")
        if self.card["weights"]["format"] == "onnx":
            (proba,) = self._model.run(None, {self._input_name: X.astype(np.float32, copy=False)})
            return np.asarray(proba, dtype=np.float64)
        return np.asarray(self._model.predict_proba(X.astype(np.float64, copy=False)), dtype=np.float64)


def _read_files(path: Path) -> tuple[dict, bytes]:
    """Return (card, weights bytes) from a folder or a .zip, checking the card first."""
    where = str(path)
    try:
        if path.is_dir():
            card_bytes = (path / CARD).read_bytes()
            reader = lambda name: (path / name).read_bytes()  # noqa: E731
        elif zipfile.is_zipfile(path):
            zf = zipfile.ZipFile(path)
            card_bytes = zf.read(CARD)
            reader = zf.read
        else:
            raise BundleError(f"{where} is neither a bundle folder nor a .zip bundle")
    except (FileNotFoundError, KeyError) as exc:
        raise BundleError(f"{where} has no card.json, so it is not a digitrec model bundle") from exc
    try:
        card = json.loads(card_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{where}: card.json is not valid JSON ({exc}); the bundle is damaged") from exc
    if not isinstance(card, dict):
        raise BundleError(f"{where}: card.json is not a JSON object; the bundle is damaged")
    _check_card(card, where)
    try:
        weights = reader(card["weights"]["file"])
    except (FileNotFoundError, KeyError) as exc:
        raise BundleError(f"{where}: the weights file {card['weights']['file']!r} is missing") from exc
    digest = hashlib.sha256(weights).hexdigest()
    if digest != card["weights"].get("sha256"):
        raise BundleError(
            f"{where}: the weights do not match the hash in card.json (tampered or damaged); "
            "refusing to load them. Use a bundle from a source you trust."
        )
    return card, weights


def load_bundle(path: str | Path, *, threads: int | None = None) -> Bundle:
    """Load a bundle after checking its card and the weights' hash.

    Parameters
    ----------
    path : path-like
        A bundle folder or ``.zip``.
    threads : int, optional
        onnxruntime's intra-op threads (default: 1).

    Returns
    -------
    Bundle
    """
    path = Path(path)
    if not path.exists():
        raise ModelNotFoundError(f"no model bundle at {path}; list the shipped models with: digitrec recipes")
    card, weights = _read_files(path)
    fmt = card["weights"]["format"]
    if fmt == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread and no spinning by default: the networks are tiny (about
        # 0.1 ms an image), and onnxruntime's spinning worker threads otherwise
        # compete with the preprocessing for the cores, doubling the time per image.
        options.intra_op_num_threads = threads or 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(weights, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad graphs
            raise BundleError(f"{path}: onnxruntime cannot load the model ({exc})") from exc
        return Bundle(path=path, card=card, _model=session, _input_name=session.get_inputs()[0].name)
    import skops.io as sio

    try:
        untrusted = set(sio.get_untrusted_types(data=weights)) - set(TRUSTED_TYPES)
    except Exception as exc:  # skops raises assorted errors for a damaged archive
        raise BundleError(f"{path}: the skops weights cannot be read ({exc})") from exc
    if untrusted:
        raise BundleError(
            f"{path}: the skops file holds types digitrec does not trust ({', '.join(sorted(untrusted))}); "
            "refusing to load it"
        )
    estimator = sio.loads(weights, trusted=sorted(TRUSTED_TYPES))
    return Bundle(path=path, card=card, _model=estimator)


def _models_dir() -> Path:
    return Path(__file__).resolve().parent / "models"


def available_models() -> dict[str, Path]:
    """The shipped model bundles, by name."""
    root = _models_dir()
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / CARD).is_file()}


def resolve_model(model: str | Path | None = None) -> Path:
    """Turn ``--model NAME|PATH`` into a bundle path.

    ``None`` means the shipped ``default`` model; an existing path is used as is;
    anything else must be a shipped model's name.
    """
    if model is None:
        model = "default"
    candidate = Path(model)
    if candidate.exists():
        return candidate
    shipped = available_models()
    if str(model) in shipped:
        return shipped[str(model)]
    names = ", ".join(shipped) or "none"
    raise ModelNotFoundError(
        f"no model named or at {str(model)!r}; shipped models: {names}; or give a bundle folder from digitrec train"
    )
