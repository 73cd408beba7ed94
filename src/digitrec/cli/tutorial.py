"""``digitrec tutorial``: the classic scikit-learn digits tutorial, reproduced."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digitrec.cli._options import emit_json, json_option


def _echo(line: str = "") -> None:
    # sys.stdout, not a cached stream: scikit-learn prints the training lines to
    # whatever sys.stdout is at fit time, and both must interleave in order.
    sys.stdout.write(line + "\n")


def _show(step, bare: bool) -> None:
    if bare:
        for line in step.lines:
            _echo(line)
        return
    _echo(step.heading)
    for line in step.lines:
        _echo(line)
    if step.figure:
        _echo(f"(a figure; --plots DIR saves it as {step.figure})")
    if step.note:
        _echo(f"# note: {step.note}")
    _echo()


@click.command("tutorial")
@click.option("--bare", is_flag=True, help="Print only the tutorial's values, no headings or notes.")
@json_option
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Also write first_digit.png, plot_multi.png and loss_curve.png into DIR.",
)
def command(bare: bool, as_json: bool, plots_dir: Path | None) -> None:
    """Run the classic scikit-learn handwritten-digits tutorial, to the last digit.

    Loads the 8x8 digits, trains the tutorial's small network (15 logistic hidden
    units, SGD) on the first 1000 and tests it on the other 797, printing every
    value the original notebook printed, in its order, with Python 3. Lines
    starting with '# note:' say where today's libraries differ from the
    original and what restores its behaviour.

    \b
    Examples:
      digitrec tutorial                  # values with In [n]: headings
      digitrec tutorial --bare           # only the values, to diff against the original
      digitrec tutorial --json | jq .accuracy
      digitrec tutorial --plots figures/ # also save the three figures as PNG
    """
    from digitrec.tutorial import SeedTutorial, save_tutorial_plots

    if bare and as_json:
        raise click.UsageError("choose one of --bare and --json")
    tutorial = SeedTutorial()
    if as_json:
        tutorial.fit(verbose=False)
        result = tutorial.to_dict()
        if plots_dir is not None:
            result["plots"] = [str(p) for p in save_tutorial_plots(tutorial, plots_dir)]
        emit_json(result)
        return

    if not bare:
        _echo("Handwritten digit recognition with scikit-learn: the tutorial, reproduced")
        _echo("In [1]: from sklearn import datasets; digits = datasets.load_digits()")
        _echo()
    for step in tutorial.exploration():
        _show(step, bare)
    fit_step = tutorial.fit_step()
    if not bare:
        _echo("In [18]: mlp = MLPClassifier(hidden_layer_sizes=(15,), activation='logistic', alpha=1e-4,")
        _echo("                             solver='sgd', tol=1e-4, random_state=1,")
        _echo("                             learning_rate_init=.1, verbose=True, n_iter_no_change=2)")
        if fit_step.note:
            _echo(f"# note: {fit_step.note}")
        _echo()
        _echo(fit_step.heading)
    sys.stdout.flush()
    mlp = tutorial.fit(verbose=True)  # scikit-learn prints each "Iteration N, loss = X" line itself
    sys.stdout.flush()
    if not bare:
        _echo(f"Out[19]: {mlp!r}")
        _echo()
    for step in tutorial.evaluation():
        _show(step, bare)
    if plots_dir is not None:
        written = save_tutorial_plots(tutorial, plots_dir)
        if not bare:
            _echo("Figures written: " + ", ".join(str(p) for p in written))
