"""The web UI (``promptlearn ui``): an administrator's panel, a user's panel with the methods side
by side, FABRIC feedback rounds and a human-evaluation page, on gradio (the ``ui`` extra).

:mod:`promptlearn.ui.studio` holds everything the page does as plain functions (no gradio);
:mod:`promptlearn.ui.app` lays it out (imports gradio)."""

from __future__ import annotations

from ..errors import InputError

INSTALL_HINT = "the web UI needs gradio, which is not installed: pip install 'promptlearn[ui]'"


def require_gradio():
    """gradio, or one :class:`InputError` line saying how to install it."""
    try:
        import gradio
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return gradio
