"""Shared fixtures: the embedded digits, MNIST when present, a tiny model bundle."""

from __future__ import annotations

import contextlib
import json
import os
import sys
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
def mnist_like(digits_8x8) -> np.ndarray:
    """60 of the 8x8 digits blown up to MNIST-sized 28x28 ink, flattened (no MNIST files needed)."""
    from PIL import Image

    X, _ = digits_8x8
    out = []
    for row in X[:60]:
        small = Image.fromarray((row.reshape(8, 8) / 16 * 255).astype(np.uint8))
        big = np.zeros((28, 28), np.float32)
        big[4:24, 4:24] = np.asarray(small.resize((20, 20), Image.Resampling.BILINEAR), np.float32) / 255
        out.append(big.ravel())
    return np.stack(out)


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


@pytest.fixture
def this_python_kernel(tmp_path, monkeypatch) -> str:
    """A "python3" kernelspec running this interpreter, found before any other on the machine."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (digitrec tests)",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "python3"


@pytest.fixture(scope="session")
def onnx_bundle(tmp_path_factory, digits_8x8) -> Path:
    """The tiny optdigits MLP as an ONNX bundle: no torch, and it loads in a blink."""
    pytest.importorskip("onnx")
    from sklearn.neural_network import MLPClassifier

    from digitrec.bundle import mlp_onnx_bytes, save_bundle

    X, y = digits_8x8
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X[:1000], y[:1000])
    path = tmp_path_factory.mktemp("bundles") / "tiny-onnx"
    save_bundle(
        path,
        weights=mlp_onnx_bytes(mlp),
        weights_format="onnx",
        card={"name": "tiny-onnx", "recipe": "test-mlp", "input_format": "optdigits", "classes": list(range(10))},
    )
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _running_server(args: list[str], *, env: dict | None = None, timeout: float = 120):
    """Start ``digitrec serve ARGS`` on a free loopback port, wait for /healthz, yield its URL, stop it."""
    import subprocess
    import tempfile
    import time

    import httpx

    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if k != "DIGITREC_TOKEN"}
    environment.update(env or {})
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "digitrec", "serve", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"digitrec serve did not start:\n{log.read().decode(errors='replace')}")
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def running_server():
    """A context manager starting a real `digitrec serve` on loopback: ``with running_server([...]) as url``."""
    return _running_server
