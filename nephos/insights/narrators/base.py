"""The Narrator base class, the Narration it returns, and NarratorError.

A narrator phrases facts; it computes nothing. ``template`` (the default) writes offline and
deterministically; ``cortex`` and ``openai`` ask a model (``nephos.insights.narrators.llm``)
and have every number checked against the facts, with a failing section replaced by the
template's sentence.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel

from nephos.errors import BackendError
from nephos.insights.documents import ExplanationDoc, SummaryDoc, TrendDoc
from nephos.insights.facts import AlertFacts, SummaryFacts, TrendFacts

__all__ = ["Narration", "Narrator", "NarratorError", "Usage"]

D = TypeVar("D", bound=BaseModel)


class NarratorError(BackendError):
    """A model narrator could not answer: unreachable, refused, or every model failed.

    The message says what to do about it (another model, a privilege, a region setting).
    """


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a model call used, as the backend reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Narration(Generic[D]):
    """A document and how it was written."""

    document: D
    narrator: str
    model: str | None = None
    """The model that answered, for model narrators."""
    replaced: tuple[str, ...] = ()
    """Sections whose model text failed the grounding check and were replaced by the template's."""
    notes: tuple[str, ...] = ()
    """Why, in words: one line per replaced section, a fallback, a cache hit."""
    usage: Usage | None = None
    cached: bool = False

    def meta(self) -> dict[str, object]:
        """How it was written, as JSON-able data for ``--json`` output."""
        return {
            "narrator": self.narrator,
            "model": self.model,
            "replaced_sections": list(self.replaced),
            "notes": list(self.notes),
            "usage": None
            if self.usage is None
            else {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "total_tokens": self.usage.total_tokens,
            },
            "cached": self.cached,
        }


class Narrator(abc.ABC):
    """Turns facts into words for the summary, an alert's explanation and a trend."""

    name: ClassVar[str]
    """The narrator's name in the config (``insights.narrator``)."""

    @abc.abstractmethod
    async def summarize(self, facts: SummaryFacts) -> Narration[SummaryDoc]:
        """The fleet summary.

        Raises:
            NarratorError: a model narrator could not answer.
        """

    @abc.abstractmethod
    async def explain(self, facts: AlertFacts) -> Narration[ExplanationDoc]:
        """The explanation of one alert.

        Raises:
            NarratorError: a model narrator could not answer.
        """

    @abc.abstractmethod
    async def describe_trend(self, facts: TrendFacts) -> Narration[TrendDoc]:
        """The trend of one metric in words.

        Raises:
            NarratorError: a model narrator could not answer.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; idempotent."""
