"""Output filters that judge generated images: a CLIP concept filter (Espresso-style) and diffusers'
Stable Diffusion safety checker, behind one small :class:`ImageFilter` protocol.

``parse_filter_spec("clip:PATH", concepts=[...])`` / ``parse_filter_spec("safety-checker", sd_checkpoint=...)``
build a filter from a CLI ``--filter`` value; the model-loading modules are imported only when needed."""

from .base import ConceptScore, FilterDecision, ImageFilter, to_pil_images
from .spec import parse_filter_spec

__all__ = ["ConceptScore", "FilterDecision", "ImageFilter", "parse_filter_spec", "to_pil_images"]
