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
# OpenMP threads that spin while waiting stall a local model ~6x on a busy CPU (measured with the
# embedded SmolLM2 on 2 shared cores); read once, when torch first loads, so set before it does.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promptlearn")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Learn LLM instructions and use them for responsible visual synthesis."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    from ..llm.secrets import install_redaction

    install_redaction()  # no key (passed, or from the environment) in any log line or warning


# (module in promptlearn.cli, click command attribute), one line per command
COMMANDS = [
    ("complete", "complete"),
    ("tasks", "tasks"),
    ("methods", "methods"),
    ("fit", "fit"),
    ("recipes", "recipes"),
    ("show", "show"),
    ("rewrite", "rewrite"),
    ("generate", "generate"),
    ("tiny_models", "tiny_models"),
    ("bench", "bench"),
    ("toy_world", "toy_world"),
    ("redteam", "redteam"),
    ("ui", "ui"),
]


def _register() -> None:
    import importlib

    for module_name, attribute in COMMANDS:
        module = importlib.import_module(f"{__package__}.{module_name}")
        cli.add_command(getattr(module, attribute))


_register()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (used by the console script and the tests). Before it
    returns, litellm's HTTP clients and loop thread are closed, so the process exits right after
    its last line (see :func:`_release`)."""
    try:
        return _main(argv)
    finally:
        _release()


def _release() -> None:
    """Close what a command left open in the background (litellm's loop thread and clients)."""
    backend = sys.modules.get("promptlearn.backends.litellm_backend")
    if backend is not None:
        backend.shutdown()


def _say(message: str) -> None:
    from ..llm.secrets import redact

    click.echo(redact(message), err=True)


def _main(argv: list[str] | None) -> int:
    try:
        cli.main(args=argv, prog_name="promptlearn", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.ClickException as exc:
        _say(f"error: {exc.format_message()}")
        return exc.exit_code
    except PromptlearnError as exc:
        from .options import flag_for

        _say(f"error: {exc.render(flag_for)}")
        return exc.exit_code
    except OSError as exc:  # the file system refused (disk full, permissions) after the up-front checks
        where = f": {exc.filename}" if exc.filename else ""
        _say(f"error: {exc.strerror or exc}{where}")
        return 1
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
