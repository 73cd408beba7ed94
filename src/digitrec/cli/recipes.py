"""``digitrec recipes``: the named model recipes, one line each."""

from __future__ import annotations

import click

from digitrec.cli._options import emit_json, json_option


@click.command("recipes")
@json_option
def command(as_json: bool) -> None:
    """List the model recipes that digitrec train can fit.

    \b
    Examples:
      digitrec recipes
      digitrec recipes --json
      digitrec train svc-shift --dataset digits --out models/svc-shift
    """
    from digitrec.recipes import list_recipes

    recipes = list_recipes()
    if as_json:
        emit_json([r.to_dict() for r in recipes])
        return
    width = max(len(r.name) for r in recipes)
    for r in recipes:
        click.echo(f"{r.name:<{width}}  {r.input_format:<9}  {r.description}")
