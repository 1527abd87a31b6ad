"""Model spec strings and their valid forms: the layer below both the backends (which name the
valid forms in their errors) and the factory :func:`promptlearn.llm.spec.load_llm` (which
imports the backends). Imports nothing of promptlearn but its errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import UnknownModelSpecError

BackendKind = Literal["local", "transformers", "vllm", "litellm"]

#: The forms a model spec takes; ``{api_base}`` is the argument placeholder of
#: :class:`~promptlearn.errors.PromptlearnError` (declare ``arguments="api_base"`` when quoting it).
VALID_FORMS = (
    "'local' (the embedded SmolLM2-135M-Instruct), 'transformers/<local path or hub id>', "
    "'vllm/<local path or hub id>', or a litellm model such as 'openai/gpt-4o-mini' "
    "('hosted_vllm/<model>' or 'openai/<name>' with {api_base} for your own server)"
)


@dataclass(frozen=True)
class ModelSpec:
    kind: BackendKind
    target: str  # model path, hub id or litellm model string; "" for local

    def __str__(self) -> str:
        return self.kind if self.kind == "local" else f"{self.kind}/{self.target}" if self.kind != "litellm" else self.target


def parse_spec(spec: str) -> ModelSpec:
    """Split a spec into backend kind and target, or raise :class:`UnknownModelSpecError`."""
    text = (spec or "").strip()
    if text == "local":
        return ModelSpec("local", "")
    prefix, sep, rest = text.partition("/")
    if not sep or not prefix or not rest.strip():
        raise UnknownModelSpecError(f"unknown model spec {spec!r}; valid forms: {VALID_FORMS}", arguments="api_base")
    if prefix in ("transformers", "vllm"):
        return ModelSpec(prefix, rest)  # type: ignore[arg-type]
    return ModelSpec("litellm", text)
