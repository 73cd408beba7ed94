"""evaluation.py and `digitrec evaluate`: metrics that match scikit-learn's, and the report folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from digitrec.bundle import Bundle, load_bundle
from digitrec.cli import cli
from digitrec.errors import UsageError
from digitrec.evaluation import evaluate, mlp_first_layer, training_history, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tutorial_test(digits_8x8):
    """The tutorial split's test part: the last 797 of the 8x8 digits."""
    X, y = digits_8x8
    return X[1000:], y[1000:]


@pytest.fixture(scope="module")
def tiny(tiny_bundle):
    return load_bundle(tiny_bundle)


@pytest.fixture(scope="module")
def tiny_result(tiny, tutorial_test):
    X, y = tutorial_test
    return evaluate(tiny, X, y, split="digits/tutorial")


def _in_memory_bundle(estimator, tmp_path: Path, **card) -> Bundle:
    """A Bundle around a fitted estimator without a round trip through skops."""
    full = {
        "name": "mem",
        "recipe": "test",
        "input_format": "optdigits",
        "classes": list(range(10)),
        "weights": {"format": "skops", "file": "model.skops"},
    }
    full.update(card)
    return Bundle(path=tmp_path, card=full, _model=estimator)


def _assert_png(path: Path) -> None:
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.width > 200 and image.height > 200


def test_accuracy_and_metrics_match_scikit_learn(tiny, tiny_result, tutorial_test):
    from sklearn.metrics import classification_report

    X, y = tutorial_test
    result = tiny_result
    predicted = tiny.estimator.predict(X)
    assert result.n == len(y) == 797
    assert result.accuracy == pytest.approx(tiny.estimator.score(X, y), abs=1e-12)
    assert result.confusion.shape == (10, 10)
    assert result.confusion.sum() == result.n
    assert np.trace(result.confusion) == round(result.accuracy * result.n)
    report = classification_report(y, predicted, output_dict=True, zero_division=0)
    for row in result.per_class:
        expected = report[str(row["digit"])]
        assert row["precision"] == pytest.approx(expected["precision"])
        assert row["recall"] == pytest.approx(expected["recall"])
        assert row["f1"] == pytest.approx(expected["f1-score"])
        assert row["support"] == expected["support"]
    assert [m["index"] for m in result.misclassified] == np.flatnonzero(predicted != y).tolist()
    for m in result.misclassified:
        assert m["true"] == y[m["index"]] and m["predicted"] == predicted[m["index"]] != m["true"]
        assert 0 < m["confidence"] <= 1
    assert 0 < result.accuracy < 1, "the tiny model should make some mistakes, or the report shows none"
    assert result.predictions_per_second > 0 and result.seconds > 0


def test_to_dict_is_json_with_the_promised_keys(tiny_result):
    data = json.loads(json.dumps(tiny_result.to_dict()))
    assert {"accuracy", "n", "confusion", "per_class", "model", "misclassified"} <= set(data)
    assert data["model"] == "tiny"
    assert data["confusion"] == tiny_result.confusion.tolist()
    assert len(data["per_class"]) == 10
    assert "rejected" not in data


def test_a_reject_column_is_ignored_for_the_accuracy(tmp_path, digits_8x8):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = digits_8x8
    rng = np.random.default_rng(0)
    noise = rng.uniform(0, 16, size=(100, 64))
    # Class 10 stands for "not a digit", the reject output's last column.
    model = KNeighborsClassifier(n_neighbors=5).fit(np.vstack([X[:1000], noise]), np.r_[y[:1000], [10] * 100])
    bundle = _in_memory_bundle(model, tmp_path, reject_class=True)
    X_test = np.vstack([X[1000:1100], noise[:20] + 0.5])
    y_test = np.r_[y[1000:1100], y[:20]]  # noise labelled as digits: each must still get a digit answer
    result = evaluate(bundle, X_test, y_test)
    digit_only = model.predict_proba(X_test)[:, :10].argmax(axis=1)
    assert result.accuracy == pytest.approx(np.mean(digit_only == y_test))
    assert set(result.predicted.tolist()) <= set(range(10))
    assert result.rejected == int((model.predict(X_test) == 10).sum()) > 0
    assert result.to_dict()["rejected"] == result.rejected


def test_an_onnx_bundle_is_evaluated_by_its_outputs_and_reports_progress(tmp_path, digits_8x8):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = digits_8x8
    knn = KNeighborsClassifier().fit(X[:1000], y[:1000])

    class Session:  # onnxruntime's run() signature, answered by a real classifier
        def run(self, outputs, feeds):
            return [knn.predict_proba(feeds["input"]).astype(np.float32)]

    card = {
        "name": "o",
        "recipe": "test",
        "input_format": "optdigits",
        "classes": list(range(10)),
        "weights": {"format": "onnx", "file": "model.onnx"},
        "history": {"loss": [1.0, 0.4]},
    }
    bundle = Bundle(path=tmp_path, card=card, _model=Session(), _input_name="input")
    calls = []

    def progress(description, completed, total, **info):
        calls.append((description, completed, total))

    result = evaluate(bundle, X[1000:], y[1000:], progress=progress)
    assert result.accuracy == pytest.approx(knn.score(X[1000:], y[1000:]), abs=1e-9)
    assert calls[0] == ("predicting", 0, 797) and calls[-1] == ("predicting", 797, 797)
    assert bundle.estimator is None and mlp_first_layer(bundle) is None
    assert training_history(bundle) == {"loss": [1.0, 0.4]}


def test_bad_test_sets_are_usage_errors(tiny, tutorial_test):
    X, y = tutorial_test
    with pytest.raises(UsageError, match="784"):
        evaluate(tiny, np.zeros((3, 784)), y[:3])
    with pytest.raises(UsageError, match="labels"):
        evaluate(tiny, X[:5], y[:4])
    with pytest.raises(UsageError, match=r"\[11\]"):
        evaluate(tiny, X[:3], [1, 2, 11])
    with pytest.raises(UsageError, match="empty"):
        evaluate(tiny, X[:0], y[:0])


def test_report_folder_has_every_file_and_the_page_links_them(tiny, tiny_result, tutorial_test, tmp_path):
    X, y = tutorial_test
    out = write_report(tiny_result, tiny, X, y, tmp_path / "report")
    images = ["confusion.png", "per_class.png", "curves.png", "misclassified.png", "hidden_weights.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(images + ["index.html", "metrics.json"])
    for name in images:
        _assert_png(out / name)
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(tiny_result.to_dict()))
    page = (out / "index.html").read_text()
    linked = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(linked) == sorted(images)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert f"{tiny_result.accuracy:.4f}" in page
    assert [p.name for p in tmp_path.iterdir()] == ["report"], "no temporary folder may be left behind"


def test_report_without_history_or_mlp_skips_those_figures(tmp_path, digits_8x8):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = digits_8x8
    bundle = _in_memory_bundle(KNeighborsClassifier().fit(X[:1000], y[:1000]), tmp_path)
    assert training_history(bundle) == {} and mlp_first_layer(bundle) is None
    result = evaluate(bundle, X[1000:], y[1000:])
    out = write_report(result, bundle, X[1000:], y[1000:], tmp_path / "knn")
    names = {p.name for p in out.iterdir()}
    assert "curves.png" not in names and "hidden_weights.png" not in names
    assert {"confusion.png", "per_class.png", "misclassified.png", "index.html", "metrics.json"} <= names
    assert "no training curves" in (out / "index.html").read_text()


def test_card_history_is_drawn_and_replaces_an_old_report(tmp_path, tiny, digits_8x8):
    X, y = digits_8x8
    history = {"loss": [2.0, 1.0, 0.5], "valid_loss": [2.1, 1.2, 0.7], "valid_acc": [0.5, 0.8, 0.9], "dur": [1, 1, 1]}
    bundle = Bundle(path=tiny.path, card={**tiny.card, "history": history}, _model=tiny.estimator)
    assert training_history(bundle) == {k: [float(v) for v in vals] for k, vals in history.items()}
    out = tmp_path / "r"
    out.mkdir()
    (out / "stale.txt").write_text("from an older run")
    result = evaluate(bundle, X[1000:1200], y[1000:1200])
    write_report(result, bundle, X[1000:1200], y[1000:1200], out)
    assert not (out / "stale.txt").exists()
    _assert_png(out / "curves.png")


def test_hidden_weights_reach_through_a_pipeline_but_not_a_pca(tmp_path, digits_8x8):
    from sklearn.decomposition import PCA
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = digits_8x8
    mlp = dict(hidden_layer_sizes=(6,), max_iter=20, random_state=0)
    with pytest.warns(Warning):  # too few iterations to converge, on purpose: speed
        scaled = make_pipeline(StandardScaler(), MLPClassifier(**mlp)).fit(X[:300], y[:300])
        reduced = make_pipeline(PCA(10), MLPClassifier(**mlp)).fit(X[:300], y[:300])
    weights = mlp_first_layer(_in_memory_bundle(scaled, tmp_path))
    assert weights.shape == (6, 64)
    np.testing.assert_array_equal(weights, scaled[-1].coefs_[0].T)
    assert mlp_first_layer(_in_memory_bundle(reduced, tmp_path)) is None


def test_cli_json_parses_and_writes_the_report(tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["evaluate", str(tiny_bundle), "--dataset", "digits", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n"] == 797 and len(data["confusion"]) == 10
    assert sum(map(sum, data["confusion"])) == data["n"]
    assert data["report"] == str(Path("reports") / "tiny-digits-tutorial")
    assert (tmp_path / data["report"] / "index.html").is_file()


def test_cli_text_names_accuracy_and_report(tiny_bundle, tiny_result, tmp_path):
    report = tmp_path / "here"
    result = CliRunner().invoke(cli, ["evaluate", str(tiny_bundle), "--report", str(report), "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"accuracy  {tiny_result.accuracy:.4f}" in result.stdout
    assert "797 images" in result.stdout
    assert len(re.findall(r"^\s+\d  ", result.stdout, flags=re.M)) == 10, "one table row per digit"
    assert result.stdout.rstrip().endswith(str(report / "index.html"))


def test_cli_format_mismatch_is_one_line_and_exit_1(tiny_bundle, tmp_path, monkeypatch):
    # In process: the subprocess path from main() to stderr is covered by test_cli.py.
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["evaluate", str(tiny_bundle), "--dataset", "mnist"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("digitrec: error: model 'tiny' reads optdigits 8x8 images")
    assert lines[0].endswith("evaluate it with --dataset digits")
    assert result.stdout == "" and not (tmp_path / "reports").exists()
