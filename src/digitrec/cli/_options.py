"""Flags and output helpers shared by several subcommands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from digitrec.progress import RichProgress

__all__ = [
    "json_option",
    "quiet_option",
    "data_dir_option",
    "model_option",
    "digits_option",
    "threshold_option",
    "pairs_option",
    "emit_json",
    "progress_bar",
]

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of text.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars on stderr.")
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder with the MNIST files (default: $DIGITREC_DATA, then the user cache).",
)
model_option = click.option(
    "--model",
    "-m",
    default=None,
    metavar="NAME|PATH",
    help="Model bundle: a name (default: the shipped model) or a bundle folder/.zip.",
)

digits_option = click.option(
    "--digits", type=click.IntRange(min=1), default=None, metavar="N", help="Each image holds exactly N digits."
)
threshold_option = click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    metavar="T",
    help="Confidence under which a digit is uncertain ('?'); default: the model's own.",
)

pairs_option = click.option(
    "--pairs",
    default="auto",
    metavar="NAME|PATH|none",
    callback=lambda ctx, param, value: None if value == "none" else value,
    help="The pair reader asked about touching digits: a name or a bundle folder/.zip, or none "
    "(default: the shipped one, for MNIST-format models).",
)


def emit_json(obj: Any) -> None:
    """Write ``obj`` as one line of JSON on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def progress_bar(quiet: bool) -> RichProgress:
    """The CLI's progress bars: on stderr, off with ``--quiet`` or when stderr is no terminal."""
    return RichProgress(disable=quiet or not sys.stderr.isatty())
