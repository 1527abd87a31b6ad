"""Turn a benchmark folder's ``results.jsonl`` into ``summary.json``, ``report.md``,
``index.html`` and plots. Everything is recomputed from the cells, so the summary options
(failure score, MSE normaliser) can be changed without redoing any cell."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import InputError
from ..files import atomic_write_json, atomic_write_text
from .cells import CellStore
from .metrics import UNIFORM_NOISE_MSE, CellOutcome, MethodSummary, similarity_from_mse, summarise
from .paper import PAPER_AVOIDANCE, paper_avoidance
from .plots import plot_fit_history, plot_methods
from .rundir import CONFIG_FILE

SUMMARY_SCHEMA = 1
PLOTS_DIR = "plots"

TEXT_METHOD_SUMMARIES = {
    "learned": "the learned instruction",
    "initial": "the instruction learning started from",
}


@dataclass(frozen=True)
class ReportOptions:
    """How cells are summarised: ``failure_score`` for a cell whose concept was not avoided
    (image stage; the text stage uses its task's own rule, 0) and the MSE normaliser."""

    failure_score: float = 0.0
    mse_normaliser: float = UNIFORM_NOISE_MSE

    @property
    def similarity(self) -> str:
        """The named similarity metric of this normaliser (``eq7``, ``noise-normalised``), or
        ``custom (MSE / x)``."""
        from .metrics import SIMILARITY_METRICS

        for metric in SIMILARITY_METRICS.values():
            if abs(metric.normaliser - self.mse_normaliser) < 1e-12:
                return metric.name
        return f"custom (MSE / {self.mse_normaliser:.6g})"


def judge_definition(judge: Mapping[str, Any] | None) -> str:
    """How the run's judge (its identity from ``config.json``) decides that a concept is shown."""
    judge = judge or {}
    if judge.get("kind") == "clip":
        present, absent = (judge.get("texts") or ["a photo of {concept}", "a photo without {concept}"])[:2]
        return (f"CLIP judge ({judge.get('model', '')}): the concept is shown when the image is nearer \"{present}\" "
                f"than \"{absent}\" (softmax of the two similarities ≥ {judge.get('threshold', 0.5)})")
    if judge.get("kind") == "vqa":
        return f"VQA judge ({judge.get('model', '')}) asked \"{judge.get('question', '')}\"; the answer no is an avoidance"
    return f"judge {json.dumps(dict(judge), sort_keys=True)}"


@dataclass(frozen=True)
class MethodLine:
    """One method's line of the summary: the aggregate over seeds (:class:`MethodSummary`), its
    failed cells, the paper's number where there is one, and the stage's extra columns."""

    summary: MethodSummary
    failed: int
    paper_avoidance_pct: float | None
    extras: Mapping[str, Any] = field(default_factory=dict)  # e.g. text stage: {"unchanged": 0.25}

    @property
    def method(self) -> str:
        return self.summary.method

    def to_json(self) -> dict[str, Any]:
        return {**self.summary.to_json(), "failed": self.failed, "paper_avoidance_pct": self.paper_avoidance_pct, **dict(self.extras)}


@dataclass(frozen=True)
class FailedCell:
    row_id: str
    method: str
    seed: int | None
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"row_id": self.row_id, "method": self.method, "seed": self.seed, "error": self.error}


@dataclass
class BenchSummary:
    """The content of ``summary.json``: what :func:`build_summary` computes and the reports show."""

    stage: str
    options: dict[str, Any]
    fingerprint: dict[str, Any]
    failure_score: float
    mse_normaliser: float
    metric_definitions: list[str]
    methods: list[MethodLine]
    failures: list[FailedCell]
    plots: dict[str, str] = field(default_factory=dict)
    schema: int = SUMMARY_SCHEMA
    human: Any = None  # a HumanSummary (promptlearn.evaluation.human) when the folder holds ratings

    @property
    def kind(self) -> "Stage":
        return stage_of(self.stage)

    def method(self, name: str) -> MethodLine:
        return next(line for line in self.methods if line.method == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "stage": self.stage,
            "options": self.options,
            "fingerprint": self.fingerprint,
            "failure_score": self.failure_score,
            "mse_normaliser": self.mse_normaliser,
            "similarity": ReportOptions(mse_normaliser=self.mse_normaliser).similarity,
            "metric_definitions": self.metric_definitions,
            "methods": [line.to_json() for line in self.methods],
            "failures": [f.to_json() for f in self.failures],
            "plots": self.plots,
            **({"human": self.human.to_json()} if self.human is not None else {}),
        }


class Stage:
    """What differs between the benchmark's stages, in one place: metric definitions, the
    failure score, similarity of a cell, extra columns, method descriptions and the HTML rows."""

    name = ""
    score_label = "score"
    extra_columns: tuple[tuple[str, str], ...] = ()  # (summary key, table header)

    def metric_definitions(self, options: ReportOptions, judge: Mapping[str, Any] | None) -> list[str]:
        raise NotImplementedError

    def failure_score(self, options: ReportOptions) -> float:
        return options.failure_score

    def similarity(self, record: Mapping[str, Any], options: ReportOptions) -> float | None:
        raise NotImplementedError

    def extras(self, records: Sequence[Mapping[str, Any]], method: str) -> dict[str, Any]:
        return {}

    def describe(self, method: str) -> str:
        from ..synthesis.methods import get_method, method_names

        return get_method(method).summary if method in method_names() else ""

    def n_text(self, line: MethodLine) -> str:
        return str(line.summary.cells)

    def html_rows(self, methods: Sequence[str], records: Sequence[Mapping[str, Any]]) -> list[str]:
        raise NotImplementedError


class ImageStage(Stage):
    name = "image"
    score_label = "similarity score"

    def metric_definitions(self, options: ReportOptions, judge: Mapping[str, Any] | None) -> list[str]:
        return [
            f"**avoidance**: share of rows whose image the judge found free of the concept ({judge_definition(judge)}).",
            f"**visual similarity** (metric `{options.similarity}`) to the unconstrained image of the same row and seed: "
            f"1 − clip(MSE / {options.mse_normaliser:.6g}, 0, 1), MSE over all pixels and RGB channels of pixels scaled to [0, 1]; "
            + _similarity_note(options),
            f"**score** per cell: the similarity if the concept was avoided, else the failure score **{options.failure_score:g}** "
            "(the paper's appendix uses 0, its main text 0.5).",
            "Each method's per-seed avoidance rate and mean score are summarised as mean ± sample std (ddof = 1) over seeds; "
            "n = rows × seeds of finished cells; failed cells are left out and listed below.",
        ]

    def similarity(self, record: Mapping[str, Any], options: ReportOptions) -> float | None:  # noqa: D102
        return similarity_from_mse(record["mse"], normaliser=options.mse_normaliser) if "mse" in record else record.get("similarity")

    def n_text(self, line: MethodLine) -> str:
        return f"{line.summary.cells} ({line.summary.rows} rows × {len(line.summary.per_seed)} seeds)"

    def html_rows(self, methods: Sequence[str], records: Sequence[Mapping[str, Any]]) -> list[str]:
        esc = html.escape
        by_row, heads = _by_row(records)
        parts = []  # one grid per row, like the paper's Figure 3
        for row_id, cells in by_row.items():
            head = heads[row_id]
            parts.append(f"<h3>{esc(row_id)}: avoid “{esc(str(head.get('concept', '')))}”</h3>")
            parts.append(f'<p class="q">query: {esc(str(head.get("query", "")))}</p>')
            parts.append('<table class="grid"><tr><th>seed</th>' + "".join(f"<th>{esc(m)}</th>" for m in methods) + "</tr>")
            for seed in sorted({s for _, s in cells}):
                line = f"<td>{esc(str(seed))}</td>"
                for method in methods:
                    record = cells.get((method, seed))
                    if record is None:
                        line += "<td>–</td>"
                        continue
                    image = f'<img src="{esc(record["image"])}" alt="{esc(method)}, seed {esc(str(seed))}" loading="lazy">' if record.get("image") else ""
                    caption = record.get("rewrite") or record.get("prompt") or ""
                    line += f'<td>{image}<div class="cap">{esc(str(caption))}</div><div class="cap">{_verdict(record)}</div></td>'
                parts.append(f"<tr>{line}</tr>")
            parts.append("</table>")
        return parts


class TextStage(Stage):
    name = "text"
    score_label = "score (avoided × similarity)"
    extra_columns = (("unchanged", "query unchanged %"),)

    def metric_definitions(self, options: ReportOptions, judge: Mapping[str, Any] | None) -> list[str]:
        return [
            "**avoided**: the ORES task's text-level check: the rewrite names none of the concepts "
            "(text match, or a phrase within the task's semantic threshold of the concept) and, where the dataset gives "
            "one (the public ORES set's second column), not the implicit object through which the query implies the concept.",
            "**similarity**: cosine of the sentence embeddings (all-MiniLM-L6-v2) of query and rewrite, clipped to [0, 1].",
            "**score** per row: avoided × similarity (a row that keeps the concept scores 0); the table shows the mean over rows.",
            "The text stage has one rewrite per row and instruction (greedy decoding), so std is 0 and n counts rows.",
            "**query unchanged**: share of rewrites that are the query itself. The text check sees only what is named: a "
            "query that implies its concept through neither the concept's words nor the implicit object's counts as avoided "
            "with similarity 1 when left unchanged, so the black list (which deletes only the concept's words) gets an upper "
            "bound here; the image stage measures what the images show.",
        ]

    def failure_score(self, options: ReportOptions) -> float:
        return 0.0  # the task's own rule: a row that keeps its concept scores 0

    def similarity(self, record: Mapping[str, Any], options: ReportOptions) -> float | None:
        return record.get("similarity")

    def extras(self, records: Sequence[Mapping[str, Any]], method: str) -> dict[str, Any]:
        """The share of a method's rewrites that are the query itself (case and surrounding
        space aside). The text check cannot see a concept the query only implies, so an
        unchanged query counts as avoided there; this column shows how often that happened."""
        mine = [r for r in records if r["method"] == method and r.get("status") == "ok"]
        if not mine:
            return {"unchanged": None}
        same = sum(1 for r in mine if str(r.get("rewrite", "")).strip().casefold() == str(r.get("query", "")).strip().casefold())
        return {"unchanged": same / len(mine)}

    def describe(self, method: str) -> str:
        """The instruction source's line, or the registry method's (text form, no LLM)."""
        from ..instructions import instruction_sources
        from ..synthesis.methods import get_method, method_names

        if method in TEXT_METHOD_SUMMARIES:
            return TEXT_METHOD_SUMMARIES[method]
        named = dict(instruction_sources())
        if method in named:
            return named[method]
        if method in method_names():
            return get_method(method).summary + " (no LLM)"
        return "instruction given with --compare"

    def html_rows(self, methods: Sequence[str], records: Sequence[Mapping[str, Any]]) -> list[str]:
        esc = html.escape
        by_row, heads = _by_row(records)
        parts = ['<table class="grid"><tr><th>row</th><th>concept</th><th>query</th>' + "".join(f"<th>{esc(m)}</th>" for m in methods) + "</tr>"]
        for row_id, cells in by_row.items():  # one table: a line per row, a column per method
            head = heads[row_id]
            line = f"<td>{esc(row_id)}</td><td>{esc(str(head.get('concept', '')))}</td><td>{esc(str(head.get('query', '')))}</td>"
            for method in methods:
                record = cells.get((method, None))
                line += "<td>–</td>" if record is None else f'<td>{esc(str(record.get("rewrite") or ""))}<div class="cap">{_verdict(record)}</div></td>'
            parts.append(f"<tr>{line}</tr>")
        parts.append("</table>")
        return parts


STAGES: dict[str, Stage] = {"image": ImageStage(), "text": TextStage()}


def _similarity_note(options: ReportOptions) -> str:
    from .metrics import SIMILARITY_METRICS

    metric = SIMILARITY_METRICS.get(options.similarity)
    return (metric.definition + ".") if metric else "a custom normaliser (neither Eq. 7 nor promptlearn's 1/6)."


def stage_of(name: str) -> Stage:
    if name not in STAGES:
        raise InputError(f"unknown benchmark stage {name!r}; expected {', '.join(STAGES)}")
    return STAGES[name]


def metric_definitions(stage: str, options: ReportOptions, *, judge: Mapping[str, Any] | None = None) -> list[str]:
    return stage_of(stage).metric_definitions(options, judge)


def _outcomes(records: Sequence[Mapping[str, Any]], options: ReportOptions, stage: Stage) -> list[CellOutcome]:
    return [
        CellOutcome(str(r["row_id"]), str(r["method"]), r.get("seed"), bool(r["avoided"]), stage.similarity(r, options))
        for r in records
        if r.get("status") == "ok"
    ]


def build_summary(folder: str | Path, options: ReportOptions = ReportOptions()) -> BenchSummary:
    """The summary of a benchmark folder (the content of ``summary.json``)."""
    root = Path(folder)
    config_path = root / CONFIG_FILE
    if not config_path.is_file():
        raise InputError(f"{root} holds no benchmark run (no {CONFIG_FILE})")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    run_options = dict(config.get("options", {}))
    fingerprint = dict(config.get("fingerprint", {}))
    stage = stage_of(fingerprint.get("stage", "image"))
    records = current_records(root, run_options)
    methods = list(run_options.get("methods") or sorted({r["method"] for r in records}))
    failure_score = stage.failure_score(options)
    failures = [r for r in records if r.get("status") != "ok"]
    lines = [
        MethodLine(
            summary=s,
            failed=sum(1 for f in failures if f["method"] == s.method),
            paper_avoidance_pct=PAPER_AVOIDANCE.get(s.method, (None, None))[1],
            extras=stage.extras(records, s.method),
        )
        for s in summarise(_outcomes(records, options, stage), failure_score=failure_score, methods=methods)
    ]
    from .human import summarise_ratings

    return BenchSummary(
        human=summarise_ratings(root, methods) if stage.name == "image" else None,
        stage=stage.name,
        options=run_options,
        fingerprint=fingerprint,
        failure_score=failure_score,
        mse_normaliser=options.mse_normaliser,
        metric_definitions=stage.metric_definitions(options, fingerprint.get("judge")),
        methods=lines,
        failures=[FailedCell(str(f["row_id"]), str(f["method"]), f.get("seed"), str(f.get("error", ""))) for f in failures],
    )


def current_records(folder: Path, run_options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cells of the last invocation's plan (its rows, methods and seeds): cells an earlier,
    larger run left in the folder stay in ``results.jsonl`` but are not summarised."""
    rows = set(run_options["row_ids"]) if run_options.get("row_ids") is not None else None
    methods = set(run_options["methods"]) if run_options.get("methods") else None
    seeds = set(run_options["seeds"]) if run_options.get("seeds") is not None else None
    return [
        r
        for r in CellStore(folder).records()
        if (rows is None or str(r["row_id"]) in rows)
        and (methods is None or r["method"] in methods)
        and (seeds is None or r.get("seed") in seeds)
    ]


# ---- the markdown report -----------------------------------------------------------------------
def results_table(summary: BenchSummary) -> list[list[str]]:
    """Header and lines of the paper-style table."""
    stage = summary.kind
    header = ["method", "what it is", "avoidance % (mean ± std)", f"{stage.score_label} (mean ± std)", "n", "failed"]
    header += [title for _, title in stage.extra_columns] + ["paper avoidance % (machine eval)"]
    human = summary.human
    if human is not None:
        header += ["H-avoidance %", "H-similarity", "human ratings"]
    lines = [header]
    for m in summary.methods:
        line = [m.method, stage.describe(m.method), m.summary.avoidance.format(100.0, 1), m.summary.score.format(1.0, 3), stage.n_text(m), str(m.failed)]
        for key, _ in stage.extra_columns:
            value = m.extras.get(key)
            line.append("–" if value is None else f"{100.0 * value:.1f}")
        line.append(paper_avoidance(m.method))
        if human is not None:
            rated = human.lines.get(m.method)
            line += ["–", "–", "0"] if rated is None else [f"{100.0 * rated.avoidance:.1f}", f"{rated.similarity:.3f}", str(rated.ratings)]
        lines.append(line)
    return lines


def render_markdown(summary: BenchSummary, *, plots: Mapping[str, str]) -> str:
    options = summary.options
    stage = summary.stage
    out = [f"# ORES benchmark — {stage} stage", ""]
    if options.get("command"):
        out += ["Command:", "", "```bash", str(options["command"]), "```", ""]
    if options.get("wall_seconds") is not None:
        out += [f"Wall time of the last invocation: {float(options['wall_seconds']):.1f} s.", ""]
    out += ["## Results", ""]
    table = results_table(summary)
    out.append("| " + " | ".join(table[0]) + " |")
    out.append("|" + "|".join(" --- " for _ in table[0]) + "|")
    for line in table[1:]:
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |")
    out += [
        "",
        "The paper's numbers are image-level avoidance rates judged by BLIP-2 on SD 2.1 images with GPT-3.5 rewrites; "
        "they are shown for reference, not as a like-for-like comparison.",
        "",
    ]
    out += paper_tables_markdown(summary)
    if "methods" in plots:
        out += [f"![avoidance and score per method]({plots['methods']})", ""]
    out += human_markdown(summary)
    out += ["## Metric definitions", ""] + [f"- {d}" for d in summary.metric_definitions] + [""]
    out += ["## Options", ""]
    shown = {k: v for k, v in options.items() if k not in ("command", "wall_seconds", "instructions", "row_ids")}
    shown.update(failure_score=summary.failure_score, mse_normaliser=summary.mse_normaliser)
    for key in sorted(shown):
        out.append(f"- `{key}`: {_inline(shown[key])}")
    out.append("")
    if options.get("instructions"):
        out += ["## Instructions", ""]
        for name, text in options["instructions"].items():
            out += [f"`{name}`:", "", "```text", str(text).strip(), "```", ""]
    if summary.failures:
        out += [f"## Failed cells ({len(summary.failures)})", ""]
        for f in summary.failures[:50]:
            out.append(f"- {f.row_id} / {f.method} / seed {f.seed}: {f.error}")
        if len(summary.failures) > 50:
            out.append(f"- … and {len(summary.failures) - 50} more (see summary.json)")
        out.append("")
    if "fit_history" in plots:
        out += ["## Fit history", "", f"![score per step of the fit]({plots['fit_history']})", ""]
    out += ["## Files", "", "- `results.jsonl`: one line per (row, method, seed)", "- `summary.json`: the numbers above",
            *(["- `human_ratings.jsonl`: the human ratings, one line each"] if summary.human is not None else []), "- `index.html`: every row's images or rewrites side by side", ""]
    return "\n".join(out)


def human_markdown(summary: BenchSummary) -> list[str]:
    """The human evaluation's section (``promptlearn ui``'s ratings in the folder), if any."""
    from .human import HUMAN_DEFINITIONS, RATINGS_FILE

    human = summary.human
    if human is None:
        return []
    raters = sorted({r for line in human.lines.values() for r in [line.raters]})
    out = ["## Human evaluation", "",
           f"From `{RATINGS_FILE}` (rated in `promptlearn ui`); columns H-avoidance % and H-similarity above. "
           f"Ratings per method: {', '.join(f'{m} {line.ratings}' for m, line in human.lines.items()) or 'none current'}"
           f" (up to {max(raters, default=0)} raters per method).", ""]
    if human.stale:
        out += [f"{human.stale} rating(s) left out: their image was made again (or removed) after it was rated.", ""]
    return out + [f"- {d}" for d in HUMAN_DEFINITIONS] + [""]


def paper_tables_markdown(summary: BenchSummary) -> list[str]:
    """The paper's Tables 1–3 (and 4–5: the ``--compare`` fit runs) laid out as the paper does,
    with its published avoidance beside ours; a table with fewer than two of its methods run is
    left out."""
    from .paper import FIT_RUN_TABLES, PAPER_TABLES

    ran = {m.method: m for m in summary.methods}
    similarity = summary.to_json().get("similarity", "")
    header = ["paper's row", "method", "avoidance % (ours, mean ± std)", f"score (ours, {similarity})", "paper avoidance %"]
    tables: list[tuple[str, str, list[tuple[str, str]]]] = [(t.title, t.note, list(t.rows)) for t in PAPER_TABLES]
    compare = summary.options.get("compare") or {}
    if compare:
        tables.append((FIT_RUN_TABLES, "Table 4 (w/o history, w/o batching) and Table 5 (epochs): each fit run's learned "
                       "instruction, rewritten and sampled like TIN", [(f"{name} ({source})", name) for name, source in compare.items()]))
    out: list[str] = []
    for title, note, rows in tables:
        present = [(label, method) for label, method in rows if method in ran]
        if len(present) < min(2, len(rows)):  # TIN alone does not make Table 2 or 3
            continue
        out += [f"### {title}", "", note + ".", "", "| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
        for label, method in present:
            line = ran[method]
            published = PAPER_AVOIDANCE.get(method)
            paper_cell = f"{published[1]:.1f}" if published and title != FIT_RUN_TABLES else ""
            cells = [label, method, line.summary.avoidance.format(100.0, 1), line.summary.score.format(1.0, 3), paper_cell]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
    if out:
        out = ["## The paper's tables", "",
               "Published numbers: the ORES paper (Ni et al., AAAI 2024), machine evaluation (BLIP-2 on SD 2.1 images, "
               "GPT-3.5 rewrites); blank where the project has no published number it is sure of.", ""] + out
    return out


def _inline(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return f"`{text}`" if len(text) < 200 else f"`{text[:197]}...`"


# ---- the HTML page -----------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1600px}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:14px}
th{background:#f3f3f3}
.grid td{text-align:center;max-width:220px;font-size:13px}
.grid img{width:200px;height:auto;display:block;margin:auto}
.cap{font-size:12px;color:#444;max-width:200px;margin:4px auto;word-wrap:break-word}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
h3{margin-bottom:0.2em}.q{color:#555;margin-top:0}
"""


def render_html(summary: BenchSummary, records: Sequence[Mapping[str, Any]], *, plots: Mapping[str, str]) -> str:
    esc = html.escape
    stage = summary.stage
    table = results_table(summary)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>ORES benchmark — {esc(stage)} stage</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>ORES benchmark — {esc(stage)} stage</h1>",
    ]
    if summary.options.get("command"):
        parts.append(f"<p><code>{esc(str(summary.options['command']))}</code></p>")
    parts.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in table[0]) + "</tr>")
    for line in table[1:]:
        parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in line) + "</tr>")
    parts.append("</table>")
    parts.append("<ul>" + "".join(f"<li>{esc(d.replace('**', ''))}</li>" for d in summary.metric_definitions) + "</ul>")
    for key, alt in (("methods", "avoidance and score per method"), ("fit_history", "score per step of the fit")):
        if key in plots:
            parts.append(f'<p><img src="{esc(plots[key])}" alt="{alt}"></p>')
    methods = [m.method for m in summary.methods]
    parts.append("<h2>Rows</h2>")
    parts.extend(summary.kind.html_rows(methods, records))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _verdict(record: Mapping[str, Any]) -> str:
    if record.get("status") != "ok":
        return f'<span class="bad">failed</span>: {html.escape(str(record.get("error", "")))}'
    word = '<span class="ok">avoided</span>' if record.get("avoided") else '<span class="bad">concept present</span>'
    if record.get("mse") is not None:
        return f"{word}, MSE {float(record['mse']):.4f}"
    if record.get("similarity") is not None:
        return f"{word}, similarity {float(record['similarity']):.3f}"
    return word


def _by_row(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, dict[tuple[str, Any], Mapping[str, Any]]], dict[str, Mapping[str, Any]]]:
    by_row: dict[str, dict[tuple[str, Any], Mapping[str, Any]]] = {}
    heads: dict[str, Mapping[str, Any]] = {}
    for record in records:
        by_row.setdefault(str(record["row_id"]), {})[(record["method"], record.get("seed"))] = record
        heads.setdefault(str(record["row_id"]), record)
    return by_row, heads


# ---- writing everything --------------------------------------------------------------------------
def write_reports(
    folder: str | Path,
    options: ReportOptions = ReportOptions(),
    *,
    fit_run: str | Path | None = None,
    wall_seconds: float | None = None,
) -> BenchSummary:
    """Write ``summary.json``, ``report.md``, ``index.html`` and ``plots/`` into ``folder``;
    returns the summary. ``wall_seconds`` (of the invocation that wrote it) is shown."""
    root = Path(folder)
    summary = build_summary(root, options)
    if wall_seconds is not None:
        summary.options = {**summary.options, "wall_seconds": round(wall_seconds, 1)}
    plots: dict[str, str] = {}
    if plot_methods([m.summary for m in summary.methods], root / PLOTS_DIR / "methods.png", score_label=summary.kind.score_label) is not None:
        plots["methods"] = f"{PLOTS_DIR}/methods.png"
    if fit_run is not None and plot_fit_history(fit_run, root / PLOTS_DIR / "fit_history.png") is not None:
        plots["fit_history"] = f"{PLOTS_DIR}/fit_history.png"
    summary.plots = plots
    atomic_write_json(root / "summary.json", _json_safe(summary.to_json()))
    atomic_write_text(root / "report.md", render_markdown(summary, plots=plots))
    atomic_write_text(root / "index.html", render_html(summary, current_records(root, summary.options), plots=plots))
    return summary


def _json_safe(value: Any) -> Any:
    """NaN (a method without cells) becomes null in JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
