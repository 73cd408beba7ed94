"""Training a recipe, the bundle it writes, ``digitrec train`` and the shipped default model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from digitrec.bundle import available_models, load_bundle
from digitrec.cli import cli
from digitrec.datasets import load_split
from digitrec.errors import UnknownRecipeError, UsageError
from digitrec.training import save_trained, train

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "src" / "digitrec" / "models" / "default"


@pytest.fixture(scope="module")
def digits():
    return load_split("digits/tutorial")


def test_train_and_save_a_skops_bundle(digits, tmp_path):
    result = train("knn", digits)
    assert result.metrics["n"] == 797 and result.metrics["accuracy"] > 0.95
    path = save_trained(result, tmp_path / "knn", command="digitrec train knn --out x")
    bundle = load_bundle(path)
    card = bundle.card
    assert card["name"] == "knn" and card["recipe"] == "knn" and card["input_format"] == "optdigits"
    assert card["training"]["split"] == "digits/tutorial" and card["training"]["n_train"] == 1000
    assert card["training"]["sha256"] == digits.sha256
    assert card["metrics"]["accuracy"] == result.metrics["accuracy"]
    assert card["command"] == "digitrec train knn --out x"
    assert "scikit-learn" in card["versions"] and card["created"].endswith("+00:00")
    assert card["threshold"] == 0.5 and card["weights"]["format"] == "skops"
    np.testing.assert_allclose(bundle.predict_proba(digits.X_test), result.estimator.predict_proba(digits.X_test))


@pytest.mark.slow
def test_tutorial_recipe_reproduces_the_seed(digits, capsys):
    calls = []
    result = train("tutorial", digits, progress=lambda *a, **k: calls.append((a, k)))
    # The seed tutorial prints 0.9159...: the seed's network with its random_state=1.
    assert result.metrics["accuracy"] == pytest.approx(0.9159347553324969)
    assert len(result.history) == result.estimator.n_iter_
    # Iterations are reported from scikit-learn's own lines; nothing reaches stdout.
    assert calls[-1][0][1] == result.estimator.n_iter_ and "loss" in calls[-1][1]
    assert result.history[0]["train_loss"] == pytest.approx(2.22958289)
    assert capsys.readouterr().out == ""
    assert result.estimator.verbose is False


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_seed_sets_every_random_state(digits):
    result = train("mlp", digits, seed=3, overrides={"mlp__max_iter": 5})
    assert result.estimator.get_params()["mlp__random_state"] == 3


def test_train_refuses_mismatched_format_and_names(digits):
    with pytest.raises(UsageError, match="--dataset mnist"):
        train("cnn", digits)
    with pytest.raises(UnknownRecipeError):
        train("nope", digits)


def test_train_command_writes_a_bundle(tmp_path):
    out = tmp_path / "svc"
    run = CliRunner().invoke(cli, ["train", "svc", "--dataset", "digits", "--out", str(out), "--json", "--quiet"])
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output)
    assert summary["recipe"] == "svc" and summary["accuracy"] > 0.95 and summary["bundle"] == str(out)
    card = json.loads((out / "card.json").read_text())
    assert card["command"] == f"digitrec train svc --dataset digits --out {out}"


def test_train_command_search_prints_the_best_params():
    run = CliRunner().invoke(cli, ["train", "knn", "--search", "--quiet"])
    assert run.exit_code == 0, run.output
    assert "best: n_neighbors=" in run.output and "training data only" in run.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "resnet", "--out", "x"], "unknown recipe 'resnet'"),
        (["train", "svc"], "--out"),
        (["train", "svc", "--epochs", "3", "--out", "x"], "--epochs applies to the CNN recipes"),
        (["train", "cnn", "--dataset", "digits", "--out", "x"], "--dataset mnist"),
        (["train", "svc", "--device", "cuda", "--out", "x"], "--device applies to the CNN recipes"),
    ],
)
def test_train_command_errors(args, message):
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 1
    assert message in run.output and "Traceback" not in run.output


@pytest.mark.slow
@pytest.mark.mnist
def test_train_command_is_reproducible(mnist_dir, tmp_path):
    pytest.importorskip("torch")
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        # The shipped default's recipe: its negatives and re-drawn digits are seeded too.
        args = ["train", "cnn-reader", "--dataset", "mnist", "--split", "tiny", "--epochs", "1"]
        args += ["--data-dir", str(mnist_dir), "--out", str(out), "--json", "--quiet"]
        run = CliRunner().invoke(cli, args)
        assert run.exit_code == 0, run.output
        runs.append((json.loads(run.output)["accuracy"], hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest()))
    assert runs[0] == runs[1]  # the same accuracy, and bit-identical weights


def test_shipped_default_model():
    if not (DEFAULT_MODEL / "card.json").is_file():
        pytest.skip("the default model has not been trained into src/digitrec/models/default yet")
    assert "default" in available_models()
    bundle = load_bundle(DEFAULT_MODEL)
    card = bundle.card
    assert card["recipe"] == "cnn-reader" and card["input_format"] == "mnist" and card["weights"]["format"] == "onnx"
    # A cascade (digitrec.cascade): cnn-reader's network, asking cnn-reader-x4 about the digits it doubts.
    first, second = card["cascade"]["first"], card["cascade"]["second"]
    assert card["command"].startswith("digitrec cascade ") and "--name default" in card["command"]
    assert first["command"].startswith("digitrec train cnn-reader --dataset mnist")
    assert second["command"].startswith("digitrec train cnn-reader-x4 --dataset mnist")
    assert card["reject_class"] and card["params"]["redrawn"] > 0
    assert card["training"]["split"] == "mnist/standard" and card["training"]["n_train"] == 60000
    assert card["metrics"]["n"] == 10000 and card["metrics"]["accuracy"] >= 0.995
    assert card["metrics"]["accuracy"] > first["metrics"]["accuracy"]
    assert 0 < card["threshold"] < 1 and card["temperature"] > 0
    assert (DEFAULT_MODEL / "model.onnx").stat().st_size < 2_000_000
    proba = bundle.predict_proba(np.zeros((2, 784), np.float32))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.mnist
def test_default_model_accuracy_on_the_mnist_test_set(mnist_dir):
    if not (DEFAULT_MODEL / "card.json").is_file():
        pytest.skip("the default model has not been trained yet")
    split = load_split("mnist/standard", data_home=mnist_dir)
    bundle = load_bundle(DEFAULT_MODEL)
    # The best digit column: a reject column ("not a single digit"), if any, is last.
    proba = bundle.predict_proba(split.X_test)[:, : len(bundle.card["classes"])]
    accuracy = float(np.mean(proba.argmax(axis=1) == split.y_test))
    # onnxruntime on the exported graph gives the accuracy torch measured at training time.
    assert accuracy == pytest.approx(bundle.card["metrics"]["accuracy"], abs=2e-4)


def test_train_on_a_missing_gpu_says_so(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("skorch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    run = CliRunner().invoke(cli, ["train", "cnn-8x8", "--device", "cuda", "--out", str(tmp_path / "m")])
    assert run.exit_code == 1
    assert "no CUDA GPU" in run.output and "Traceback" not in run.output
    assert not (tmp_path / "m").exists()
