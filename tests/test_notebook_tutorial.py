"""notebooks/handwritten_digits_sklearn.ipynb runs top to bottom and prints the seed's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "handwritten_digits_sklearn.ipynb"
SEED = json.loads((Path(__file__).parent / "data" / "seed_expected.json").read_text(encoding="utf-8"))


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert notebook.metadata.kernelspec.name == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
def test_notebook_runs_and_reproduces_the_seed(this_python_kernel, tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=this_python_kernel,
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},  # run where it can write nothing into the repo
    )
    client.execute()

    printed: list[str] = []
    results: list[str] = []
    images = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.name == "stdout":
                printed.extend(output.text.splitlines())
            elif output.output_type == "execute_result":
                results.append(output.data.get("text/plain", ""))
            if output.output_type in ("execute_result", "display_data") and "image/png" in output.get("data", {}):
                images += 1

    loss_lines = [line for line in printed if line.startswith("Iteration ")]
    assert loss_lines == SEED["loss_lines"]
    assert SEED["accuracy_line"] in results
    assert "\n".join(SEED["predictions_lines"]) in results
    assert "\n".join(SEED["x0_lines"]) in results
    assert images == 3  # first digit, the 16-digit grid, the loss curve
