"""Shared fixtures: the embedded digits, MNIST when present, a tiny model bundle."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "datasets" / "mnist"
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _mnist_dir() -> Path | None:
    for candidate in (os.environ.get("DIGITREC_DATA"), SHARED_MNIST):
        if candidate and all((Path(candidate) / f).exists() for f in MNIST_FILES):
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder with the four MNIST files; skips the test where there is none."""
    found = _mnist_dir()
    if found is None:
        pytest.skip("MNIST files not found: set DIGITREC_DATA to a folder holding the four IDX files")
    return found


@pytest.fixture(scope="session")
def digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's embedded 8x8 digits as (X, y), X in the optdigits format."""
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, digits_8x8) -> Path:
    """A small, quickly trained optdigits MLP saved as a skops bundle (no torch, no MNIST)."""
    from sklearn.neural_network import MLPClassifier

    from digitrec.bundle import save_bundle, skops_bytes

    X, y = digits_8x8
    model = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X[:1000], y[:1000])
    path = tmp_path_factory.mktemp("bundles") / "tiny"
    save_bundle(
        path,
        weights=skops_bytes(model),
        weights_format="skops",
        card={
            "name": "tiny",
            "recipe": "test-mlp",
            "input_format": "optdigits",
            "classes": list(range(10)),
            "threshold": 0.5,
            "metrics": {"accuracy": float(model.score(X[1000:], y[1000:]))},
        },
    )
    return path
