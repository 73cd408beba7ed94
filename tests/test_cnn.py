"""The CNN estimator: fitting, determinism, calibration, ONNX export."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from digitrec.cnn import DigitCNN, confidence_threshold, fit_temperature, to_onnx  # noqa: E402

SMALL = dict(
    channels=((8,), (16,)), max_epochs=8, batch_size=32, lr=2e-2, input_max=16.0, shift=1, rotation=0, zoom=0, threads=1
)


@pytest.fixture(scope="module")
def fitted(digits_8x8) -> DigitCNN:
    X, y = digits_8x8
    return DigitCNN(**SMALL).fit(X[:400], y[:400])


def test_fit_predict_and_calibration(fitted, digits_8x8):
    X, y = digits_8x8
    proba = fitted.predict_proba(X[1000:1100])
    assert proba.shape == (100, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(fitted.classes_) == list(range(10))
    # Eight short epochs on 360 images already learn a lot more than chance (10%).
    assert fitted.score(X[1000:1300], y[1000:1300]) > 0.8
    assert len(fitted.history_) == 8 and {"train_loss", "valid_acc"} <= set(fitted.history_[-1])
    assert 0.5 <= fitted.temperature_ <= 10.0
    assert 0.2 <= fitted.threshold_ <= 0.95
    assert fitted.calibration_["n_valid"] == 40


def test_a_fixed_threshold_replaces_the_calibrated_one_and_says_so(digits_8x8):
    X, y = digits_8x8
    model = DigitCNN(**{**SMALL, "max_epochs": 1, "threshold": 0.37}).fit(X[:300], y[:300])
    assert model.threshold_ == 0.37
    assert 0.5 <= model.temperature_ <= 10.0  # the temperature is still fitted
    assert "fixed" in model.calibration_["threshold"]
    with pytest.raises(ValueError):
        DigitCNN(**{**SMALL, "threshold": 1.5}).fit(X[:100], y[:100])


def test_training_is_bit_identical_when_repeated(digits_8x8):
    X, y = digits_8x8
    a = DigitCNN(**{**SMALL, "max_epochs": 1}).fit(X[:300], y[:300])
    b = DigitCNN(**{**SMALL, "max_epochs": 1}).fit(X[:300], y[:300])
    for (name, pa), (_, pb) in zip(a.net_.module_.state_dict().items(), b.net_.module_.state_dict().items()):
        assert torch.equal(pa, pb), name
    c = DigitCNN(**{**SMALL, "max_epochs": 1, "random_state": 1}).fit(X[:300], y[:300])
    assert not torch.equal(a.net_.module_.head[-1].weight, c.net_.module_.head[-1].weight)


def test_fit_restores_torch_settings(digits_8x8):
    X, y = digits_8x8
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    state = torch.random.get_rng_state()
    DigitCNN(**{**SMALL, "max_epochs": 1, "threads": 1}).fit(X[:100], y[:100])
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
    assert torch.equal(torch.random.get_rng_state(), state)


def test_progress_reports_each_epoch(digits_8x8):
    X, y = digits_8x8
    calls = []
    DigitCNN(**{**SMALL, "max_epochs": 2}).fit(X[:200], y[:200], progress=lambda *a, **k: calls.append((a, k)))
    assert [a for a, _ in calls] == [("Training", 0, 2), ("Training", 1, 2), ("Training", 2, 2)]
    assert set(calls[-1][1]) == {"loss", "valid_acc"}


def test_onnx_matches_torch(fitted, digits_8x8):
    ort = pytest.importorskip("onnxruntime")
    X, _ = digits_8x8
    session = ort.InferenceSession(to_onnx(fitted), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.shape[1] == 64 and session.get_outputs()[0].name == "probabilities"
    for rows in (X[1000:1001], X[1000:1037]):  # the batch dimension is dynamic
        (proba,) = session.run(None, {inp.name: rows.astype(np.float32)})
        np.testing.assert_allclose(proba, fitted.predict_proba(rows), atol=1e-5)


def test_ensemble_members_train_apart_and_predict_together(digits_8x8):
    ort = pytest.importorskip("onnxruntime")
    X, y = digits_8x8
    params = {**SMALL, "max_epochs": 2, "n_networks": 2}
    a = DigitCNN(**params).fit(X[:300], y[:300])
    b = DigitCNN(**params).fit(X[:300], y[:300])
    for (name, pa), (_, pb) in zip(a.net_.module_.state_dict().items(), b.net_.module_.state_dict().items()):
        assert torch.equal(pa, pb), name
    first, second = a.net_.module_.members
    assert not torch.equal(first.head[-1].weight, second.head[-1].weight)
    # Prediction averages the members' logits, and the ONNX graph does the same.
    rows = X[1000:1037]
    inputs = torch.as_tensor(rows, dtype=torch.float32)
    with torch.no_grad():
        mean = (first(inputs) + second(inputs)).numpy() / 2
    np.testing.assert_allclose(a.decision_function(rows), mean, atol=1e-5)
    session = ort.InferenceSession(to_onnx(a), providers=["CPUExecutionProvider"])
    (proba,) = session.run(None, {session.get_inputs()[0].name: rows.astype(np.float32)})
    np.testing.assert_allclose(proba, a.predict_proba(rows), atol=1e-5)


def test_mnist_shaped_and_odd_sized_inputs():
    rng = np.random.default_rng(0)
    y = np.arange(40) % 4
    for width in (784, 10):  # a 28x28 image, and a row that is no square (padded)
        X = rng.random((40, width), dtype=np.float32)
        model = DigitCNN(channels=((4,),), max_epochs=1, validation_fraction=0, threads=1).fit(X, y)
        assert model.predict_proba(X[:3]).shape == (3, 4)
        assert model.temperature_ == 1.0 and model.threshold_ == 0.5


def test_string_labels_round_trip(digits_8x8):
    X, y = digits_8x8
    labels = np.array(["zero", "one"])[(y[:120] % 2)]
    model = DigitCNN(**{**SMALL, "max_epochs": 1}).fit(X[:120], labels)
    assert set(model.predict(X[:10])) <= {"zero", "one"}


def test_unfitted_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DigitCNN().predict(np.zeros((1, 64)))


def test_temperature_recovers_a_known_scale():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 10)) * 3
    y = np.array([rng.choice(10, p=np.exp(r) / np.exp(r).sum()) for r in true_logits])
    # The network's logits are twice as sharp as the truth: T should come out near 2.
    assert fit_temperature(true_logits * 2, y) == pytest.approx(2.0, rel=0.1)


def test_threshold_keeps_one_percent_of_correct_below():
    rng = np.random.default_rng(1)
    top = rng.uniform(0.3, 1.0, size=1000)
    proba = np.stack([top, 1 - top], axis=1)
    y = np.zeros(1000, dtype=int)
    threshold = confidence_threshold(proba, y)
    correct = top[top >= 0.5]
    assert np.mean(correct < threshold) == pytest.approx(0.01, abs=0.002)
    # No errors at all would put it at 1.0; it is capped so real digits stay answerable.
    assert confidence_threshold(np.array([[1.0, 0.0]] * 10), np.zeros(10, dtype=int)) == 0.95


def test_importing_cnn_loads_no_torch():
    code = "import sys, digitrec.cnn, digitrec.recipes, digitrec.training; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine (runs where one is lent)")
def test_training_on_a_gpu_gives_a_cpu_model(digits_8x8):
    ort = pytest.importorskip("onnxruntime")
    X, y = digits_8x8
    cnn = DigitCNN(**{**SMALL, "device": "cuda", "bfloat16": True, "n_networks": 2}).fit(X[:400], y[:400])
    # The weights come back to the CPU: predicting and exporting need no GPU.
    assert {p.device.type for p in cnn.net_.module_.parameters()} == {"cpu"}
    assert cnn.score(X[1000:1300], y[1000:1300]) > 0.8
    session = ort.InferenceSession(to_onnx(cnn), providers=["CPUExecutionProvider"])
    (proba,) = session.run(None, {session.get_inputs()[0].name: X[1000:1037].astype(np.float32)})
    np.testing.assert_allclose(proba, cnn.predict_proba(X[1000:1037]), atol=1e-5)
    assert not torch.are_deterministic_algorithms_enabled()


def test_asking_for_a_missing_gpu_is_a_usage_error(digits_8x8):
    from digitrec.errors import UsageError

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    X, y = digits_8x8
    with pytest.raises(UsageError, match="no CUDA GPU"):
        DigitCNN(**{**SMALL, "device": "cuda"}).fit(X[:50], y[:50])
