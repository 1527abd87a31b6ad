"""``promptlearn tasks``: the registered tasks, their input fields and default datasets."""

from __future__ import annotations

import click


@click.command("tasks")
def tasks() -> None:
    """List the tasks `promptlearn fit --task NAME` knows (a .py or .yaml task file works too)."""
    from ..tasks import get_task, list_tasks

    rows = [("NAME", "FIELDS", "TRAIN / VAL DATA", "SUMMARY")]
    for name, summary in list_tasks():
        task = get_task(name)
        data = " / ".join(d or "-" for d in (task.default_trainset, task.default_valset))
        rows.append((name, ", ".join(task.input_fields), data, summary))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
