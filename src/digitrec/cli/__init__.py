"""The ``digitrec`` command.

Each subcommand lives in its own module under ``digitrec.cli`` and is imported
only when it runs (or when ``--help`` lists it), so ``digitrec --help`` starts
fast. Subcommands parse, call the library and format; nothing else.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from digitrec.errors import DigitrecError, as_digitrec_error

__all__ = ["cli", "main"]

# name -> module holding a click command called ``command``; the order is the
# order --help lists them in.
COMMANDS = {
    "tutorial": "digitrec.cli.tutorial",
    "download": "digitrec.cli.download",
    "recipes": "digitrec.cli.recipes",
    "train": "digitrec.cli.train",
    "cascade": "digitrec.cli.cascade",
    "evaluate": "digitrec.cli.evaluate",
    "predict": "digitrec.cli.predict",
    "serve": "digitrec.cli.serve",
    "batch": "digitrec.cli.batch",
}


class UserError(click.ClickException):
    """A `DigitrecError` at the CLI's edge: one line on stderr, exit 1."""

    exit_code = 1

    def show(self, file=None) -> None:  # noqa: D102 - click's signature
        click.echo(f"digitrec: error: {self.format_message()}", err=True)


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    def _load(self, name: str) -> click.Command | None:
        module_name = COMMANDS.get(name)
        if module_name is None:
            return None
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        return module.command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DigitrecError as exc:
            raise UserError(exc.message) from exc


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="digitrec")
def cli() -> None:
    """Recognise handwritten digits, and learn how it is done.

    \b
    Examples:
      digitrec tutorial                 # the classic scikit-learn tutorial, reproduced
      digitrec predict photo.jpg        # read the number in a photo
      digitrec serve                    # drawing pad and API on http://127.0.0.1:8000
      digitrec batch scans/ --out results.csv
    """


# Set, a failure digitrec did not foresee shows its traceback (for a bug report).
DEBUG_ENV = "DIGITREC_DEBUG"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; the console-script entry point."""
    try:
        cli.main(args=argv, prog_name="digitrec")
    except KeyboardInterrupt:
        click.echo("digitrec: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        message = as_digitrec_error(exc, "this command").message
        click.echo(f"digitrec: error: {message} ({DEBUG_ENV}=1 shows where)", err=True)
        sys.exit(70)  # EX_SOFTWARE: an internal error, not a bad input
