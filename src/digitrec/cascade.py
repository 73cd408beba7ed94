"""A second opinion inside one model: a fast network answers, an ensemble is asked when it doubts.

One small network reads a digit in about 0.1 ms and is sure of nearly every digit it
reads right; most of its mistakes are digits it doubts. Several networks averaged read
those better, at several times the cost. `fuse` writes both into one ONNX graph: the
first network runs on every sample, and an ``If`` runs the second model only when some
sample's best digit is under ``below``, on those samples only, and they take its
answer. The graph's input and output are the first network's, so the result is an
ordinary bundle (`cascade` writes it): the recogniser, the server and batch jobs read it
like any other, and nothing that loads it needs to know.

    first(x) ──> p1 ──> best digit of p1 < below ? ──> yes, for some rows:
                                                         p2 = second(x[rows in doubt])
                                                         rows in doubt: p1 + weight * (p2 - p1)
                                                         the others:    p1
                                                   └─> no row: p1
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np

from digitrec.bundle import Bundle, _read_files, library_versions, load_bundle, save_bundle
from digitrec.errors import BundleError, UsageError, require

__all__ = ["DEFAULT_BELOW", "fuse", "parts", "cascade"]

#: Samples whose best digit the first network gives less than this are read again.
DEFAULT_BELOW = 0.95


def _names(graph: Any) -> set[str]:
    """Every name a graph and its subgraphs (an ``If``'s branches) define or use."""
    names = {v.name for v in [*graph.input, *graph.output, *graph.initializer, *graph.value_info]}
    for node in graph.node:
        names.update([node.name, *node.input, *node.output])
        names.update(n for a in node.attribute if a.HasField("g") for n in _names(a.g))
    return names


def _namespaces(graph: Any) -> tuple[str, str]:
    """Prefixes for the cascade's own names and the second model's that ``graph`` does not use.

    A cascade's first model may be a cascade itself (a third opinion where the second
    still doubts): its names already begin with ``cascade/`` and ``second/``.
    """
    names = _names(graph)
    candidates = (("cascade/", "second/") if k == 0 else (f"cascade{k}/", f"second{k}/") for k in count())
    return next(tags for tags in candidates if not any(name.startswith(tags) for name in names))


def _constant(name: str, value: Any, dtype: Any) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def fuse(first: bytes, second: bytes, *, below: float = DEFAULT_BELOW, digits: int = 10, weight: float = 1.0) -> bytes:
    """One ONNX graph answering as ``first``, except where it doubts: there, as ``second``.

    Parameters
    ----------
    first, second : bytes
        ONNX models with the same input (one batch of samples) and one output each,
        probabilities of the same columns (the digits first, then any reject column).
        Either may be a cascade already: a cascade as ``first`` asks ``second`` where
        its own answer is still in doubt (a third opinion).
    below : float, default=DEFAULT_BELOW
        A sample whose best digit column in ``first``'s answer is under this is in doubt.
    digits : int, default=10
        How many leading columns are digits (the rest, a reject column, is not a digit).
    weight : float, default=1.0
        How far a doubted sample's answer moves from ``first``'s towards ``second``'s:
        1 takes ``second``'s, 0.5 averages the two.

    Returns
    -------
    bytes
        The fused model. ``second`` runs only on the doubted samples, and not at all for
        a batch without one.
    """
    onnx = require("onnx", "train")
    from onnx import TensorProto, compose, helper

    if not 0.0 < below <= 1.0:
        raise UsageError(f"below must be in (0, 1], not {below}")
    if not 0.0 < weight <= 1.0:
        raise UsageError(f"weight must be in (0, 1], not {weight}")
    a = onnx.load_from_string(first)
    ns, prefix = _namespaces(a.graph)
    # Every name of the second graph gets a prefix, its input too: inside the branch that
    # input is the doubted rows of the first's.
    b = compose.add_prefix(onnx.load_from_string(second), prefix)
    if len(a.graph.input) != 1 or len(a.graph.output) != 1 or len(b.graph.input) != 1 or len(b.graph.output) != 1:
        raise BundleError("a cascade joins models with one input and one output each")
    (source,), (answer,) = a.graph.input, a.graph.output
    rows, p1, p2 = b.graph.input[0].name, f"{ns}first", b.graph.output[0].name
    nodes = []
    for node in a.graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.output[:] = [p1 if name == answer.name else name for name in copy.output]
        nodes.append(copy)
    constants = [
        _constant(f"{ns}below", below, np.float32),
        _constant(f"{ns}weight", weight, np.float32),
        _constant(f"{ns}zero", 0.0, np.float32),
        _constant(f"{ns}starts", [0], np.int64),
        _constant(f"{ns}ends", [digits], np.int64),
        _constant(f"{ns}axes", [1], np.int64),
    ]
    nodes += [
        helper.make_node("Slice", [p1, f"{ns}starts", f"{ns}ends", f"{ns}axes"], [f"{ns}digits"]),
        helper.make_node("ReduceMax", [f"{ns}digits"], [f"{ns}best"], axes=[1], keepdims=0),
        helper.make_node("Less", [f"{ns}best", f"{ns}below"], [f"{ns}doubt"]),
        helper.make_node("Cast", [f"{ns}doubt"], [f"{ns}doubt_float"], to=TensorProto.FLOAT),
        # ReduceMax of no rows is undefined; a sum of none is 0, so an empty batch skips the second model.
        helper.make_node("ReduceSum", [f"{ns}doubt_float"], [f"{ns}doubted"], keepdims=0),
        helper.make_node("Greater", [f"{ns}doubted", f"{ns}zero"], [f"{ns}any"]),
    ]
    # Only the doubted rows go to the second model (a batch job's or the server's batch of
    # many digits pays for its doubted ones alone), and their answers go back in place.
    ask = [
        helper.make_node("Compress", [source.name, f"{ns}doubt"], [rows], axis=0),
        helper.make_node("Compress", [p1, f"{ns}doubt"], [f"{ns}first_doubted"], axis=0),
        helper.make_node("NonZero", [f"{ns}doubt"], [f"{ns}where"]),
        helper.make_node("Transpose", [f"{ns}where"], [f"{ns}indices"], perm=[1, 0]),
        *b.graph.node,
        helper.make_node("Sub", [p2, f"{ns}first_doubted"], [f"{ns}towards"]),
        helper.make_node("Mul", [f"{ns}towards", f"{ns}weight"], [f"{ns}step"]),
        helper.make_node("Add", [f"{ns}first_doubted", f"{ns}step"], [f"{ns}second_opinion"]),
        helper.make_node("ScatterND", [p1, f"{ns}indices", f"{ns}second_opinion"], [f"{ns}asked"]),
    ]
    untyped = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, None)  # noqa: E731
    # The second model's weights live in the branch: onnxruntime pre-packs a graph's own
    # constant weights for its convolutions, not those it reads from an outer graph.
    then_branch = helper.make_graph(
        ask, "second_opinion", [], [untyped(f"{ns}asked")], initializer=list(b.graph.initializer)
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", [p1], [f"{ns}sure"])], "first_answer", [], [untyped(f"{ns}sure")]
    )
    nodes.append(helper.make_node("If", [f"{ns}any"], [answer.name], then_branch=then_branch, else_branch=else_branch))
    graph = helper.make_graph(
        nodes,
        "cascade",
        [source],
        [answer],
        initializer=list(a.graph.initializer) + constants,
    )
    model = helper.make_model(graph, opset_imports=a.opset_import, ir_version=a.ir_version)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _summary(bundle: Bundle) -> dict[str, Any]:
    card = bundle.card
    return {
        key: card[key]
        for key in ("name", "recipe", "description", "command", "created", "params", "metrics", "training", "weights")
        if key in card
    }


def parts(first: str | Path | Bundle, second: str | Path | Bundle) -> tuple[Bundle, Bundle]:
    """Load (where given paths) and check the two models of a cascade.

    Raises
    ------
    UsageError
        Either is no ONNX network, or they read different formats or answer different columns.
    """
    one, two = (b if isinstance(b, Bundle) else load_bundle(b) for b in (first, second))
    if (one.input_format, one.classes, one.has_reject) != (two.input_format, two.classes, two.has_reject):
        raise UsageError(
            f"models {one.name!r} and {two.name!r} answer differently (input format, classes or reject "
            "column); a cascade joins two readers of the same digits"
        )
    for bundle in (one, two):
        if bundle.card["weights"]["format"] != "onnx":
            raise UsageError(f"model {bundle.name!r} is a scikit-learn model; a cascade joins ONNX networks")
    return one, two


def cascade(
    first: str | Path | Bundle,
    second: str | Path | Bundle,
    out: str | Path,
    *,
    below: float = DEFAULT_BELOW,
    weight: float = 1.0,
    name: str | None = None,
    command: str | None = None,
    test: tuple[np.ndarray, np.ndarray, str] | None = None,
) -> Path:
    """Write the bundle of ``first`` asking ``second`` about the digits it doubts.

    Parameters
    ----------
    first, second : path-like or Bundle
        ONNX bundles reading the same input format with the same outputs (``digitrec train``).
    out : path-like
        The bundle folder (or ``.zip``) to write.
    below, weight : float
        See `fuse`.
    name : str, optional
        The model's name (default: the folder's name).
    command : str, optional
        The command that made it, for the card.
    test : (X, y, split name), optional
        A test set to measure the cascade on, for the card's ``metrics`` (without one they
        are left empty; each part's own stay in ``cascade.first`` / ``cascade.second``).

    Returns
    -------
    Path
    """
    one, two = parts(first, second)
    # The weights as the bundles hold them (folder or .zip), their hashes checked again.
    (_, first_weights), (_, second_weights) = _read_files(one.path), _read_files(two.path)
    fused = fuse(first_weights, second_weights, below=below, digits=len(one.classes), weight=weight)
    out = Path(out)
    card = {k: v for k, v in one.card.items() if k not in ("weights", "schema")}
    card["name"] = name or (out.stem if out.suffix == ".zip" else out.name)
    card["description"] = (
        f"{one.card.get('description', one.name)}; the digits it reads under {below} are read again "
        f"with {two.name!r} ({two.card.get('recipe')})"
    )
    card["cascade"] = {"below": below, "weight": weight, "first": _summary(one), "second": _summary(two)}
    card["command"] = command
    card["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    card["versions"] = library_versions()
    # The first network's figures stay under cascade.first; the whole's are its own or none.
    card["metrics"] = {} if test is None else _measured(fused, card, test)
    return save_bundle(out, weights=fused, weights_format="onnx", card=card)


def _measured(fused: bytes, card: Mapping[str, Any], test: tuple[np.ndarray, np.ndarray, str]) -> dict[str, Any]:
    """The card's metrics for the fused model on a test set (measured before anything is written)."""
    import tempfile

    from digitrec.evaluation import evaluate

    X, y, split = test
    with tempfile.TemporaryDirectory() as tmp:
        trial = save_bundle(Path(tmp) / "trial", weights=fused, weights_format="onnx", card=card)
        result = evaluate(load_bundle(trial), X, y, split=split)
    errors = len(result.misclassified)
    return {
        "accuracy": result.accuracy,
        "n": result.n,
        "test": {"accuracy": result.accuracy, "n": result.n, "errors": errors, "split": split},
    }
