"""Instruction-learning tasks: what is predicted from what, and how it is scored."""

from .base import Example, Score, Scorer, Task, strip_output

__all__ = ["Example", "Score", "Scorer", "Task", "strip_output"]
