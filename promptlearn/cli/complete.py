"""``promptlearn complete``: send one prompt (or a conversation from a JSON file) to any LLM
spec; a quick check of a backend."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import DataFileError, InputError
from ..llm import Message, to_messages
from ..llm.errors import InvalidRequestError
from .options import build_llm, llm_options, pop_llm_options


def read_messages(path: Path) -> tuple[Message, ...]:
    """The conversation in ``path``: a JSON list of ``{"role", "content"}`` objects, checked
    before any model is loaded; :class:`DataFileError` naming the file (and line) otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataFileError(path, None, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DataFileError(path, exc.lineno, f"not valid JSON ({exc.msg})") from None
    except OSError as exc:
        raise DataFileError(path, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        return to_messages(data)
    except InvalidRequestError as exc:
        raise DataFileError(path, None, str(exc)) from None


@click.command()
@click.argument("prompt", required=False)
@click.option(
    "--messages",
    "messages_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='Send this conversation instead of PROMPT: a JSON list of {"role": ..., "content": ...}.',
)
@click.option("--system", default=None, help="A system message sent before the prompt.")
@click.option("--temperature", default=0.0, show_default=True, type=click.FloatRange(0.0, 2.0))
@click.option("--max-tokens", default=128, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=None, type=int, help="Sampling seed (for temperature > 0).")
@llm_options
def complete(
    prompt: str | None,
    messages_file: Path | None,
    system: str | None,
    temperature: float,
    max_tokens: int,
    seed: int | None,
    **kwargs,
) -> None:
    """Send PROMPT (or the --messages conversation) to an LLM and print its answer (usage goes to stderr)."""
    if (prompt is None) == (messages_file is None):
        raise InputError("give either PROMPT or --messages FILE (one of them)")
    if messages_file is not None:
        if system is not None:
            raise InputError("--system goes with PROMPT; put the system message in the --messages file instead")
        messages = read_messages(messages_file)
    else:
        messages = to_messages(([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}])
    llm = build_llm(**pop_llm_options(kwargs))
    try:
        completion = llm.complete(messages, temperature=temperature, max_tokens=max_tokens, seed=seed)
    finally:
        llm.close()
    click.echo(completion.text)
    click.echo(
        f"[{llm.spec}] finish={completion.finish_reason} tokens={completion.prompt_tokens}+{completion.completion_tokens} "
        f"latency={completion.latency_s:.2f}s cached={completion.cached} cost={llm.usage.cost_text()}",
        err=True,
    )
