"""``promptlearn recipes``: the learning recipes `promptlearn fit --recipe NAME` knows, one a line."""

from __future__ import annotations

import click


@click.command("recipes")
def recipes() -> None:
    """List the recipes (templates + settings) of `promptlearn fit --recipe NAME`."""
    from ..optimizer.recipes import list_recipes

    for recipe in list_recipes():
        click.echo(recipe.line())
