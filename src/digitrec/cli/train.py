"""``digitrec train``: fit a recipe on a dataset and write a model bundle."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from digitrec.cli._options import data_dir_option, emit_json, json_option, progress_bar, quiet_option


def _command_line(recipe: str, options: dict) -> str:
    """The command that made the model, rebuilt from the parsed options for the card.

    Rebuilt rather than read from ``sys.argv`` so it is the same however digitrec
    was started (console script, ``python -m digitrec``, tests).
    """
    words = ["digitrec", "train", recipe]
    for flag, value in options.items():
        if value is not None and value is not False:
            words += [flag] if value is True else [flag, str(value)]
    return shlex.join(words)


@click.command("train")
@click.argument("recipe", metavar="RECIPE")
@click.option(
    "--dataset",
    type=click.Choice(["digits", "mnist"]),
    default=None,
    help="Train on the 8x8 digits or on MNIST (default: the one in the recipe's input format).",
)
@click.option("--split", default=None, metavar="NAME", help="A named split, e.g. tiny or mnist/small.")
@data_dir_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Bundle folder (or .zip) to write. Required unless --search.",
)
@click.option("--name", default=None, help="The model's name in its card (default: the folder's name).")
@click.option("--seed", type=int, default=None, help="Seed for every random_state (default: the recipe's own).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs, for the CNN recipes.")
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default=None,
    help="Train the CNN recipes on the CPU (default) or an NVIDIA GPU; the bundle is the same kind either way.",
)
@click.option(
    "--search",
    is_flag=True,
    help="Rerun the grid search that chose the recipe's settings (training data only) and print the best.",
)
@json_option
@quiet_option
def command(
    recipe: str,
    dataset: str | None,
    split: str | None,
    data_dir: Path | None,
    out: Path | None,
    name: str | None,
    seed: int | None,
    epochs: int | None,
    device: str | None,
    search: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Train RECIPE (see: digitrec recipes) and write a model bundle.

    Progress (epochs or iterations, loss, time left) goes to stderr; the summary
    (test accuracy, seconds, bundle path) to stdout. The bundle's card.json records
    the data and its hash, the metrics, the library versions and this command.

    \b
    Examples:
      digitrec train svc-shift --dataset digits --out models/svc-shift
      digitrec train cnn --dataset mnist --out models/cnn
      digitrec train cnn --dataset mnist --split tiny --epochs 1 --out /tmp/quick
      digitrec train cnn-large --dataset mnist --device cuda --out models/cnn-large
      digitrec train svc --dataset digits --search
    """
    from digitrec.datasets import dataset_split_name, load_split
    from digitrec.errors import UsageError
    from digitrec.recipes import get_recipe

    chosen = get_recipe(recipe)
    if out is None and not search:
        raise UsageError("give --out DIR for the bundle (or --search to rerun the hyper-parameter search)")
    overrides = {}
    if epochs is not None:
        if "max_epochs" not in chosen.build().get_params():
            raise UsageError(f"--epochs applies to the CNN recipes; {chosen.name!r} has no epochs")
        overrides["max_epochs"] = epochs
    if device is not None:
        if "device" not in chosen.build().get_params():
            raise UsageError(f"--device applies to the CNN recipes; {chosen.name!r} trains on the CPU only")
        overrides["device"] = device
    if dataset is None and (split is None or "/" not in split):
        dataset = chosen.default_dataset
    data = load_split(dataset_split_name(dataset, split), data_home=data_dir)

    with progress_bar(quiet) as progress:
        if search:
            from digitrec.recipes import search as run_search

            found = run_search(chosen, data, seed=0 if seed is None else seed, overrides=overrides, progress=progress)
        else:
            from digitrec.training import save_trained, train

            result = train(chosen.name, data, seed=seed, progress=progress, overrides=overrides)
            options = {
                "--dataset": dataset,
                "--split": split,
                "--data-dir": data_dir,
                "--out": out,
                "--name": name,
                "--seed": seed,
                "--epochs": epochs,
                "--device": device,
            }
            path = save_trained(result, out, name=name, command=_command_line(chosen.name, options))

    if search:
        if as_json:
            emit_json(found.to_dict())
            return
        click.echo(f"grid search for {found.recipe} on {found.split} (training data only), {found.seconds:.1f} s")
        for row in sorted(found.results, key=lambda r: r["rank"]):
            params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
            click.echo(f"  {row['mean_accuracy']:.4f} ± {row['std_accuracy']:.4f}  {params}")
        best = ", ".join(f"{k}={v}" for k, v in found.best_params.items())
        click.echo(f"best: {best} (mean validation accuracy {found.best_score:.4f})")
        return
    summary = {
        "recipe": result.recipe,
        "split": data.name,
        "accuracy": result.metrics["accuracy"],
        "n": result.metrics["n"],
        "seconds": round(result.seconds, 2),
        "cpu_seconds": round(result.cpu_seconds, 2),
        "bundle": str(path),
    }
    if as_json:
        emit_json(summary)
        return
    click.echo(
        f"{result.recipe} on {data.name}: test accuracy {result.metrics['accuracy']:.2%} "
        f"({result.metrics['errors']} errors in {result.metrics['n']}), trained in {result.seconds:.1f} s"
    )
    click.echo(f"bundle: {path}")
