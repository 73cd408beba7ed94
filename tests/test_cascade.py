"""A cascade bundle: the first network's answer where it is sure, the second model's where it doubts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from digitrec.bundle import load_bundle, resolve_model, save_bundle
from digitrec.errors import UsageError

pytest.importorskip("onnx")


def _mlp_bundle(path: Path, X: np.ndarray, y: np.ndarray, hidden: int, seed: int) -> Path:
    from sklearn.neural_network import MLPClassifier

    from digitrec.bundle import mlp_onnx_bytes

    # Few samples and few iterations: a network that doubts a good share of the digits.
    mlp = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=100, random_state=seed).fit(X, y)
    card = {"name": path.name, "recipe": "test-mlp", "input_format": "optdigits", "classes": list(range(10))}
    return save_bundle(path, weights=mlp_onnx_bytes(mlp), weights_format="onnx", card=card)


@pytest.fixture(scope="module")
def two_networks(tmp_path_factory, digits_8x8) -> tuple[Path, Path]:
    pytest.importorskip("onnxruntime")
    X, y = digits_8x8
    root = tmp_path_factory.mktemp("cascade")
    with pytest.warns(Warning):  # 100 iterations do not converge, on purpose
        first = _mlp_bundle(root / "first", X[:300], y[:300], 8, 0)
    with pytest.warns(Warning):
        second = _mlp_bundle(root / "second", X[:1000], y[:1000], 64, 1)
    return first, second


@pytest.mark.parametrize("weight", [1.0, 0.5])
def test_fused_graph_answers_as_first_where_sure_and_asks_second_where_in_doubt(two_networks, digits_8x8, tmp_path, weight):
    from digitrec.cascade import cascade

    X = digits_8x8[0][1000:].astype(np.float32)
    first, second = (load_bundle(p).predict_proba(X) for p in two_networks)
    doubt = first.max(axis=1) < 0.9
    assert 0 < doubt.sum() < len(X), "the test needs both sure and doubted digits"
    fused = load_bundle(cascade(*two_networks, tmp_path / "fused", below=0.9, weight=weight))
    expected = np.where(doubt[:, None], first + weight * (second - first), first)
    np.testing.assert_allclose(fused.predict_proba(X), expected, atol=1e-6)
    # Alone, a sure digit never runs the second model; a doubted one is re-read in any batch.
    sure, doubted = np.flatnonzero(~doubt)[0], np.flatnonzero(doubt)[0]
    np.testing.assert_allclose(fused.predict_proba(X[[sure]]), first[[sure]], atol=1e-6)
    np.testing.assert_allclose(fused.predict_proba(X[[doubted]]), expected[[doubted]], atol=1e-6)
    assert fused.predict_proba(X[:0]).shape == (0, 10)


def test_a_cascade_asks_a_third_opinion_where_its_answer_is_still_in_doubt(two_networks, digits_8x8, tmp_path):
    from digitrec.cascade import cascade

    X = digits_8x8[0][1000:].astype(np.float32)
    first, second = two_networks
    both = load_bundle(cascade(first, second, tmp_path / "both", below=0.9, weight=0.5))
    # The first cascade's own names (cascade/..., second/...) must not clash with the outer one's.
    three = load_bundle(cascade(tmp_path / "both", first, tmp_path / "three", below=0.9, weight=0.5))
    inner, third = both.predict_proba(X), load_bundle(first).predict_proba(X)
    doubt = inner.max(axis=1) < 0.9
    assert 0 < doubt.sum() < len(X), "the test needs both sure and still doubted digits"
    expected = np.where(doubt[:, None], inner + 0.5 * (third - inner), inner)
    np.testing.assert_allclose(three.predict_proba(X), expected, atol=1e-6)


def test_cascade_card_names_both_parts_and_measures_the_whole(two_networks, digits_8x8, tmp_path):
    from digitrec.cascade import cascade
    from digitrec.recognizer import Recognizer

    X, y = digits_8x8
    path = cascade(*two_networks, tmp_path / "both.zip", below=0.8, command="made here", test=(X[1000:], y[1000:], "digits/rest"))
    card = load_bundle(path).card
    assert card["name"] == "both"
    assert card["cascade"]["below"] == 0.8 and card["cascade"]["weight"] == 1.0
    assert [card["cascade"][k]["name"] for k in ("first", "second")] == ["first", "second"]
    assert card["command"] == "made here"
    fused = load_bundle(path).predict_proba(X[1000:].astype(np.float32)).argmax(axis=1)
    assert card["metrics"]["accuracy"] == pytest.approx(np.mean(fused == y[1000:]))
    assert card["metrics"]["test"]["errors"] == int(np.sum(fused != y[1000:]))
    # An ordinary bundle to everything that reads one.
    assert Recognizer.load(path).recognize(np.kron(X[1500].reshape(8, 8), np.ones((8, 8))) * 16).digits


def test_cascade_refuses_models_that_answer_differently(two_networks, tiny_bundle, tmp_path):
    from digitrec.cascade import cascade

    first, _ = two_networks
    with pytest.raises(UsageError, match="scikit-learn model"):
        cascade(first, tiny_bundle, tmp_path / "a")
    other = load_bundle(first)
    card = {k: v for k, v in other.card.items() if k not in ("schema", "weights")}
    card["classes"] = list(range(9))
    eight = save_bundle(tmp_path / "nine", weights=(first / "model.onnx").read_bytes(), weights_format="onnx", card=card)
    with pytest.raises(UsageError, match="answer differently"):
        cascade(first, eight, tmp_path / "b")
    with pytest.raises(UsageError, match="below"):
        cascade(first, first, tmp_path / "c", below=0.0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_cascade_command_writes_the_bundle_and_records_itself(two_networks, tmp_path):
    from digitrec.cli import cli

    first, second = two_networks
    out = tmp_path / "cli-made"
    result = CliRunner().invoke(cli, ["cascade", str(first), str(second), "--out", str(out), "--below", "0.7", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    card = load_bundle(out).card
    assert summary["split"] == "digits/tutorial" and summary["accuracy"] == card["metrics"]["accuracy"]
    assert card["command"] == f"digitrec cascade {first} {second} --out {out} --below 0.7"
    assert card["cascade"]["below"] == 0.7
    bad = CliRunner().invoke(cli, ["cascade", str(first), str(second), "--out", str(out), "--below", "0"])
    assert bad.exit_code == 2 and "--below" in bad.output
    # Refused before any test data is looked for: the pair reader answers pairs, not digits.
    other = CliRunner().invoke(cli, ["cascade", str(first), "pairs", "--out", str(tmp_path / "no")])
    assert other.exit_code == 1 and "answer differently" in other.output
    assert not (tmp_path / "no").exists()


def test_cascade_is_reproducible(two_networks, tmp_path):
    import hashlib

    from digitrec.cascade import cascade

    made = [cascade(*two_networks, tmp_path / name, below=0.9, weight=0.8) for name in ("a", "b")]
    digests = {hashlib.sha256((path / "model.onnx").read_bytes()).hexdigest() for path in made}
    assert len(digests) == 1  # the same parts and settings give the same graph, byte for byte
