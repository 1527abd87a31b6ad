"""Optional experiment tracking of a fit: ``promptlearn fit --track mlflow``.

After the fit, one MLflow run (in MLflow's own store: ``$MLFLOW_TRACKING_URI``, else MLflow's
default local store) gets

1. params: task, recipe, LLM spec, method and the hyper-parameters of the fit's config;
2. metrics per step (MLflow step = the version the step produced): the mini-batch score, the
   validation score where measured, whether the proposal was accepted, the best candidate score;
3. final metrics: validation score, calls, tokens, cost, wall time;
4. texts: the learned and the starting instruction, every step's instructions and candidates
   (steps.json) and the full config (config.json).

MLflow is an optional extra (``pip install 'promptlearn[mlflow]'``); :func:`check_tracker` says
so in one line before any model loads. The config holds no secrets (API keys are never part of
it), so nothing secret reaches the store.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any, Mapping

from .errors import InputError

TRACKERS = ("mlflow",)
INSTALL_HINT = "--track mlflow needs the optional package mlflow: pip install 'promptlearn[mlflow]' (or pip install mlflow)"


def check_tracker(name: str | None) -> None:
    """Refuse an unknown tracker, or mlflow when it is not installed (one line, nothing run)."""
    if name is None:
        return
    if name not in TRACKERS:
        raise InputError(f"--track: unknown tracker {name!r} (known: {', '.join(TRACKERS)})")
    if importlib.util.find_spec("mlflow") is None:
        raise InputError(INSTALL_HINT)


def log_fit(result: Any, config: Mapping[str, Any], *, experiment: str = "promptlearn") -> str:
    """Log a finished fit to MLflow; returns the MLflow run id."""
    import mlflow

    from .optimizer.records import StepRecord

    hyper = dict(config.get("hyper") or {})
    params = {"task": config.get("task"), "recipe": config.get("recipe"), "llm": config.get("llm"), "method": config.get("method")}
    params.update({f"hyper.{k}": v for k, v in hyper.items()})
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"{config.get('task')}-{config.get('recipe')}-seed{hyper.get('seed')}") as run:
        mlflow.log_params({k: ("" if v is None else str(v))[:500] for k, v in params.items()})
        steps = []
        for record in result.steps:
            if isinstance(record, StepRecord):
                version = record.step + 1
                metrics = {"batch_score": record.batch_score}
                if record.val_score is not None:
                    metrics["val_score"] = record.val_score
                if record.accepted is not None:
                    metrics["accepted"] = 1.0 if record.accepted else 0.0
                scored = [c["score"] for c in record.candidates if c.get("score") is not None]
                if scored:
                    metrics["best_candidate_score"] = max(scored)
                mlflow.log_metrics(metrics, step=version)
                steps.append({"step": version, "instruction_before": record.instruction_before, "instruction_after": record.instruction_after,
                              "batch_score": record.batch_score, "val_score": record.val_score, "accepted": record.accepted,
                              "candidates": record.candidates})
            elif getattr(record, "val_score", None) is not None:  # the starting instruction's record
                mlflow.log_metrics({"val_score": record.val_score}, step=0)
        usage = result.usage
        final = {"final_val_score": result.val_score, "calls": usage.calls, "tokens": usage.total_tokens, "wall_time_s": result.wall_time_s}
        if getattr(usage, "cost_usd", None) is not None:
            final["cost_usd"] = usage.cost_usd
        mlflow.log_metrics({k: float(v) for k, v in final.items() if v is not None})
        mlflow.set_tags({"promptlearn.selected_version": str(result.selected_version), "promptlearn.stop_reason": str(result.stop_reason),
                         "promptlearn.scorers": json.dumps(result.scorers)})
        mlflow.log_text(result.instruction + "\n", "instruction.txt")
        if result.initial_instruction is not None:
            mlflow.log_text(result.initial_instruction + "\n", "initial_instruction.txt")
        mlflow.log_text(json.dumps(steps, indent=2, ensure_ascii=False) + "\n", "steps.json")
        mlflow.log_text(json.dumps(dict(config), indent=2, ensure_ascii=False, default=str) + "\n", "config.json")
        return run.info.run_id
