"""``digitrec download``: fetch a dataset into the folder digitrec looks in."""

from __future__ import annotations

import click

from digitrec.cli._options import data_dir_option, emit_json, json_option, progress_bar, quiet_option


@click.command("download")
@click.argument("dataset", type=click.Choice(["mnist"]))
@data_dir_option
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="MNIST mirror to fetch from (default: $DIGITREC_MNIST_URL, then the public mirror).",
)
@json_option
@quiet_option
def command(dataset: str, data_dir, url: str | None, as_json: bool, quiet: bool) -> None:
    """Download a dataset, checking every file against its known checksum.

    The four MNIST IDX files go to --data-dir, else $DIGITREC_DATA, else the
    per-user cache (where digitrec looks for them). Files already there and
    intact are kept; a failed or mismatched download leaves nothing behind.

    \b
    Examples:
      digitrec download mnist
      digitrec download mnist --data-dir ~/data/mnist
      DIGITREC_DATA=~/data/mnist digitrec train --dataset mnist
    """
    from digitrec.datasets import MNIST_FILES, download_mnist, find_mnist

    with progress_bar(quiet or as_json) as progress:
        folder = download_mnist(data_dir, base_url=url, progress=progress)
    files = find_mnist(folder)
    if as_json:
        emit_json({"dataset": dataset, "folder": str(folder), "files": {r: str(p) for r, p in files.items()}})
        return
    click.echo(f"MNIST is ready in {folder} ({', '.join(MNIST_FILES.values())})")
    click.echo(f"Use it with --data-dir {folder}, or: export DIGITREC_DATA={folder}")
