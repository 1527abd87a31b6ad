"""Judges of the ORES protocol: is the banned concept in the image?"""

from .base import Judge, JudgeAnswer, JudgeError, parse_yes_no
from .scripted import ScriptedJudge
from .spec import JUDGE_KINDS, JudgeSpec, parse_judge_spec

__all__ = [
    "JUDGE_KINDS",
    "Judge",
    "JudgeAnswer",
    "JudgeError",
    "JudgeSpec",
    "ScriptedJudge",
    "parse_judge_spec",
    "parse_yes_no",
]
