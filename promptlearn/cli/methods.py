"""``promptlearn methods``: the synthesis methods of the registry, one line each."""

from __future__ import annotations

import click


@click.command("methods")
def methods() -> None:
    """List the methods `generate --method`, `generate --compare` and `bench --methods` know."""
    from ..synthesis.methods import list_methods

    rows = [("NAME", "NEEDS", "RECIPE", "SUMMARY")]
    for spec in list_methods():
        rows.append((spec.name, spec.needs(), spec.recipe or "-", spec.summary))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
