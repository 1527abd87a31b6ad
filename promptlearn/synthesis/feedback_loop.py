"""Iterative FABRIC: generate a batch, mark images liked or disliked, generate again with that feedback."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from PIL import Image

from ..errors import InputError
from .interventions.base import Intervention
from .interventions.fabric import Fabric, ImageLike, load_feedback_images
from .sampler import SynthesisResult, Synthesizer

# a judge looks at a round's result and returns (liked, disliked): indices into its images, or images
Judge = Callable[[SynthesisResult], tuple[Sequence[int | ImageLike], Sequence[int | ImageLike]]]


class FeedbackLoop:
    """Rounds of generation for one prompt; feedback accumulates over rounds.

    Round ``r`` uses seeds ``seed + r * batch_size + i`` (``i < batch_size``), so every round shows new
    samples. ``fabric`` holds :class:`Fabric` options (weights, window); ``generate`` holds
    :meth:`Synthesizer.generate` options (steps, guidance, other interventions via ``interventions``).

    >>> loop = FeedbackLoop(synth, "a castle on a hill", batch_size=4)    # doctest: +SKIP
    >>> first = loop.generate()                                           # doctest: +SKIP
    >>> loop.give_feedback(liked=[2], disliked=[0])                       # doctest: +SKIP
    >>> second = loop.generate()                                          # doctest: +SKIP
    """

    def __init__(
        self,
        synthesizer: Synthesizer,
        prompt: str,
        *,
        batch_size: int = 4,
        seed: int = 0,
        fabric: dict[str, Any] | None = None,
        interventions: Sequence[Intervention] = (),
        **generate: Any,
    ):
        if batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {batch_size}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        self.synthesizer = synthesizer
        self.prompt = prompt
        self.batch_size = batch_size
        self.seed = seed
        self.fabric_options = dict(fabric or {})
        self.interventions = list(interventions)
        self.generate_options = generate
        self.liked: list[Image.Image] = []
        self.disliked: list[Image.Image] = []
        self.rounds: list[SynthesisResult] = []

    def generate(self) -> SynthesisResult:
        """Run the next round with all feedback so far; returns (and remembers) its result."""
        first = self.seed + len(self.rounds) * self.batch_size
        fabric = Fabric(self.liked, self.disliked, **self.fabric_options)
        result = self.synthesizer.generate(
            self.prompt,
            seeds=list(range(first, first + self.batch_size)),
            interventions=[*self.interventions, fabric],
            **self.generate_options,
        )
        self.rounds.append(result)
        return result

    def give_feedback(self, *, liked: Sequence[int | ImageLike] = (), disliked: Sequence[int | ImageLike] = ()) -> None:
        """Add liked/disliked images: indices into the last round's images, PIL images or paths."""
        self.liked.extend(self._images(liked))
        self.disliked.extend(self._images(disliked))

    def run(self, rounds: int, judge: Judge) -> list[SynthesisResult]:
        """``rounds`` rounds; after each but the last, ``judge`` gives the feedback."""
        if rounds < 1:
            raise InputError(f"rounds must be >= 1, got {rounds}")
        results = []
        for number in range(rounds):
            results.append(self.generate())
            if number < rounds - 1:
                liked, disliked = judge(results[-1])
                self.give_feedback(liked=liked, disliked=disliked)
        return results

    def _images(self, items: Sequence[int | ImageLike]) -> list[Image.Image]:
        out: list[Image.Image] = []
        for item in items:
            if isinstance(item, int) and not isinstance(item, bool):
                if not self.rounds:
                    raise InputError("feedback by index needs a generated round first")
                images = self.rounds[-1].images
                if not 0 <= item < len(images):
                    raise InputError(f"feedback index {item} out of range: the last round has {len(images)} images")
                out.append(images[item])
            else:
                out.extend(load_feedback_images([item]))
        return out
