"""Parameter types shared by commands: values the library parses, read from the command line."""

from __future__ import annotations

import click

from ..errors import InputError


class SwitchStepType(click.ParamType):
    """S as the library reads it (:func:`~promptlearn.synthesis.switch_step.parse_switch_step`):
    an int number of sampler steps, or a float fraction of them; used by generate and bench."""

    name = "S"

    def convert(self, value, param, ctx):
        from ..synthesis.switch_step import parse_switch_step

        try:
            return parse_switch_step(value)
        except InputError as exc:
            from .options import flag_for

            self.fail(exc.render(flag_for), param, ctx)
