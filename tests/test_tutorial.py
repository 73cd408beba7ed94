"""tutorial.py and ``digitrec tutorial``: the seed's printed values, to the last digit.

The expected values come from the seed text itself (``tests/data/seed_expected.json``,
made by ``tests/data/make_seed_expected.py``), never typed in by hand.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from digitrec.cli import cli
from digitrec.tutorial import SEED_NETWORK_PARAMS, SeedTutorial, seed_network

SEED = json.loads((Path(__file__).parent / "data" / "seed_expected.json").read_text(encoding="utf-8"))


def seed_bare_lines() -> list[str]:
    """What ``digitrec tutorial --bare`` must print after its first line (today's dir(digits))."""
    return [
        *SEED["types"],
        SEED["images_shape_line"],
        *SEED["first_image_lines"],
        SEED["target_shape_line"],
        SEED["target_line"],
        SEED["x_shape_line"],
        *SEED["x0_lines"],
        *SEED["loss_lines"],
        # scikit-learn now writes the patience as a number; the note line says so
        SEED["stop_line"].replace("for two consecutive", "for 2 consecutive"),
        *SEED["predictions_lines"],
        *SEED["labels_lines"],
        SEED["accuracy_line"],
    ]


def check_dir_line(line: str) -> None:
    listed = ast.literal_eval(line)
    assert set(SEED["dir_digits"]) <= set(listed)


@pytest.fixture(scope="module")
def runner_results() -> dict[str, object]:
    runner = CliRunner()
    modes = {"default": [], "bare": ["--bare"], "json": ["--json"]}
    return {mode: runner.invoke(cli, ["tutorial", *args]) for mode, args in modes.items()}


def test_seed_expected_file_is_complete():
    assert SEED["n_iter"] == 156 and len(SEED["losses"]) == 156
    assert SEED["accuracy_line"] == "0.9159347553324969"
    assert len(SEED["predictions"]) == len(SEED["labels"]) == 50


def test_bare_output_is_the_seeds_values_line_by_line(runner_results):
    result = runner_results["bare"]
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    check_dir_line(lines[0])
    expected = seed_bare_lines()
    assert len(lines[1:]) == len(expected)
    for number, (got, want) in enumerate(zip(lines[1:], expected, strict=True), start=2):
        assert got == want, f"line {number}: {got!r} != seed {want!r}"


def test_default_output_has_headings_values_in_order_and_two_notes(runner_results):
    result = runner_results["default"]
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # the seed's values appear in the seed's order, the loss lines back to back
    position = 0
    for want in seed_bare_lines():
        position = lines.index(want, position) + 1
    first_loss = lines.index(SEED["loss_lines"][0])
    assert lines[first_loss : first_loss + 156] == SEED["loss_lines"]
    assert "In [4]: digits.images.shape" in lines
    notes = [line for line in lines if line.startswith("# note:")]
    assert len(notes) == 2
    assert "feature_names" in notes[0]
    assert "n_iter_no_change=2" in notes[1]


def test_json_values_match_the_seed(runner_results):
    result = runner_results["json"]
    assert result.exit_code == 0, result.output
    values = json.loads(result.stdout)
    assert values["n_iter"] == SEED["n_iter"] == 156
    assert [round(v, 8) for v in values["losses"]] == SEED["losses"]
    assert values["predictions"] == SEED["predictions"]
    assert values["labels"] == SEED["labels"]
    assert values["accuracy"] == SEED["accuracy"] == 0.9159347553324969
    assert values["images_shape"] == SEED["images_shape"]
    assert values["x_shape"] == SEED["x_shape"]
    assert values["x0"] == SEED["x0"]
    assert values["types"] == SEED["types"]
    assert (values["n_train"], values["n_test"]) == (1000, 797)
    assert len(values["notes"]) == 2


def test_subprocess_bare_matches_the_seed():
    # a separate interpreter: the real stdout, where scikit-learn's prints and ours must interleave
    run = subprocess.run(
        [sys.executable, "-m", "digitrec", "tutorial", "--bare"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    check_dir_line(lines[0])
    assert lines[1:] == seed_bare_lines()
    assert run.stderr == ""


def test_plots_are_written_as_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "figures"
    result = CliRunner().invoke(cli, ["tutorial", "--json", "--plots", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["first_digit.png", "loss_curve.png", "plot_multi.png"]  # no temp files left
    for name in names:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    assert sorted(Path(p).name for p in json.loads(result.stdout)["plots"]) == names


def test_bare_and_json_together_is_a_usage_error():
    result = CliRunner().invoke(cli, ["tutorial", "--bare", "--json"])
    assert result.exit_code == 2
    assert "--bare" in result.output


def test_seed_network_is_the_seeds_and_clonable():
    from sklearn.base import clone

    net = seed_network()
    params = net.get_params()
    for key, value in SEED_NETWORK_PARAMS.items():
        assert params[key] == value
    assert params["n_iter_no_change"] == 2 and params["verbose"] is False
    assert seed_network(verbose=True).verbose is True
    assert clone(net).get_params() == params


def test_library_steps_do_not_print(capsys):
    tutorial = SeedTutorial()
    steps = tutorial.exploration()
    tutorial.fit(verbose=False)
    steps += tutorial.evaluation()
    assert capsys.readouterr().out == ""
    assert tutorial.loss_lines() == SEED["loss_lines"]
    assert [s.cell for s in steps] == sorted(s.cell for s in steps)  # the seed's order
    assert steps[-1].lines == [SEED["accuracy_line"]]


def test_evaluation_before_fit_is_a_clear_error():
    from digitrec.errors import UsageError

    with pytest.raises(UsageError, match="call fit"):
        SeedTutorial().evaluation()


def test_plots_into_an_impossible_folder_is_one_clear_line(tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "a-file").write_text("not a folder")
    result = CliRunner().invoke(cli, ["tutorial", "--json", "--plots", str(tmp_path / "a-file" / "figures")])
    assert result.exit_code == 1
    assert result.stderr.startswith("digitrec: error: cannot write") and result.stderr.count("\n") == 1
