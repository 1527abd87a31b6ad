"""The root of every error promptlearn raises on purpose, and the one helper that turns any
exception into one line of text.

The CLI prints ``error: <message>`` for any :class:`PromptlearnError` and exits with
:attr:`PromptlearnError.exit_code`; anything else is a bug and keeps its traceback.

Library errors speak the library's language: a message that names an input names the Python
argument, written as a ``{placeholder}`` and declared in ``arguments``::

    raise InputError("{out_dir} {path} is a file; give a folder", arguments="out_dir")

``str(error)`` reads ``out_dir runs/x is a file; give a folder``; the CLI renders the same error
with :meth:`PromptlearnError.render` and its own table of flags (``--out runs/x is a file; ...``),
so the library never needs to know which command-line flag carries which argument.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

#: Longest one-line error text :func:`one_line` returns by default (characters).
MAX_ONE_LINE = 500


class PromptlearnError(Exception):
    """An expected failure with a message fit for one line of terminal output.

    ``arguments`` names the ``{placeholders}`` of ``message`` that stand for arguments of the
    call that failed; see the module docstring."""

    exit_code = 2

    def __init__(self, message: str = "", *args: object, arguments: str | Sequence[str] = ()):
        self.template = str(message)
        self.arguments: tuple[str, ...] = (arguments,) if isinstance(arguments, str) else tuple(arguments)
        super().__init__(self.render(), *args)

    def render(self, name: Callable[[str], str] | None = None) -> str:
        """The message with each declared argument written as ``name(argument)`` (the argument's
        own name by default; the CLI passes a function returning its flag)."""
        text = self.template
        for argument in self.arguments:
            text = text.replace("{" + argument + "}", name(argument) if name is not None else argument)
        return text


class InputError(PromptlearnError, ValueError):
    """A user-supplied value (file, argument, model path, dataset row) is wrong."""


class DataFileError(InputError):
    """A dataset or config file is malformed; the message names the file and line."""

    def __init__(self, path: object, line: int | None, problem: str):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


def one_line(
    error: BaseException | str, *, secrets: Iterable[str] = (), limit: int | None = MAX_ONE_LINE, whole: bool = False
) -> str:
    """One line of text for an exception (or a message): its first non-empty line (all of it
    joined when ``whole``), whitespace collapsed, every string in ``secrets`` replaced by
    ``***``, cut to ``limit`` characters; the exception's type name when its message is empty."""
    text = error if isinstance(error, str) else str(error)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    first = text if whole else next((line for line in text.splitlines() if line.strip()), "")
    first = " ".join(first.split())
    if not first and not isinstance(error, str):
        first = type(error).__name__
    if limit is not None and len(first) > limit:
        first = first[: limit - 3] + "..."
    return first
