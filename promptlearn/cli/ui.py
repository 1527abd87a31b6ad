"""``promptlearn ui``: the web UI (gradio, the ``ui`` extra) on 127.0.0.1 unless asked otherwise."""

from __future__ import annotations

import click

from ..errors import InputError


@click.command()
@click.option("--model", default="toy", show_default=True, help="Diffusers Stable Diffusion folder, hub id, or toy (the embedded toy-world model).")
@click.option("--llm", "llm_spec", default="local", show_default=True, help="The LLM that rewrites queries: 'local', 'openai/<model>', ... (as --llm elsewhere).")
@click.option("--api-base", default=None, help="Base URL of an OpenAI-compatible server.")
@click.option("--instruction", default="human", show_default=True, help="The instruction: a file, a fit run folder, human or in-context.")
@click.option("--concept", "concepts", multiple=True, help="A concept the images must not show (repeatable; also set in the page).")
@click.option("--judge", default="", help="Judge each image: toy, clip:MODEL or vqa:MODEL [default: none].")
@click.option("--filter", "filter_spec", default="", help="Black out images a filter flags: safety-checker[:MODEL] or clip:MODEL [default: none].")
@click.option("--steps", default=20, show_default=True, type=click.IntRange(min=1), help="Sampler steps (also set in the page).")
@click.option("--bench", "bench_dir", default=None, type=click.Path(file_okay=False), help="A promptlearn bench run folder for the human-evaluation page.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on; 0.0.0.0 serves every network you are on.")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535), help="Port to serve on.")
@click.option("--share", is_flag=True, help="Also serve through a public gradio.live link (needs internet).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the LLM disk cache.")
def ui(model: str, llm_spec: str, api_base: str | None, instruction: str, concepts: tuple[str, ...], judge: str, filter_spec: str, steps: int,
       bench_dir: str | None, host: str, port: int, share: bool, no_cache: bool) -> None:
    """Serve the web UI: administrator and user panels, FABRIC feedback rounds, human evaluation."""
    from ..ui import require_gradio

    require_gradio()
    from ..ui.studio import Settings, Studio, check_settings

    settings = Settings(concepts=tuple(concepts), instruction=instruction, llm=llm_spec, api_base=api_base, model=model,
                        judge=judge, filter=filter_spec, steps=steps)
    settings = check_settings(settings, need_concepts=False)  # without --concept, the page asks for them
    if bench_dir is not None:
        from ..evaluation.human import bench_records

        try:
            bench_records(bench_dir)
        except InputError as exc:
            raise InputError(f"--bench: {exc}") from None
    from ..ui.app import launch

    studio = Studio(settings, bench=bench_dir, cache=not no_cache)
    click.echo(f"serving on http://{host}:{port} (Ctrl+C stops)" + (" and a public share link" if share else ""), err=True)
    try:
        launch(studio, host=host, port=port, share=share)
    finally:
        studio.close()
