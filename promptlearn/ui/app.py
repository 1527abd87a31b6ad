"""The gradio page of ``promptlearn ui``: four tabs over :class:`promptlearn.ui.studio.Studio`.

Every event goes through :func:`promptlearn.ui.studio.run_action`: a failure shows one line in
the tab's status box and the server keeps serving. Every event has an ``api_name``, so
``gradio_client`` can drive the page as the tests do."""

# no ``from __future__ import annotations``: gradio reads the handlers' ``gr.Request`` annotations
# as objects to pass the request (the browser session) in
from typing import Any, Optional

from . import require_gradio
from .studio import FEEDBACK_SLOTS, INSTRUCTION_ROLES, MAX_IMAGES, SLD_PRESETS, Studio, parse_concepts, parse_switch_step, run_action

DISPLAY_SIZE = 192  # small images (the toy model's 32 px) are shown enlarged, pixels kept sharp
TITLE = "promptlearn: open-vocabulary responsible visual synthesis"


def _display(image: Any) -> Any:
    from PIL import Image

    if image is None or max(image.size) >= DISPLAY_SIZE:
        return image
    factor = max(1, DISPLAY_SIZE // max(image.size))
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def _explain(result: Any, studio: Studio) -> str:
    """The rewrites with their verification, then each column's method and the prompt it used
    (the gallery cuts long captions)."""
    rewrites = [r.describe(studio.settings.verify) for r in result.rewrites]
    columns = [f"- {c.rsplit(', seed ', 1)[0]}" for c in result.captions[: result.columns]]
    return "\n\n".join(rewrites + ["**columns** (method: the prompt it really used)\n" + "\n".join(columns)])


def _session(request: Any) -> str:
    return getattr(request, "session_hash", None) or "default"


def build_app(studio: Studio):
    """The page (a ``gradio.Blocks``); launch it with :func:`launch`."""
    gr = require_gradio()
    from ..synthesis.methods import REFERENCE_METHOD, method_names

    s = studio.settings
    baseline_choices = [m for m in method_names() if m not in (REFERENCE_METHOD, "tin")]

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"## {TITLE}\nThe administrator names concepts the images must not show; the user types what they like. "
                    "An LLM rewrites the query with a learned instruction, and TIN samples the query for S steps, then the rewrite.")

        # ---- the user's panel ---------------------------------------------------------------------
        with gr.Tab("User", id="user"):
            with gr.Row():
                query = gr.Textbox(label="Query", placeholder="a crimson ball on the left", elem_id="query", scale=4)
                seed = gr.Number(label="Seed", value=s.seed, precision=0, minimum=0, elem_id="seed", scale=1)
                count = gr.Slider(1, MAX_IMAGES, value=1, step=1, label="Images per method", elem_id="count", scale=1)
            with gr.Row():
                generate = gr.Button("Generate", variant="primary", elem_id="generate")
                more = gr.Button("More images", elem_id="more")
            status = gr.Markdown(elem_id="status")
            rewrite = gr.Markdown(elem_id="rewrite")
            gallery = gr.Gallery(label="original | TIN | baselines (columns), seeds (rows)", columns=3, elem_id="gallery",
                                 object_fit="contain", height="auto")
            shown = gr.State([])  # the gallery's (image, caption) pairs
            offset = gr.State(0)

            def do_generate(text, first_seed, n, progress=gr.Progress(track_tqdm=True)):
                def action():
                    result = studio.generate(text, seed=first_seed, num_images=int(n))
                    items = [(_display(im), c) for im, c in result.gallery()]
                    return (result.message, _explain(result, studio),
                            gr.Gallery(value=items, columns=result.columns), items, int(n))
                return run_action(action, lambda message: (message, gr.skip(), gr.skip(), gr.skip(), gr.skip()))

            def do_more(text, first_seed, n, items, done, progress=gr.Progress(track_tqdm=True)):
                def action():
                    result = studio.generate(text, seed=first_seed, num_images=int(n), offset=int(done or 0))
                    new = list(items or []) + [(_display(im), c) for im, c in result.gallery()]
                    return (result.message, _explain(result, studio),
                            gr.Gallery(value=new, columns=result.columns), new, int(done or 0) + int(n))
                return run_action(action, lambda message: (message, gr.skip(), gr.skip(), gr.skip(), gr.skip()))

            outputs = [status, rewrite, gallery, shown, offset]
            generate.click(do_generate, [query, seed, count], outputs, api_name="generate")
            query.submit(do_generate, [query, seed, count], outputs, api_name=False)
            more.click(do_more, [query, seed, count, shown, offset], outputs, api_name="more")

        # ---- FABRIC feedback rounds --------------------------------------------------------------
        with gr.Tab("Feedback (FABRIC)", id="feedback"):
            gr.Markdown("Generate a round, like or dislike its images, generate the next round: it is conditioned on every "
                        "liked and disliked image so far (FABRIC). Reset starts over.")
            with gr.Row():
                fb_query = gr.Textbox(label="Query", elem_id="fb_query", scale=4)
                fb_method = gr.Dropdown(method_names(), value="tin", label="Method", elem_id="fb_method", scale=1)
                fb_batch = gr.Slider(1, FEEDBACK_SLOTS, value=2, step=1, label="Images per round", elem_id="fb_batch", scale=1)
            with gr.Row():
                fb_round = gr.Button("Next round", variant="primary", elem_id="fb_round")
                fb_reset = gr.Button("Reset feedback", elem_id="fb_reset")
            fb_status = gr.Markdown(elem_id="fb_status")
            slots, likes, dislikes = [], [], []
            with gr.Row():
                for index in range(FEEDBACK_SLOTS):
                    with gr.Column(min_width=120):
                        slots.append(gr.Image(label=f"image {index + 1}", interactive=False, elem_id=f"fb_image_{index}"))
                        with gr.Row():
                            likes.append(gr.Button("👍 like", size="sm", elem_id=f"fb_like_{index}"))
                            dislikes.append(gr.Button("👎 dislike", size="sm", elem_id=f"fb_dislike_{index}"))

            def do_round(text, method, n, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
                def action():
                    result = studio.feedback_round(_session(request), text, method=method, batch=int(n))
                    images = [_display(im) for im in result.images] + [None] * (FEEDBACK_SLOTS - len(result.images))
                    return [result.message + "  \n" + "  \n".join(result.captions), *images]
                return run_action(action, lambda message: [message, *[gr.skip()] * FEEDBACK_SLOTS])

            def do_reset(request: gr.Request):
                return run_action(lambda: [studio.feedback_reset(_session(request)), *[None] * FEEDBACK_SLOTS],
                                  lambda message: [message, *[gr.skip()] * FEEDBACK_SLOTS])

            fb_round.click(do_round, [fb_query, fb_method, fb_batch], [fb_status, *slots], api_name="feedback_round")
            fb_reset.click(do_reset, None, [fb_status, *slots], api_name="feedback_reset")
            def marker(index: int, kind: str):
                def mark(request: gr.Request):
                    return run_action(lambda: studio.feedback_mark(_session(request), index, kind), lambda message: message)
                return mark

            for index in range(FEEDBACK_SLOTS):
                for kind, button in (("like", likes[index]), ("dislike", dislikes[index])):
                    button.click(marker(index, kind), None, fb_status, api_name=f"{kind}_{index + 1}")

        # ---- the administrator's panel -----------------------------------------------------------
        with gr.Tab("Administrator", id="admin"):
            with gr.Row():
                concepts = gr.Textbox(label="Concepts", value=", ".join(s.concepts), lines=2, elem_id="concepts",
                                      placeholder="concepts the images must not show, comma-separated or one per line")
                with gr.Column():
                    instruction = gr.Textbox(label="Instruction source", value=s.instruction, elem_id="instruction",
                                             info="a text file, a fit run folder, human (the human-written one) or in-context")
                    role = gr.Radio(list(INSTRUCTION_ROLES), value=s.instruction_role, label="From a fit run folder: which instruction",
                                    info="learned (instruction.txt), initial (where learning started), best (by validation)")
            with gr.Row():
                llm = gr.Textbox(label="LLM", value=s.llm, elem_id="llm", info="local, openai/MODEL, vllm/PATH, ...")
                api_base = gr.Textbox(label="API base", value=s.api_base or "", elem_id="api_base")
                model = gr.Textbox(label="Model", value=s.model, elem_id="model", info="toy or a Stable Diffusion folder")
                judge = gr.Textbox(label="Judge", value=s.judge, elem_id="judge", info="empty (none), toy, clip:MODEL or vqa:MODEL")
                output_filter = gr.Textbox(label="Filter", value=s.filter, elem_id="filter",
                                           info="empty (none), safety-checker[:MODEL] or clip:MODEL; flagged images are blacked out")
            baselines = gr.CheckboxGroup(baseline_choices, value=list(s.baselines), label="Baselines shown beside original and TIN")
            with gr.Row():
                switch_step = gr.Textbox(label="S", value=str(s.switch_step), elem_id="switch_step",
                                         info="steps on the user's query (2) or a ratio of the steps (0.1)")
                steps = gr.Number(label="Steps", value=s.steps, precision=0, minimum=1, elem_id="steps")
                guidance = gr.Number(label="Guidance", value=s.guidance, minimum=0, elem_id="guidance")
                admin_seed = gr.Number(label="Seed", value=s.seed, precision=0, minimum=0)
                sld = gr.Dropdown(list(SLD_PRESETS), value=s.sld_preset, label="SLD preset")
                negative_weight = gr.Textbox(label="Negative weight", value="" if s.negative_weight is None else f"{s.negative_weight:g}",
                                             elem_id="negative_weight",
                                             info="method negative: empty (the concepts replace the unconditional branch) or alpha >= 0")
                verify = gr.Checkbox(value=s.verify, label="Verify rewrites (and ask again when they fail)")
            apply = gr.Button("Apply settings", variant="primary", elem_id="apply")
            admin_status = gr.Markdown(elem_id="admin_status")

            def do_apply(concepts_text, source, role_value, llm_spec, base, model_value, judge_value, chosen, s_text,
                         steps_value, guidance_value, seed_value, sld_value, verify_value, filter_value="", negative_value=""):
                def action():
                    return studio.apply(
                        concepts=parse_concepts(concepts_text), instruction=source.strip(), instruction_role=role_value,
                        llm=llm_spec.strip(), api_base=base.strip() or None, model=model_value.strip(), judge=judge_value.strip(),
                        filter=(filter_value or "").strip(),
                        baselines=tuple(chosen or ()), switch_step=parse_switch_step(s_text), steps=_int(steps_value, "steps"),
                        guidance=_float(guidance_value, "guidance"), seed=_int(seed_value, "seed"), sld_preset=sld_value,
                        negative_weight=_optional_float(negative_value, "negative weight"), verify=bool(verify_value))
                return run_action(action, lambda message: message)

            apply.click(do_apply, [concepts, instruction, role, llm, api_base, model, judge, baselines, switch_step, steps,
                                   guidance, admin_seed, sld, verify, output_filter, negative_weight], admin_status, api_name="apply_settings")

        # ---- human evaluation --------------------------------------------------------------------
        with gr.Tab("Human evaluation", id="rate"):
            gr.Markdown("Rate a `promptlearn bench` run's images: each beside the unconstrained image of its query, the method "
                        "hidden and the order random. Ratings go to `human_ratings.jsonl` in the run folder; come back any time "
                        "to continue where you stopped.")
            with gr.Row():
                bench = gr.Textbox(label="Bench run folder", value=studio.bench or "", elem_id="bench")
                rater = gr.Textbox(label="Your name", elem_id="rater")
                load = gr.Button("Start / continue", elem_id="rate_load")
            progress_md = gr.Markdown(elem_id="rate_progress")
            with gr.Row():
                reference = gr.Image(label="unconstrained image (reference)", interactive=False, elem_id="rate_reference")
                candidate = gr.Image(label="image to rate", interactive=False, elem_id="rate_image")
            question = gr.Markdown(elem_id="rate_question")
            present = gr.Radio(["yes", "no"], label="1. Is the concept there?", elem_id="rate_present")
            similarity = gr.Radio(["1", "0.5", "0"], label="2. How similar is it to the unconstrained image? (1 / 0.5 / 0)",
                                  elem_id="rate_similarity")
            submit = gr.Button("Submit rating", variant="primary", elem_id="rate_submit")
            key = gr.State("")

            def view_outputs(view):
                return [view["key"], view["progress"], _display(view["reference"]), _display(view["image"]), view["question"], None, None]

            def do_load(folder, name):
                return run_action(lambda: view_outputs(studio.rating_view(folder, name)),
                                  lambda message: [gr.skip(), message, *[gr.skip()] * 5])

            def do_rate(folder, name, current, present_value, similarity_value):
                return run_action(lambda: view_outputs(studio.rate(folder, name, current, present_value, similarity_value)),
                                  lambda message: [gr.skip(), message, *[gr.skip()] * 5])

            rate_outputs = [key, progress_md, reference, candidate, question, present, similarity]
            load.click(do_load, [bench, rater], rate_outputs, api_name="rating_load")
            submit.click(do_rate, [bench, rater, key, present, similarity], rate_outputs, api_name="rate")
    return demo


def _int(value: Any, name: str) -> int:
    from ..errors import InputError

    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an integer, got {value!r}") from None
    if not number.is_integer():
        raise InputError(f"{name} must be an integer, got {value!r}")
    return int(number)


def _optional_float(value: Any, name: str) -> float | None:
    """An optional number field: empty is None."""
    return None if value is None or not str(value).strip() else _float(value, name)


def _float(value: Any, name: str) -> float:
    from ..errors import InputError

    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None


def launch(studio: Studio, *, host: str = "127.0.0.1", port: Optional[int] = None, share: bool = False, block: bool = True):
    """Serve the page on ``host:port`` (127.0.0.1 unless asked); returns the Blocks (and, with
    ``block=False``, returns at once with the server running in the background)."""
    demo = build_app(studio)
    demo.queue(default_concurrency_limit=1)
    demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block, quiet=True,
                inbrowser=False, footer_links=["api"])
    return demo
