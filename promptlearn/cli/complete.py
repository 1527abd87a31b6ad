"""``promptlearn complete``: send one prompt to any LLM spec; a quick check of a backend."""

from __future__ import annotations

import click

from .options import build_llm, llm_options, pop_llm_options


@click.command()
@click.argument("prompt")
@click.option("--system", default=None, help="A system message sent before the prompt.")
@click.option("--temperature", default=0.0, show_default=True, type=click.FloatRange(0.0, 2.0))
@click.option("--max-tokens", default=128, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=None, type=int, help="Sampling seed (for temperature > 0).")
@llm_options
def complete(prompt: str, system: str | None, temperature: float, max_tokens: int, seed: int | None, **kwargs) -> None:
    """Send PROMPT to an LLM and print its answer (usage goes to stderr)."""
    llm = build_llm(**pop_llm_options(kwargs))
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
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
