"""Instruction-learning tasks: what is predicted from what, and how it is scored."""

from .base import Example, Score, Scorer, Task, strip_output
from .registry import get_task, list_tasks, load_yaml_task, register_task

__all__ = ["Example", "Score", "Scorer", "Task", "get_task", "list_tasks", "load_yaml_task", "register_task", "strip_output"]
