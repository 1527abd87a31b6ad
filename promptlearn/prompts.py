"""Prompt templates (jinja2). Built-in templates ship in ``promptlearn.templates``; a user folder
given with ``--templates`` is searched first, so any template can be overridden by name.

User-supplied text (queries, concepts, model outputs) enters a template only through the
``field`` filter, which puts it inside a clearly delimited block that the text itself cannot
close: ``{{ query | field("query") }}`` renders ``<query>\n...\n</query>``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import jinja2
from jinja2 import meta

from .errors import InputError



def _builtin_dir() -> Path:
    from . import templates  # the package mapped to the top-level templates/ folder

    return Path(templates.__file__).resolve().parent


_TAG = re.compile(r"<(/?)([A-Za-z_][A-Za-z0-9_\-]*)>")


def field(value: Any, name: str) -> str:
    """Delimit user text as data. Tag-like sequences inside the text are defused (``<x>`` ->
    ``‹x›``) so the text cannot close its own field or open another one."""
    text = str(value)
    text = _TAG.sub(lambda m: f"‹{m.group(1)}{m.group(2)}›", text)
    return f"<{name}>\n{text}\n</{name}>"


class PromptLibrary:
    """Loads and renders templates by name (e.g. ``"optimizer/update.j2"``)."""

    def __init__(self, user_dir: str | os.PathLike[str] | None = None, inline: Mapping[str, str] | None = None):
        loaders: list[jinja2.BaseLoader] = []
        if inline:
            loaders.append(jinja2.DictLoader(dict(inline)))
        if user_dir is not None:
            folder = Path(user_dir).expanduser()
            if not folder.is_dir():
                raise InputError(f"templates folder not found: {folder}")
            loaders.append(jinja2.FileSystemLoader(str(folder)))
        loaders.append(jinja2.FileSystemLoader(str(_builtin_dir())))
        self.user_dir = Path(user_dir) if user_dir is not None else None
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            # kept so that an exact template (a recipe's word-for-word prompt ending in a newline
            # or a space) renders exactly with strip=False; render() strips by default
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["field"] = field

    def render(self, name: str, /, *, strip: bool = True, **context: Any) -> str:
        """The rendered template, surrounding whitespace stripped unless ``strip=False`` (a
        recipe whose prompts are reproduced character for character, e.g. ``paper``)."""
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise InputError(f"prompt template not found: {name}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(f"prompt template {exc.filename or name}:{exc.lineno}: {exc.message}") from None
        try:
            text = template.render(**context)
            return text.strip() if strip else text
        except jinja2.UndefinedError as exc:
            raise InputError(f"prompt template {name}: {exc.message}") from None

    def check(self, name: str, variables: Iterable[str]) -> None:
        """Check, before any model is loaded, that template ``name`` exists, parses and uses no
        variable outside ``variables`` (those its caller renders it with). Raises
        :class:`InputError` naming the template and the undefined variables."""
        source = self.source(name)
        try:
            parsed = self.env.parse(source, name=name)
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(f"prompt template {exc.filename or name}:{exc.lineno}: {exc.message}") from None
        known = set(variables) | set(self.env.globals)
        undefined = sorted(meta.find_undeclared_variables(parsed) - known)
        if undefined:
            listed = ", ".join(sorted(set(variables))) or "none"
            raise InputError(
                f"prompt template {name} uses undefined variable(s) {', '.join(undefined)}; it can use: {listed}"
            )

    def check_all(self, templates: Mapping[str, Iterable[str]]) -> None:
        """:meth:`check` every ``{name: variables}``."""
        for name, variables in templates.items():
            self.check(name, variables)

    def source(self, name: str) -> str:
        """The template's text, for recording in a run's config (so a changed template is noticed)."""
        try:
            source, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        except jinja2.TemplateNotFound:
            raise InputError(f"prompt template not found: {name}") from None
        return source
