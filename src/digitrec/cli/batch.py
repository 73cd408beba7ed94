"""``digitrec batch``: folders of images to a CSV or JSONL results table."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digitrec.cli._options import (
    digits_option,
    emit_json,
    json_option,
    model_option,
    pairs_option,
    progress_bar,
    quiet_option,
    threshold_option,
)


@click.command(name="batch")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results file: .csv or .jsonl. Written as OUT.part while the job runs.",
)
@model_option
@digits_option
@threshold_option
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Worker processes (default: all cores).",
)
@click.option("--resume", is_flag=True, help="Finish an interrupted job: keep OUT.part, do only what is missing.")
@click.option(
    "--scheduler",
    default=None,
    metavar="local|tcp://HOST:PORT",
    help="Run on Dask: 'local' starts a local cluster, an address joins a running one.",
)
@click.option(
    "--chunk-size", type=click.IntRange(min=1), default=None, metavar="N", help="Images read together, and per task sent to a worker (default: 8)."
)
@pairs_option
@json_option
@quiet_option
def command(
    inputs: tuple[str, ...],
    out: Path,
    model: str | None,
    digits: int | None,
    threshold: float | None,
    workers: int | None,
    resume: bool,
    scheduler: str | None,
    chunk_size: int | None,
    pairs: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Read every image in folders, globs or list files into one results table.

    INPUT is a folder (searched recursively), a quoted glob, an image, or a text
    file listing one image path per line. Each image gets one row: path, text,
    digits, confidences, n_digits, uncertain, model, error_code, error_message.
    A file that cannot be read gets an error row and the job goes on. Rows are
    saved as they come; OUT appears only when the job is complete, and after a
    crash or Ctrl-C the same command with --resume does only what is missing.

    \b
    Examples:
      digitrec batch scans/ --out results.csv
      digitrec batch 'forms/**/*.jpg' --out results.jsonl --digits 4
      digitrec batch paths.txt --out results.csv --resume
      digitrec batch scans/ --out results.csv --scheduler tcp://10.0.0.5:8786
      digitrec batch scans/ --out results.csv --pairs none   # without the pair reader
    """
    from digitrec.batch import run_batch

    try:
        with progress_bar(quiet) as progress:
            summary = run_batch(
                inputs,
                out,
                model=model,
                digits=digits,
                threshold=threshold,
                workers=workers,
                scheduler=scheduler,
                resume=resume,
                chunk_size=chunk_size,
                pairs=pairs,
                progress=progress,
            )
    except KeyboardInterrupt:
        click.echo(
            f"digitrec: interrupted; the rows so far are in {out}.part. "
            "Run the same command with --resume to finish.",
            err=True,
        )
        sys.exit(130)
    if as_json:
        emit_json(summary.to_dict())
        return
    resumed = f" ({summary.resumed} kept from the interrupted run)" if summary.resumed else ""
    click.echo(
        f"{summary.total} images{resumed}: {summary.read} read, {summary.failed} failed"
        + (" (see error_code)" if summary.failed else "")
        + f"; {summary.processed} in {summary.seconds:.1f} s, {summary.images_per_second:.1f} images/s"
        + f" -> {summary.out}"
    )
