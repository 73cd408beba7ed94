"""Synthetic "not a single digit" samples and the CNN's reject output."""

from __future__ import annotations

import os

import numpy as np
import pytest

from digitrec.errors import UsageError
from digitrec.negatives import make_negatives, training_fonts


def test_negatives_shapes_range_and_determinism(digits_8x8, mnist_like):
    X = mnist_like
    a = make_negatives(X, 24, random_state=3)
    assert a.shape == (24, 784) and a.dtype == np.float32
    assert 0 <= a.min() and a.max() <= 1.0
    # Each is one piece brought to the MNIST format: ink in it, mostly dark around it.
    assert (a.reshape(-1, 28, 28).max(axis=(1, 2)) > 0.5).all()
    np.testing.assert_array_equal(a, make_negatives(X, 24, random_state=3))
    assert not np.array_equal(a, make_negatives(X, 24, random_state=4))
    X8, _ = digits_8x8
    b = make_negatives(X8[:60], 12, input_max=16.0, random_state=0)
    assert b.shape == (12, 64) and b.max() <= 16.0


def test_negatives_use_only_sans_fonts_and_reject_bad_input():
    fonts = [os.path.basename(p) for p in training_fonts()]
    assert all("Sans" in f and "Mono" not in f and "Serif" not in f for f in fonts)
    with pytest.raises(UsageError, match="784"):
        make_negatives(np.zeros((5, 100)), 4)


def test_cnn_with_negatives_has_a_reject_output_exported_to_onnx(digits_8x8):
    torch = pytest.importorskip("torch")
    pytest.importorskip("skorch")
    ort = pytest.importorskip("onnxruntime")
    from digitrec.cnn import DigitCNN, to_onnx

    X, y = digits_8x8
    cnn = DigitCNN(
        channels=((8,), (16,)), max_epochs=3, batch_size=32, lr=2e-2, input_max=16.0, threads=1, negatives=60
    ).fit(X[:300], y[:300])
    assert cnn.reject_class_ and list(cnn.classes_) == list(range(10))
    assert cnn.net_.module_.head[-1].out_features == 11
    proba = cnn.predict_proba(X[1000:1040])
    assert proba.shape == (40, 11)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # predict answers the best digit, never the reject column.
    assert set(cnn.predict(X[1000:1040])) <= set(range(10))
    session = ort.InferenceSession(to_onnx(cnn), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    (onnx_proba,) = session.run(None, {inp.name: X[1000:1040].astype(np.float32)})
    assert onnx_proba.shape == (40, 11)
    np.testing.assert_allclose(onnx_proba, proba, atol=1e-5)
    assert torch is not None
