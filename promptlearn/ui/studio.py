"""What the web UI does, as plain Python (no gradio): the administrator's settings, the user's
generation (rewrite, verification, methods side by side, verdicts), FABRIC feedback rounds and the
human evaluation of a bench run. :mod:`promptlearn.ui.app` only lays these out in a page.

Every action returns what the page shows, and a message line; a :class:`PromptlearnError`
(bad input, a missing model, a failing LLM) becomes that message (:func:`message_for`), so the
page shows one line and the server keeps serving.

It is built on the method layer: the methods come from the one registry
(:mod:`promptlearn.synthesis.methods`), instructions from the one resolver
(:func:`promptlearn.instructions.resolve_instruction`), rewrites from the one rewrite path
(:class:`promptlearn.rewriter.Rewriter`), feedback rounds from
:class:`promptlearn.synthesis.feedback_loop.FeedbackLoop`.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import InputError, PromptlearnError, one_line
from ..synthesis.methods import REFERENCE_METHOD, get_method, method_names, parse_methods

logger = logging.getLogger(__name__)

SLD_PRESETS = ("weak", "medium", "strong", "max")
INSTRUCTION_ROLES = ("learned", "initial", "best")
MAX_IMAGES = 4  # per method and round: keeps a CPU page responsive
FEEDBACK_SLOTS = MAX_IMAGES
TASK = "ores"


#: Library argument names (see :class:`~promptlearn.errors.PromptlearnError`) -> the page's field
#: that carries them; others are shown by name.
ARGUMENT_FIELDS = {
    "concepts": "'Concepts'", "switch_step": "'S'", "steps": "'Steps'", "guidance": "'Guidance'", "seed": "'Seed'",
    "instruction": "'Instruction source'", "model": "'Model'", "num_images": "'Images per method'", "query": "'Query'",
    "batch": "'Images per round'", "bench": "'Bench run folder'", "rater": "'Your name'", "present": "'Concept shown?'",
    "similarity": "'Similarity'", "spec": "'LLM'", "llm": "'LLM'", "source": "'Instruction source'",
    "negative_weight": "'Negative weight'",
}


def field_for(argument: str) -> str:
    return ARGUMENT_FIELDS.get(argument, f"'{argument}'")


def message_for(exc: BaseException) -> str:
    """The one line the page shows for a failure: the library's own line (its arguments named
    by the page's fields), or the exception's type and first line (logged with its traceback on
    the server, never shown)."""
    from ..llm.secrets import redact

    if isinstance(exc, PromptlearnError):
        return "error: " + redact(one_line(exc.render(field_for)))
    logger.exception("unexpected error in the web UI")
    return f"error: {type(exc).__name__}: {redact(one_line(exc))}"


@dataclass(frozen=True)
class Settings:
    """The administrator's panel: concepts, instruction, LLM, model and method settings."""

    concepts: tuple[str, ...] = ()
    instruction: str = "human"  # a source of promptlearn.instructions (a file, a fit run, human, ...)
    instruction_role: str = "learned"  # which instruction of a fit run folder
    llm: str = "local"
    api_base: str | None = None
    model: str = "toy"
    baselines: tuple[str, ...] = ("negative", "sld")  # shown beside original and tin
    switch_step: int | float = 2
    steps: int = 20
    guidance: float = 7.5
    seed: int = 0
    sld_preset: str = "medium"
    negative_weight: float | None = None  # method negative: None replaces the unconditional branch (diffusers' form)
    verify: bool = True
    verify_retries: int = 2
    judge: str = ""  # '' (none), toy, clip:MODEL, vqa:MODEL
    filter: str = ""  # '' (none), safety-checker[:MODEL], clip:MODEL: flagged images are blacked out
    height: int | None = None
    width: int | None = None

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys([REFERENCE_METHOD, "tin", *self.baselines]))


def parse_concepts(text: str | Sequence[str]) -> tuple[str, ...]:
    """Concepts one per line or comma-separated."""
    items = text.replace("\n", ",").split(",") if isinstance(text, str) else list(text)
    return tuple(dict.fromkeys(c.strip() for c in items if c and c.strip()))


def parse_switch_step(value: Any) -> int | float:
    """S as steps (an integer) or as a ratio of the steps (a number with a point, in [0, 1]):
    the library's :func:`~promptlearn.synthesis.switch_step.parse_switch_step`, with the page's wording."""
    from ..synthesis.switch_step import parse_switch_step as parse

    try:
        number = parse(str(value))
    except InputError:
        raise InputError(f"bad switch step S {value!r}: give steps (2) or a ratio of the steps (0.1) ({{switch_step}})", arguments="switch_step") from None
    if isinstance(number, float) and not 0.0 <= number <= 1.0:
        raise InputError(f"switch step ratio must be in [0, 1], got {number} ({{switch_step}})", arguments="switch_step")
    return number


def check_settings(settings: Settings, *, need_concepts: bool = True) -> Settings:
    """Every check that loads nothing; returns the settings with cleaned values. Without
    ``need_concepts`` (a server started before the administrator named them) no concept is fine."""
    concepts = parse_concepts(settings.concepts)
    if not concepts and need_concepts:
        raise InputError("name at least one concept the images must not show ({concepts})", arguments="concepts")
    baselines = tuple(parse_methods(list(settings.baselines))) if settings.baselines else ()
    if not isinstance(settings.steps, int) or isinstance(settings.steps, bool) or not 1 <= settings.steps <= 500:
        raise InputError(f"steps must be an integer in [1, 500], got {settings.steps!r} ({{steps}})", arguments="steps")
    if not math.isfinite(settings.guidance) or settings.guidance < 0:
        raise InputError(f"guidance must be >= 0, got {settings.guidance} ({{guidance}})", arguments="guidance")
    if not isinstance(settings.seed, int) or settings.seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {settings.seed!r} ({{seed}})", arguments="seed")
    if settings.sld_preset not in SLD_PRESETS:
        raise InputError(f"unknown SLD preset {settings.sld_preset!r}; choose from {', '.join(SLD_PRESETS)}")
    if settings.negative_weight is not None and (not math.isfinite(settings.negative_weight) or settings.negative_weight < 0):
        raise InputError(f"negative weight must be >= 0 or empty, got {settings.negative_weight} ({{negative_weight}})", arguments="negative_weight")
    if settings.instruction_role not in INSTRUCTION_ROLES:
        raise InputError(f"unknown instruction role {settings.instruction_role!r}; choose from {', '.join(INSTRUCTION_ROLES)}")
    if not str(settings.instruction).strip():
        raise InputError("give the instruction's source: a file, a fit run folder, human or in-context ({instruction})", arguments="instruction")
    if not str(settings.model).strip():
        raise InputError("give the model: toy or a Stable Diffusion folder ({model})", arguments="model")
    _check_model(str(settings.model).strip())
    if settings.judge.strip():
        from ..evaluation.judges import parse_judge_spec

        parse_judge_spec(settings.judge)
    kind = settings.filter.strip().partition(":")[0].strip().lower()
    if kind and kind not in ("clip", "safety-checker"):
        from ..synthesis.filters.spec import FILTER_SPEC_FORMS

        raise InputError(f"unknown filter {settings.filter.strip()!r}; expected {FILTER_SPEC_FORMS}")
    from ..llm.spec import check_spec

    check_spec(settings.llm, api_base=settings.api_base or None)
    cleaned = replace(settings, concepts=concepts, baselines=baselines, model=str(settings.model).strip(), judge=settings.judge.strip(),
                      filter=settings.filter.strip())
    for name in cleaned.methods if concepts else ():
        get_method(name).check(concepts=concepts, guidance=cleaned.guidance, switch_step=cleaned.switch_step,
                               num_steps=cleaned.steps, check_rewrite=False)
    return cleaned


@dataclass(frozen=True)
class RewriteView:
    """A rewrite as the page shows it."""

    role: str
    text: str
    passed: bool | None
    problem: str | None
    retries: int
    origin: str

    def describe(self, verify: bool) -> str:
        if not verify:
            check = "verification off"
        elif self.passed is None:
            check = "no check applies"
        elif self.passed:
            check = f"verified: passes the check (concept avoided, close to the query){f' after {self.retries} retries' if self.retries else ''}"
        else:
            check = f"fails the check after {self.retries} retries: {self.problem}"
        return f"**rewrite** ({self.role} instruction, {self.origin}): {self.text}  \n{check}"


@dataclass
class Generation:
    """What one press of generate shows: tiles (rows: seeds, columns: methods) and their captions."""

    images: list[Any]
    captions: list[str]
    columns: int
    rewrites: list[RewriteView]
    seeds: list[int]
    message: str = ""

    def gallery(self) -> list[tuple[Any, str]]:
        return list(zip(self.images, self.captions))


@dataclass
class FeedbackState:
    """One browser session's FABRIC rounds: the loop, its query and method, and the marks given
    to the last round's images (index -> "like" / "dislike")."""

    loop: Any = None
    key: tuple = ()
    marks: dict[int, str] = field(default_factory=dict)
    rewrite: str | None = None


class Studio:
    """The server side of the page: settings, loaded models (kept between requests) and the
    per-session FABRIC state. Thread-safe: one lock around sampling (torch on a CPU)."""

    def __init__(self, settings: Settings | None = None, *, bench: str | None = None, cache: bool = True,
                 llm_timeout: float = 60.0, device: str = "cpu", progress: bool = True):
        self.settings = settings or Settings()
        self.bench = bench
        self.cache = cache
        self.llm_timeout = llm_timeout
        self.device = device
        self.progress = progress
        self._lock = threading.RLock()
        self._components: dict[str, Any] = {}
        self._llms: dict[tuple[str, str | None], Any] = {}
        self._judges: dict[str, Any] = {}
        self._filters: dict[tuple, Any] = {}
        self._rewrites: dict[tuple, RewriteView] = {}
        self._feedback: dict[str, FeedbackState] = {}

    # ---- the administrator's panel ------------------------------------------------------------
    def apply(self, **fields: Any) -> str:
        """Replace settings (checked first; nothing changes when a value is bad)."""
        new = check_settings(replace(self.settings, **fields))
        with self._lock:
            self.settings = new
        return (f"settings applied: concepts {', '.join(new.concepts)}; instruction {new.instruction}"
                f"{f' ({new.instruction_role})' if Path(new.instruction).expanduser().is_dir() else ''}; llm {new.llm}; "
                f"model {new.model}; methods {', '.join(new.methods)}; S={new.switch_step}, {new.steps} steps, "
                f"guidance {new.guidance}, SLD {new.sld_preset}, "
                f"negative {'alpha ' + format(new.negative_weight, 'g') if new.negative_weight is not None else 'in place of the unconditional branch'}, verification {'on' if new.verify else 'off'}"
                f"{f', judge {new.judge}' if new.judge else ''}{f', filter {new.filter}' if new.filter else ''}")

    def close(self) -> None:
        for llm in self._llms.values():
            llm.close()
        self._llms.clear()

    # ---- loading, cached ---------------------------------------------------------------------
    def components(self, model: str):
        with self._lock:
            if model not in self._components:
                from ..synthesis.components import load_components

                self._components[model] = load_components(model, device=self.device, scheduler="ddim")
            return self._components[model]

    def synthesizer(self, settings: Settings):
        from ..synthesis.sampler import Synthesizer

        return Synthesizer(self.components(settings.model), progress=self.progress)

    def llm(self, settings: Settings):
        key = (settings.llm, settings.api_base or None)
        with self._lock:
            if key not in self._llms:
                from ..llm import load_llm

                self._llms[key] = load_llm(settings.llm, api_base=settings.api_base or None, cache=self.cache, timeout=self.llm_timeout)
            return self._llms[key]

    def judge(self, spec: str):
        with self._lock:
            if spec not in self._judges:
                from ..evaluation.judges import parse_judge_spec

                self._judges[spec] = parse_judge_spec(spec).load(device=self.device)
            return self._judges[spec]

    def output_filter(self, settings: Settings):
        key = (settings.filter, settings.concepts, settings.model)
        with self._lock:
            if key not in self._filters:
                from ..synthesis.components import resolve_model_name
                from ..synthesis.filters import parse_filter_spec

                self._filters[key] = parse_filter_spec(settings.filter, concepts=settings.concepts,
                                                       sd_checkpoint=str(resolve_model_name(settings.model)), device=self.device)
            return self._filters[key]

    # ---- rewriting ----------------------------------------------------------------------------
    def instruction(self, settings: Settings, role: str):
        """The instruction a method's rewrite needs, through the one resolver: ``learned`` is the
        administrator's source (for a fit run folder: the role chosen), ``initial`` that fit
        run's initial one, ``human`` / ``in-context`` the task's named sources."""
        from ..instructions import method_instruction_source, resolve_instruction
        from ..tasks.registry import get_task

        source = method_instruction_source(role, instruction=settings.instruction, run_role=settings.instruction_role)
        if source is None:  # only ``initial`` can lack its source: the page has one instruction field
            raise InputError("the initial instruction comes from a fit run folder: set the instruction source to one ({instruction})", arguments="instruction")
        return resolve_instruction(source[0], task=get_task(TASK), role=source[1])

    def rewrite(self, settings: Settings, query: str, role: str) -> RewriteView:
        """The query rewritten with the ``role`` instruction (cached per settings and query)."""
        key = (settings.llm, settings.api_base, settings.instruction, settings.instruction_role, settings.concepts,
               settings.verify, settings.verify_retries, query, role)
        if key in self._rewrites:
            return self._rewrites[key]
        from ..rewriter import Rewriter
        from ..tasks.registry import get_task

        instruction = self.instruction(settings, role)
        rewriter = Rewriter(self.llm(settings), get_task(TASK), instruction.text,
                            verify_retries=settings.verify_retries if settings.verify else 0)
        result = rewriter.rewrite(concept=", ".join(settings.concepts), query=query)
        if not result.output.strip():
            raise InputError(f"the LLM's answer held no rewrite with the {role} instruction (raw: {(result.attempts or [''])[-1]!r})")
        view = RewriteView(role, result.output.strip(), result.passed, result.problem, result.retries, instruction.origin)
        self._rewrites[key] = view
        return view

    # ---- the user's panel ----------------------------------------------------------------------
    def generate(self, query: str, *, seed: int | None = None, num_images: int = 1, offset: int = 0) -> Generation:
        """Rewrite ``query`` (every instruction the shown methods need), then sample every method
        for seeds ``seed + offset ...``; images of a configured judge carry its verdict."""
        settings = self.settings
        query = _check_query(query)
        check_settings(settings)
        seed = settings.seed if seed is None else _check_seed(seed)
        if not isinstance(num_images, int) or not 1 <= num_images <= MAX_IMAGES:
            raise InputError(f"images per method must be in [1, {MAX_IMAGES}], got {num_images!r} ({{num_images}})", arguments="num_images")
        specs = [get_method(name) for name in settings.methods]
        roles = list(dict.fromkeys(spec.instruction for spec in specs if spec.instruction))
        rewrites = {role: self.rewrite(settings, query, role) for role in roles}
        seeds = list(range(seed + offset, seed + offset + num_images))
        with self._lock:
            synthesizer = self.synthesizer(settings)
            results = {}
            for spec in specs:
                rewrite = rewrites[spec.instruction].text if spec.instruction else None
                interventions = method_interventions(spec, settings, rewrite)
                results[spec.name] = synthesizer.generate(query, seeds=seeds, interventions=interventions,
                                                          num_inference_steps=settings.steps, guidance_scale=settings.guidance,
                                                          height=settings.height, width=settings.width)
        images, captions = [], []
        for index, one_seed in enumerate(seeds):
            for spec in specs:
                images.append(results[spec.name].images[index])
                rewrite = rewrites[spec.instruction].text if spec.instruction else None
                captions.append(caption(spec, query, settings, rewrite, one_seed))
        verdicts = self.verdicts(settings, images)
        if verdicts is not None:
            captions = [f"{c} | {v}" for c, v in zip(captions, verdicts)]
        images, captions, filtered = self.apply_filter(settings, images, captions)
        flagged = sum(1 for v in verdicts or [] if v.startswith("judge: shows"))
        message = (f"{len(images)} images: {', '.join(s.name for s in specs)} × seeds {', '.join(map(str, seeds))}"
                   + (f"; the judge finds the concept in {flagged} of {len(images)}" if verdicts is not None else "")
                   + (f"; the filter blacked out {filtered} of {len(images)}" if filtered is not None else ""))
        return Generation(images, captions, len(specs), list(rewrites.values()), seeds, message)

    def verdicts(self, settings: Settings, images: list[Any]) -> list[str] | None:
        """The judge's verdict per image (a concept is shown when the judge finds any of them)."""
        if not settings.judge:
            return None
        judge = self.judge(settings.judge)
        shown: list[list[str]] = [[] for _ in images]
        for concept in settings.concepts:
            for index, answer in enumerate(judge.judge(images, [concept] * len(images))):
                if answer.present:
                    shown[index].append(concept)
        return [f"judge: shows {', '.join(s)}" if s else "judge: avoided" for s in shown]

    def apply_filter(self, settings: Settings, images: list[Any], captions: list[str]) -> tuple[list[Any], list[str], int | None]:
        """Black out the images the administrator's filter flags (as diffusers' safety checker
        does) and say so in their captions; the count is None without a filter."""
        if not settings.filter:
            return images, captions, None
        from PIL import Image

        decisions = self.output_filter(settings).check(images)
        images, captions = list(images), list(captions)
        for index, decision in enumerate(decisions):
            if decision.flagged:
                images[index] = Image.new("RGB", images[index].size, "black")
                captions[index] += " | filter: flagged (blacked out)"
            else:
                captions[index] += " | filter: passed"
        return images, captions, sum(1 for d in decisions if d.flagged)

    # ---- FABRIC feedback rounds ---------------------------------------------------------------
    def feedback_state(self, session: str) -> FeedbackState:
        with self._lock:
            return self._feedback.setdefault(session, FeedbackState())

    def feedback_mark(self, session: str, index: int, kind: str) -> str:
        """Like or dislike image ``index`` of the last round (pressing the same again clears it)."""
        state = self.feedback_state(session)
        if state.loop is None or not state.loop.rounds:
            raise InputError("generate a round first, then like or dislike its images")
        count = len(state.loop.rounds[-1].images)
        if not isinstance(index, int) or not 0 <= index < count:
            raise InputError(f"no image {index} in the last round (it has {count})")
        if kind not in ("like", "dislike"):
            raise InputError(f"feedback is like or dislike, got {kind!r}")
        if state.marks.get(index) == kind:
            del state.marks[index]
        else:
            state.marks[index] = kind
        return self.feedback_summary(session)

    def feedback_summary(self, session: str) -> str:
        state = self.feedback_state(session)
        if state.loop is None:
            return "no round yet"
        liked = sorted(i + 1 for i, k in state.marks.items() if k == "like")
        disliked = sorted(i + 1 for i, k in state.marks.items() if k == "dislike")
        return (f"round {len(state.loop.rounds)}: liked {liked or 'none'}, disliked {disliked or 'none'}; feedback so far "
                f"+{len(state.loop.liked)}/-{len(state.loop.disliked)} images (the next round adds the marks)")

    def feedback_round(self, session: str, query: str, *, method: str = "tin", batch: int = 2) -> Generation:
        """The next FABRIC round: the marks on the last round's images become feedback, then a
        new batch is sampled with all feedback so far. A new query, method or setting starts over."""
        from ..synthesis.feedback_loop import FeedbackLoop

        settings = self.settings
        query = _check_query(query)
        check_settings(settings)
        spec = get_method(method)
        spec.check(concepts=settings.concepts, guidance=settings.guidance, switch_step=settings.switch_step,
                   num_steps=settings.steps, check_rewrite=False)
        if not isinstance(batch, int) or not 1 <= batch <= FEEDBACK_SLOTS:
            raise InputError(f"images per round must be in [1, {FEEDBACK_SLOTS}], got {batch!r} ({{batch}})", arguments="batch")
        state = self.feedback_state(session)
        key = (query, spec.name, batch, settings)
        if state.loop is None or state.key != key:
            rewrite = self.rewrite(settings, query, spec.instruction).text if spec.instruction else None
            interventions = method_interventions(spec, settings, rewrite)
            state.loop = FeedbackLoop(self.synthesizer(settings), query, batch_size=batch, seed=settings.seed,
                                      interventions=interventions, num_inference_steps=settings.steps,
                                      guidance_scale=settings.guidance, height=settings.height, width=settings.width)
            state.key, state.marks, state.rewrite = key, {}, rewrite
        else:
            liked = [i for i, k in sorted(state.marks.items()) if k == "like"]
            disliked = [i for i, k in sorted(state.marks.items()) if k == "dislike"]
            if disliked and not settings.guidance > 1.0:
                raise InputError(f"disliked images need classifier-free guidance > 1 (the administrator's guidance is {settings.guidance})")
            state.loop.give_feedback(liked=liked, disliked=disliked)
            state.marks = {}
        with self._lock:
            result = state.loop.generate()
        number = len(state.loop.rounds)
        label = caption(spec, query, settings, state.rewrite, None)
        captions = [f"image {i + 1}: {label}, seed {s}, round {number} (+{len(state.loop.liked)}/-{len(state.loop.disliked)} feedback)"
                    for i, s in enumerate(result.seeds)]
        verdicts = self.verdicts(settings, result.images)
        if verdicts is not None:
            captions = [f"{c} | {v}" for c, v in zip(captions, verdicts)]
        return Generation(result.images, captions, batch, [], list(result.seeds),
                          f"round {number}: {batch} images with +{len(state.loop.liked)}/-{len(state.loop.disliked)} feedback images")

    def feedback_reset(self, session: str) -> str:
        with self._lock:
            self._feedback.pop(session, None)
        return "feedback cleared: the next round starts without feedback"

    # ---- human evaluation ---------------------------------------------------------------------
    def rating_view(self, bench: str, rater: str) -> dict[str, Any]:
        """The next image ``rater`` has to rate in ``bench`` (or that they are done)."""
        from PIL import Image

        from ..evaluation.human import PRESENT_QUESTION, next_item

        folder = _bench_folder(bench or self.bench)
        item, rated, total = next_item(folder, rater)
        if item is None:
            return {"key": "", "reference": None, "image": None, "question": "",
                    "progress": f"all {total} images rated by {rater.strip()}; thank you. `promptlearn bench` folds the ratings into its report."}
        with Image.open(folder / item.reference) as ref, Image.open(folder / item.image) as image:
            reference, shown = ref.convert("RGB"), image.convert("RGB")
        return {"key": item.key, "reference": reference, "image": shown,
                "question": f"query: {item.query}  \n**1.** {PRESENT_QUESTION.format(concept=repr(item.concept))}",
                "progress": f"{rated} of {total} rated; row {item.row_id}, seed {item.seed}, image {item.position + 1} of the row"}

    def rate(self, bench: str, rater: str, key: str, present: Any, similarity: Any) -> dict[str, Any]:
        """Record one rating of the image ``key`` names, then show the next one."""
        from ..evaluation.human import append_rating, find_item

        folder = _bench_folder(bench or self.bench)
        if not key:
            raise InputError("no image is shown: load the bench run first")
        append_rating(folder, rater, find_item(folder, rater, key), present=present, similarity=similarity)
        return self.rating_view(str(folder), rater)


def method_interventions(spec, settings: Settings, rewrite: str | None) -> list:
    """The interventions of method ``spec`` under the administrator's settings."""
    return spec.interventions(concepts=settings.concepts, rewrite=rewrite, switch_step=settings.switch_step,
                              sld_preset=settings.sld_preset, negative_weight=settings.negative_weight)


def caption(spec, query: str, settings: Settings, rewrite: str | None, seed: int | None) -> str:
    """The caption of a method's image: its name and the prompt it really used."""
    label = spec.describe(switch_step=settings.switch_step, sld_preset=settings.sld_preset, negative_weight=settings.negative_weight)
    if spec.instruction is not None:
        switch = spec.switch_step_for(settings.switch_step)
        prompt = f"'{rewrite}'" if not switch else f"'{query}' for S={switch}, then '{rewrite}'"
    elif spec.text_edit is not None:
        prompt = f"'{spec.text_edit(query, settings.concepts)}'"
    elif spec.name == "negative":
        prompt = f"'{query}', negative prompt '{', '.join(settings.concepts)}'"
    elif spec.name == "sld":
        prompt = f"'{query}', guided away from '{', '.join(settings.concepts)}'"
    else:
        prompt = f"'{query}'"
    return f"{label}: {prompt}" + (f", seed {seed}" if seed is not None else "")


def _check_model(model: str) -> None:
    """``toy``, a hub id, or a folder that exists (a missing one is named before anything loads)."""
    from ..hub import is_hub_id

    if model.casefold() == "toy" or is_hub_id(model):
        return
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise InputError(f"model folder not found: {folder} ({{model}})", arguments="model")


def _check_query(query: Any) -> str:
    text = " ".join(str(query or "").split())
    if not text:
        raise InputError("type a query first ({query})", arguments="query")
    if len(text) > 1000:
        raise InputError("the query is longer than 1000 characters ({query})", arguments="query")
    return text


def _check_seed(seed: Any) -> int:
    try:
        value = float(seed)
    except (TypeError, ValueError):
        value = -1.0
    if isinstance(seed, bool) or not math.isfinite(value) or value < 0 or not value.is_integer():
        raise InputError(f"seed must be an integer >= 0, got {seed!r} ({{seed}})", arguments="seed")
    return int(value)


def _bench_folder(bench: str | None) -> Path:
    if not bench or not str(bench).strip():
        raise InputError("give a bench run folder (made by promptlearn bench) ({bench})", arguments="bench")
    folder = Path(str(bench).strip()).expanduser()
    if not folder.is_dir():
        raise InputError(f"bench run folder not found: {folder} ({{bench}})", arguments="bench")
    return folder


def run_action(action: Callable[[], Any], fallback: Callable[[str], Any]) -> Any:
    """Call ``action``; on any failure, ``fallback(message)`` (what the page shows instead)."""
    try:
        return action()
    except Exception as exc:  # the page shows one line; the server keeps serving
        return fallback(message_for(exc))


__all__ = ["Generation", "RewriteView", "Settings", "Studio", "caption", "check_settings", "message_for",
           "parse_concepts", "parse_switch_step", "run_action", "method_names"]
