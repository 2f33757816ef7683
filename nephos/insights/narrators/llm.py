"""What the model narrators share: fenced prompt, answer cache, model fallback, schema validation,
anonymization and the grounding check, around one abstract :meth:`ModelNarrator.complete`.

A model that is unknown, retired or unavailable (:class:`ModelUnavailable`) makes the narrator
try the next one in the configured list; any other failure is a :class:`NarratorError`. An
answer that does not follow the schema is replaced whole by the template's document; one that
does is checked section by section against the facts (``nephos.insights.grounding``).
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from nephos.errors import ConfigError
from nephos.insights.anonymize import Anonymizer
from nephos.insights.cache import AnswerCache, cache_key
from nephos.insights.documents import ExplanationDoc, SummaryDoc, TrendDoc, json_schema
from nephos.insights.facts import AlertFacts, SummaryFacts, TrendFacts, facts_dict
from nephos.insights.grounding import (
    FactIndex,
    SectionRule,
    ground,
    names_each,
    near,
    states_health,
)
from nephos.insights.narrators.base import Narration, Narrator, NarratorError, Usage
from nephos.insights.narrators.template import summary_document, trend_document
from nephos.insights.narrators.template_explain import explanation
from nephos.insights.prompt import Prompt, build_prompt

__all__ = ["Completion", "ModelNarrator", "ModelUnavailable", "parse_answer"]

D = TypeVar("D", bound=BaseModel)
_FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class ModelUnavailable(NarratorError):
    """This model cannot answer here (unknown, retired, not in this region); try the next."""


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer: its JSON object, who answered, and the tokens it took."""

    answer: dict[str, Any]
    model: str
    usage: Usage | None = None


def parse_answer(text: str) -> dict[str, Any]:
    """A model's text as a JSON object, tolerating a markdown code fence around it.

    Raises:
        NarratorError: the text holds no JSON object.
    """
    candidate = text.strip()
    fenced = _FENCED.search(candidate)
    if fenced:
        candidate = fenced.group(1).strip()
    start, end = candidate.find("{"), candidate.rfind("}")
    try:
        value = json.loads(candidate[start : end + 1] if start >= 0 else candidate)
    except ValueError as exc:
        raise NarratorError(f"the model's answer is not JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise NarratorError("the model's answer is not a JSON object")
    return value


class ModelNarrator(Narrator):
    """A narrator that asks a model, then validates and grounds its answer.

    Args:
        models: the model, then its fallbacks, in order.
        max_tokens: the most tokens an answer may take.
        cache: where answers are reused from, or None (``--no-cache``).
        anonymize: hide names, hosts, addresses and ids from the model.
        hidden_names: more names to hide (every configured target).

    Raises:
        ConfigError: no model is named.
    """

    name: ClassVar[str]

    def __init__(
        self,
        *,
        models: Sequence[str],
        max_tokens: int = 1024,
        cache: AnswerCache | None = None,
        anonymize: bool = False,
        hidden_names: Iterable[str] = (),
    ) -> None:
        if not models:
            raise ConfigError(f"the {self.name} narrator needs a model", path="insights.model")
        self.models = tuple(models)
        self.max_tokens = max_tokens
        self.cache = cache
        self.anonymize = anonymize
        self.hidden_names = tuple(hidden_names)

    @abc.abstractmethod
    async def complete(self, prompt: Prompt, model: str) -> Completion:
        """Ask ``model`` once (with the backend's own retries).

        Raises:
            ModelUnavailable: this model cannot answer here; the next one is tried.
            NarratorError: the backend failed otherwise.
        """

    async def summarize(self, facts: SummaryFacts) -> Narration[SummaryDoc]:
        """The summary, grounded; sections that fail are the template's.

        Raises:
            NarratorError: no model could answer.
        """
        critical = [
            a.target for a in facts.alerts if a.severity == "critical" and a.state == "firing"
        ]
        rules = [
            states_health(facts.score, facts.health),
            names_each("immediate_actions", critical[:5]),
        ]
        return await self._narrate("summary", facts, SummaryDoc, summary_document(facts), rules)

    async def explain(self, facts: AlertFacts) -> Narration[ExplanationDoc]:
        """The explanation, grounded; sections that fail are the template's.

        Raises:
            NarratorError: no model could answer.
        """
        fallback = explanation(facts)
        rules = [
            names_each("what_this_means", [facts.alert.target]),
            near("urgency", fallback.urgency, 3),
        ]
        return await self._narrate("explanation", facts, ExplanationDoc, fallback, rules)

    async def describe_trend(self, facts: TrendFacts) -> Narration[TrendDoc]:
        """The trend analysis, grounded.

        Raises:
            NarratorError: no model could answer.
        """
        return await self._narrate("trend", facts, TrendDoc, trend_document(facts), [])

    async def _ask(self, prompt: Prompt) -> tuple[Completion, bool, list[str], str]:
        tried: list[str] = []
        for model in self.models:
            key = cache_key(model, prompt.system + "\n" + prompt.user)
            stored = self.cache.get(key) if self.cache is not None else None
            if stored is not None:
                return Completion(stored, model), True, tried, key
            try:
                completion = await self.complete(prompt, model)
            except ModelUnavailable as exc:
                tried.append(f"{model}: {exc}")
                continue
            return completion, False, tried, key
        raise NarratorError(
            f"no {self.name} model could answer: " + "; ".join(tried)
            if tried
            else f"the {self.name} narrator has no model"
        )

    async def _narrate(
        self,
        kind: str,
        facts_obj: Any,
        doc_type: type[D],
        fallback: D,
        rules: list[SectionRule],
    ) -> Narration[D]:
        facts = facts_dict(facts_obj)
        hider = Anonymizer(facts, self.hidden_names) if self.anonymize else None
        prompt = build_prompt(kind, hider.hide(facts) if hider else facts, json_schema(kind))
        completion, cached, tried, key = await self._ask(prompt)
        notes = [f"model {t} was skipped" for t in tried]
        answer = hider.restore(completion.answer) if hider else completion.answer
        try:
            document = doc_type.model_validate(answer)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "the answer"
            notes.append(
                f"the model's answer did not follow the schema ({where}: {problem['msg']}); "
                "every section is the template's"
            )
            return Narration(
                fallback, self.name, completion.model, tuple(type(fallback).model_fields),
                tuple(notes), completion.usage, cached,
            )  # fmt: skip
        if self.cache is not None and not cached:
            self.cache.put(key, completion.answer)
        result = ground(document, fallback, FactIndex(facts), rules=rules)
        return Narration(
            result.document, self.name, completion.model, result.replaced,
            tuple(notes) + result.notes, completion.usage, cached,
        )  # fmt: skip
