"""The root of every error promptlearn raises on purpose.

The CLI prints ``error: <message>`` for any :class:`PromptlearnError` and exits with
:attr:`PromptlearnError.exit_code`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class PromptlearnError(Exception):
    """An expected failure with a message fit for one line of terminal output."""

    exit_code = 2


class InputError(PromptlearnError, ValueError):
    """A user-supplied value (file, flag, model path, dataset row) is wrong."""


class DataFileError(InputError):
    """A dataset or config file is malformed; the message names the file and line."""

    def __init__(self, path: object, line: int | None, problem: str):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem
