"""Instruction learning: TIN's first stage (the ORES paper's learnable instruction) as a general
optimizer, with the predictor it scores instructions with, baselines, stop conditions and a
resumable run directory."""

from .base import FitResult, Optimizer, OptimizerError
from .baselines import human_instruction, in_context_instruction
from .learner import InstructionLearner, check_fit_data
from .packing import pack_batch
from .parsing import parse_instruction, unusable_reason
from .predictor import Evaluation, Prediction, Predictor, mean_score
from .records import BaselineRecord, FitRecord, InitRecord, PredictionRecord, StepRecord, read_history, record_from_json
from .stopping import AnyOf, MaxCalls, MaxCost, MaxSteps, MaxTokens, NoImprovement, Progress, StopCondition, StopFile, stop_conditions

__all__ = [
    "AnyOf",
    "BaselineRecord",
    "FitRecord",
    "InitRecord",
    "PredictionRecord",
    "StepRecord",
    "read_history",
    "record_from_json",
    "Evaluation",
    "FitResult",
    "InstructionLearner",
    "MaxCalls",
    "MaxCost",
    "MaxSteps",
    "MaxTokens",
    "NoImprovement",
    "Optimizer",
    "OptimizerError",
    "Prediction",
    "Predictor",
    "Progress",
    "StopCondition",
    "StopFile",
    "human_instruction",
    "check_fit_data",
    "in_context_instruction",
    "mean_score",
    "pack_batch",
    "parse_instruction",
    "stop_conditions",
    "unusable_reason",
]
