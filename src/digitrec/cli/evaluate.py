"""``digitrec evaluate``: a model's metrics on a test set, and a report folder."""

from __future__ import annotations

import re
from pathlib import Path

import click

from digitrec.cli._options import data_dir_option, emit_json, json_option, progress_bar, quiet_option

# The dataset whose samples are in each model input format.
DATASET_OF_FORMAT = {"optdigits": "digits", "mnist": "mnist"}


@click.command("evaluate")
@click.argument("bundle", metavar="BUNDLE")
@click.option(
    "--dataset",
    type=click.Choice(["digits", "mnist"]),
    default=None,
    help="Test on the 8x8 digits or on MNIST (default: the one in the model's input format).",
)
@click.option(
    "--split",
    default=None,
    metavar="NAME",
    help="A named split, e.g. tiny or mnist/small (default: the dataset's own).",
)
@data_dir_option
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Report folder (default: reports/<model>-<split> in the current folder).",
)
@json_option
@quiet_option
def command(
    bundle: str,
    dataset: str | None,
    split: str | None,
    data_dir: Path | None,
    report_dir: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Measure a model on a test set and write a report folder with its figures.

    BUNDLE is a bundle folder or .zip (from digitrec train), or a shipped model's
    name. The report holds metrics.json, the confusion matrix, precision and
    recall per digit, the training curves, the misclassified images, an MLP's
    hidden-unit weights, and an index.html showing them together.

    \b
    Examples:
      digitrec evaluate default --dataset mnist
      digitrec evaluate runs/mlp --dataset digits --report reports/mlp
      digitrec evaluate runs/cnn --dataset mnist --split tiny --json
    """
    from digitrec.bundle import load_bundle, resolve_model
    from digitrec.datasets import SPLITS, dataset_split_name, load_split
    from digitrec.errors import UsageError
    from digitrec.evaluation import evaluate, image_shape, write_report

    model = load_bundle(resolve_model(bundle))
    if model.input_format not in DATASET_OF_FORMAT:
        raise UsageError(
            f"model {model.name!r} reads {model.input_format} samples, not single digits, so it has no digit test "
            f"set; its card's metrics were measured when it was trained (digitrec train)"
        )
    model_dataset = DATASET_OF_FORMAT[model.input_format]
    if dataset is None and (split is None or "/" not in split):
        dataset = model_dataset
    split_name = dataset_split_name(dataset, split)
    data_format = SPLITS[split_name][1]
    if data_format != model.input_format:
        height, width = image_shape(model.input_format)
        raise UsageError(
            f"model {model.name!r} reads {model.input_format} {height}x{width} images, but {split_name} is in the "
            f"{data_format} format; evaluate it with --dataset {model_dataset}"
        )
    data = load_split(split_name, data_home=data_dir)
    if report_dir is None:
        report_dir = Path("reports") / _folder_name(f"{model.name}-{split_name}")

    with progress_bar(quiet or as_json) as progress:
        result = evaluate(model, data.X_test, data.y_test, split=split_name, progress=progress)
        write_report(result, model, data.X_test, data.y_test, report_dir, progress=progress)

    if as_json:
        emit_json({**result.to_dict(), "report": str(report_dir)})
        return
    click.echo(f"model     {result.model} ({model.card.get('recipe', '?')}, {result.input_format})")
    click.echo(f"test set  {split_name}, {result.n} images")
    click.echo(f"accuracy  {result.accuracy:.4f}  ({result.n - len(result.misclassified)}/{result.n} right)")
    click.echo(f"speed     {result.predictions_per_second:,.0f} predictions/s")
    if result.rejected is not None:
        click.echo(f"rejected  {result.rejected} rated 'not a digit' above every digit")
    click.echo("")
    click.echo("digit  precision  recall  f1     support")
    for row in result.per_class:
        click.echo(
            f"{row['digit']:>5}  {row['precision']:>9.3f}  {row['recall']:>6.3f}  {row['f1']:.3f}  {row['support']:>7}"
        )
    click.echo("")
    click.echo(f"report    {report_dir / 'index.html'}")


def _folder_name(text: str) -> str:
    """A name safe as one folder: the split's slash and any odd character become '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "report"
