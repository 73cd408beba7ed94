"""errors.py, fileio.py and bundle.py: the error family, atomic writes, bundle checks."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest

from digitrec import errors
from digitrec.bundle import load_bundle, resolve_model, save_bundle, skops_bytes
from digitrec.fileio import atomic_directory, atomic_write, atomic_write_text


def test_every_error_has_a_distinct_code_and_a_4xx_or_5xx_status():
    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    assert all(400 <= c.http_status < 600 for c in classes)
    assert issubclass(errors.InvalidImageError, ValueError)
    assert errors.ImageTooLargeError("x").to_dict() == {"code": "image_too_large", "message": "x"}


def test_require_names_the_extra():
    with pytest.raises(errors.MissingExtraError, match=r"pip install 'digitrec\[train\]'"):
        errors.require("no_such_module_xyz", "train")


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    target = atomic_write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_directory_swaps_whole(tmp_path):
    target = tmp_path / "d"
    with atomic_directory(target) as tmp:
        (tmp / "x").write_text("1")
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "y").write_text("2")
        raise RuntimeError("crash")
    assert sorted(p.name for p in target.iterdir()) == ["x"]
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_bundle_round_trip_predicts_like_the_model(tiny_bundle, digits_8x8):
    X, _ = digits_8x8
    bundle = load_bundle(tiny_bundle)
    assert bundle.input_format == "optdigits"
    proba = bundle.predict_proba(X[1000:1010])
    assert proba.shape == (10, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_zip_bundle_loads(tmp_path, tiny_bundle, digits_8x8):
    card = json.loads((tiny_bundle / "card.json").read_text())
    weights = (tiny_bundle / "model.skops").read_bytes()
    card.pop("weights")
    z = save_bundle(tmp_path / "m.zip", weights=weights, weights_format="skops", card=card)
    assert zipfile.is_zipfile(z)
    assert load_bundle(z).predict_proba(digits_8x8[0][:2]).shape == (2, 10)


def test_tampered_weights_are_refused(tmp_path, tiny_bundle):
    copy = tmp_path / "b"
    shutil.copytree(tiny_bundle, copy)
    data = bytearray((copy / "model.skops").read_bytes())
    data[-10] ^= 0xFF
    (copy / "model.skops").write_bytes(bytes(data))
    with pytest.raises(errors.BundleError, match="tampered"):
        load_bundle(copy)


def test_untrusted_skops_types_are_refused(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=2).fit(np.eye(64)[:10], np.arange(10))
    path = save_bundle(
        tmp_path / "rf",
        weights=skops_bytes(model),
        weights_format="skops",
        card={"name": "rf", "recipe": "x", "input_format": "optdigits", "classes": list(range(10))},
    )
    with pytest.raises(errors.BundleError, match="does not trust"):
        load_bundle(path)


def test_foreign_folder_is_refused(tmp_path):
    (tmp_path / "card.json").write_text('{"schema": "something-else"}')
    with pytest.raises(errors.BundleError, match="not a digitrec model bundle"):
        load_bundle(tmp_path)


def test_unknown_model_name_says_what_exists():
    with pytest.raises(errors.ModelNotFoundError, match="shipped models"):
        resolve_model("no-such-model")


@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh", "identity"])
def test_mlp_onnx_export_matches_sklearn(tmp_path, digits_8x8, activation):
    pytest.importorskip("onnx")
    from sklearn.neural_network import MLPClassifier

    from digitrec.bundle import mlp_onnx_bytes

    X, y = digits_8x8
    mlp = MLPClassifier(hidden_layer_sizes=(16, 8), activation=activation, max_iter=50, random_state=0)
    mlp.fit(X[:500] / 16, y[:500])
    path = save_bundle(
        tmp_path / activation,
        weights=mlp_onnx_bytes(mlp),
        weights_format="onnx",
        card={"name": "m", "recipe": "x", "input_format": "optdigits", "classes": list(range(10))},
    )
    proba = load_bundle(path).predict_proba(X[500:600] / 16)
    np.testing.assert_allclose(proba, mlp.predict_proba(X[500:600] / 16), atol=1e-5)
