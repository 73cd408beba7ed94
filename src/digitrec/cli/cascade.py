"""``digitrec cascade``: one bundle of a fast network that asks a second model when it doubts."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from digitrec.cli._options import data_dir_option, emit_json, json_option


@click.command("cascade")
@click.argument("first", metavar="FIRST")
@click.argument("second", metavar="SECOND")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Bundle folder (or .zip) to write.")
@click.option(
    "--below",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=None,
    metavar="P",
    help="Digits FIRST reads with less confidence than this are read again by SECOND (default: 0.95).",
)
@click.option(
    "--weight",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=None,
    metavar="W",
    help="How far a re-read digit's answer moves from FIRST's to SECOND's (default: 1, SECOND's).",
)
@click.option("--name", default=None, help="The model's name in its card (default: the folder's name).")
@click.option(
    "--split",
    default=None,
    metavar="NAME",
    help="Split whose test part measures the cascade for the card (default: the one FIRST was trained on).",
)
@data_dir_option
@json_option
def command(
    first: str,
    second: str,
    out: Path,
    below: float | None,
    weight: float | None,
    name: str | None,
    split: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Join two networks into one bundle: FIRST answers, SECOND re-reads what FIRST doubts.

    FIRST and SECOND are bundle folders/.zips or shipped names, both ONNX networks
    reading the same digits (digitrec train). The bundle reads like any other; SECOND
    only runs for images holding a digit FIRST doubts. The card records both models,
    the settings, this command and the cascade's accuracy on the test part.

    \b
    Examples:
      digitrec train cnn-reader --dataset mnist --out runs/reader
      digitrec train cnn-reader-x4 --dataset mnist --out runs/reader-x4
      digitrec cascade runs/reader runs/reader-x4 --weight 0.8 --out runs/default   # as shipped
      digitrec cascade runs/reader runs/reader-x4 --below 0.99 --out runs/careful --json
    """
    from digitrec.bundle import load_bundle, resolve_model
    from digitrec.cascade import DEFAULT_BELOW, cascade, parts
    from digitrec.cli.evaluate import DATASET_OF_FORMAT
    from digitrec.datasets import SPLITS, dataset_split_name, load_split

    words = ["digitrec", "cascade", first, second, "--out", str(out)]
    for flag, value in (("--below", below), ("--weight", weight), ("--name", name), ("--split", split)):
        if value is not None:
            words += [flag, str(value)]
    one, two = parts(resolve_model(first), resolve_model(second))
    card = one.card
    split = split or card.get("training", {}).get("split")
    if split not in SPLITS:
        split = dataset_split_name(DATASET_OF_FORMAT[card["input_format"]], split)
    data = load_split(split, data_home=data_dir)
    path = cascade(
        one,
        two,
        out,
        below=DEFAULT_BELOW if below is None else below,
        weight=1.0 if weight is None else weight,
        name=name,
        command=shlex.join(words),
        test=(data.X_test, data.y_test, split),
    )
    metrics = load_bundle(path).card["metrics"]
    summary = {"bundle": str(path), "split": split, "accuracy": metrics["accuracy"], "n": metrics["n"]}
    if as_json:
        emit_json(summary)
        return
    click.echo(f"cascade on {split}: test accuracy {metrics['accuracy']:.2%} ({metrics['test']['errors']} errors in {metrics['n']})")
    click.echo(f"bundle: {path}")
