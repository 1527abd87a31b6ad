"""The values that cross the LLM seam: messages, sampling parameters, requests, completions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InvalidRequestError

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str


class SamplingParams(BaseModel):
    """Every parameter that changes what a model may answer; all of them are in the cache key.

    ``sample_index`` tells apart repeated samples of one prompt: with a seed, the backend is
    asked for seed + sample_index, and the cache keeps the samples apart either way.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, ge=1)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: tuple[str, ...] = ()
    sample_index: int = Field(default=0, ge=0)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_tuple(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        return tuple(value) if value is not None else ()

    @property
    def effective_seed(self) -> int | None:
        """The seed a backend should use: distinct for every sample index."""
        return None if self.seed is None else self.seed + self.sample_index

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class Request:
    """A whole LLM request: what is sent and how it is sampled."""

    messages: tuple[Message, ...]
    params: SamplingParams

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": [m.model_dump() for m in self.messages],
            "params": self.params.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class Completion:
    """One model answer and what it cost.

    ``cost_usd`` is ``None`` when the price of the model is unknown (never a made-up zero);
    a cache hit costs 0.0 and has ``cached=True``.
    """

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_s: float
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Completion":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


MessagesLike = Sequence["Message | Mapping[str, Any]"] | str


def to_messages(messages: MessagesLike) -> tuple[Message, ...]:
    """Validate chat input: a plain string becomes one user message.

    Raises :class:`InvalidRequestError` with one line naming what is wrong.
    """
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if isinstance(messages, (bytes, Mapping)) or not isinstance(messages, Sequence):
        raise InvalidRequestError(
            f"messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}"
        )
    if len(messages) == 0:
        raise InvalidRequestError("messages is empty: send at least one message")
    out: list[Message] = []
    for index, message in enumerate(messages):
        if isinstance(message, Message):
            out.append(message)
            continue
        if not isinstance(message, Mapping):
            raise InvalidRequestError(
                f"message {index} must be a dict with 'role' and 'content', got {type(message).__name__}"
            )
        try:
            out.append(Message.model_validate(dict(message)))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "message"
            raise InvalidRequestError(f"message {index}: {field}: {first['msg']}") from None
    return tuple(out)


def to_params(params: SamplingParams | Mapping[str, Any] | None = None, **overrides: Any) -> SamplingParams:
    """Build validated sampling parameters from a model, a dict and/or keyword overrides."""
    base: dict[str, Any] = {}
    if isinstance(params, SamplingParams):
        base = params.model_dump()
    elif params is not None:
        base = dict(params)
    base.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return SamplingParams.model_validate(base)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "params"
        raise InvalidRequestError(f"sampling parameter {field}: {first['msg']}") from None


def make_request(
    messages: MessagesLike, params: SamplingParams | Mapping[str, Any] | None = None, **overrides: Any
) -> Request:
    return Request(messages=to_messages(messages), params=to_params(params, **overrides))
