"""Entry point of the ``promptlearn`` command. Every expected failure becomes one line on
stderr (``error: ...``) and a non-zero exit code, never a traceback."""

from __future__ import annotations

import logging
import os
import sys

import click

from .. import __version__
from ..errors import PromptlearnError

# litellm must never fetch its price map from the network when imported.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promptlearn")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Learn LLM instructions and use them for responsible visual synthesis."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from . import bench as bench_cmd
    from . import complete as complete_cmd
    from . import generate as generate_cmd
    from . import fit as fit_cmd
    from . import rewrite as rewrite_cmd
    from . import tasks as tasks_cmd
    from . import tiny_models as tiny_models_cmd

    cli.add_command(complete_cmd.complete)
    cli.add_command(bench_cmd.bench)
    cli.add_command(generate_cmd.generate)
    cli.add_command(tiny_models_cmd.tiny_models)
    cli.add_command(tasks_cmd.tasks)
    cli.add_command(fit_cmd.fit)
    cli.add_command(rewrite_cmd.rewrite)


_register()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (used by the console script and the tests)."""
    try:
        cli.main(args=argv, prog_name="promptlearn", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except PromptlearnError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
