"""Sampler interventions: one algorithm per module, all built on :class:`~.base.Intervention`."""

from .base import BatchLayout, BranchNoise, ExtraRows, Intervention, RunSettings, StepInfo, classifier_free_guidance
from .blacklist import Blacklist, remove_concepts
from .fabric import Fabric, FabricAttnProcessor, load_feedback_images
from .negative_prompt import NegativePrompt
from .prompt_switch import PromptSwitch, resolve_switch_step
from .sld import SLD_PRESETS, SafeLatentDiffusion, SLDConfig

__all__ = [
    "BatchLayout",
    "Blacklist",
    "BranchNoise",
    "ExtraRows",
    "Fabric",
    "FabricAttnProcessor",
    "Intervention",
    "NegativePrompt",
    "PromptSwitch",
    "RunSettings",
    "SLDConfig",
    "SLD_PRESETS",
    "SafeLatentDiffusion",
    "StepInfo",
    "classifier_free_guidance",
    "load_feedback_images",
    "remove_concepts",
    "resolve_switch_step",
]
