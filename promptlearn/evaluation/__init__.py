"""The ORES benchmark: metrics, judges, the resumable harness (image and text stages) and
its reports. See :mod:`promptlearn.evaluation.harness` and ``promptlearn bench``."""

from .cells import CellStore, Rewrite, RewriteStore
from .harness import BenchRun, run_image_bench
from .judges import Judge, JudgeAnswer, JudgeSpec, ScriptedJudge, parse_judge_spec, parse_yes_no
from .metrics import UNIFORM_NOISE_MSE, CellOutcome, MeanStd, MethodSummary, cell_score, mean_std, mse, summarise, visual_similarity
from .protocols import GenerationRequest, ImageGenerator, QueryRewriter
from .report import ReportOptions, build_summary, write_reports
from .rows import parse_seeds
from .text_stage import run_text_bench

__all__ = [
    "BenchRun",
    "CellOutcome",
    "CellStore",
    "GenerationRequest",
    "ImageGenerator",
    "Judge",
    "JudgeAnswer",
    "JudgeSpec",
    "MeanStd",
    "MethodSummary",
    "QueryRewriter",
    "ReportOptions",
    "Rewrite",
    "RewriteStore",
    "ScriptedJudge",
    "UNIFORM_NOISE_MSE",
    "build_summary",
    "cell_score",
    "mean_std",
    "mse",
    "parse_judge_spec",
    "parse_seeds",
    "parse_yes_no",
    "run_image_bench",
    "run_text_bench",
    "summarise",
    "visual_similarity",
    "write_reports",
]
