"""The two notebooks beyond the tutorial run top to bottom, with short settings.

Each notebook has one code cell tagged ``parameters``; the tests replace its
source with short settings before executing (as papermill would), then look
for the key figures in what the cells printed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

REPO = Path(__file__).resolve().parents[1]
HOW_TRAINING_WORKS = REPO / "notebooks" / "how_training_works.ipynb"
BETTER_MODELS = REPO / "notebooks" / "better_models_and_deep_learning.ipynb"


def _run(path: Path, parameters: str, kernel: str, workdir: Path) -> tuple[str, int]:
    """Execute a notebook with its ``parameters`` cell replaced; return (stdout text, number of images)."""
    notebook = nbformat.read(path, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    tagged[0].source = parameters
    client = nbclient.NotebookClient(
        notebook, kernel_name=kernel, timeout=300, resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    printed, images = [], 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.name == "stdout":
                printed.append(output.text)
            if output.output_type in ("execute_result", "display_data") and "image/png" in output.get("data", {}):
                images += 1
    return "".join(printed), images


@pytest.mark.parametrize("path", [HOW_TRAINING_WORKS, BETTER_MODELS], ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata.kernelspec.name == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
def test_how_training_works_runs(this_python_kernel, tmp_path):
    text, images = _run(
        HOW_TRAINING_WORKS,
        "KNOB_MAX_ITER = 8\nGRADIENT_CHECK_PARAMETERS = 100\n",
        this_python_kernel,
        tmp_path,
    )
    # Section 6 rebuilds the first epoch by hand, section 7 runs mechanics.train: both print the seed's line.
    assert text.count("Iteration 1, loss = 2.22958289") == 2
    assert "Iteration 156, loss = 0.01348760" in text
    assert "identical epoch losses: 156 of 156" in text
    assert "the epoch-1 loss of section 6 equals train()'s: True" in text
    assert "test accuracy: NumPy 0.9159347553324969, scikit-learn 0.9159347553324969" in text
    assert re.search(r"gradient check on 100 parameters: relative error \S+, largest difference \S+ -> agree", text)
    assert "first step equals -0.19 x gradient: True" in text
    # gradient check, loss match, hidden weights, six knob figures
    assert images == 9
    # The knob tables ran with the short budget: no run longer than 8 epochs.
    epochs = [int(m) for m in re.findall(r"^\s+\S+\s+(\d+)\s+(?:max_iter|tol rule)", text, flags=re.M)]
    assert len(epochs) == 4 * 6 and max(epochs) <= 8


@pytest.mark.slow
def test_better_models_runs_quick(this_python_kernel, tmp_path, request, monkeypatch):
    try:
        mnist = request.getfixturevalue("mnist_dir")
    except pytest.skip.Exception:
        mnist = None
        monkeypatch.setenv("DIGITREC_DATA", str(tmp_path / "no-mnist-here"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    else:
        monkeypatch.setenv("DIGITREC_DATA", str(mnist))
    text, images = _run(BETTER_MODELS, "QUICK = True\n", this_python_kernel, tmp_path)

    assert "QUICK = True" in text
    accuracies = dict(re.findall(r"^(.+?): test accuracy (0\.\d+|1\.0+) ", text, flags=re.M))
    assert {"tutorial (seed network)", "svc recipe", "knn recipe", "cnn-8x8 recipe"} <= set(accuracies)
    assert all(0.0 <= float(a) <= 1.0 for a in accuracies.values())
    # k-NN has no training budget to shorten: it must reach its usual strength even in QUICK mode.
    assert float(accuracies["knn recipe"]) > 0.9
    assert re.search(r"grid search on the training images only: 2 settings", text)
    assert "best on the tutorial's 797 test digits:" in text
    if mnist is None:
        assert "Skipping MNIST:" in text
    else:
        assert "cnn recipe on mnist/tiny" in accuracies
        assert "of 1000 test digits wrong; 1 epochs" in text
    assert images >= 3
