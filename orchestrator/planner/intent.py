"""Intent matching: which workflow does a goal in plain words ask for? Pure functions.

Text is normalised to lower-case word stems (``normalise``), so "bots", "trading",
"created" match "bot", "trade", "create". A workflow lists concept groups, each a set of
synonyms or phrases; a phrase matches when its stems occur consecutively in the goal.

    score = sum(weight of matched groups) / sum(weight of all groups)

and the score is 0 when a required group is unmatched or an ``exclude`` phrase occurs.
The best-scoring workflow at or above its threshold wins; among equal scores the one
that matched more weight (the more specific) wins; a remaining tie is ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchestrator.planner.workflows import IntentSpec

_TOKEN_RE = re.compile(r"[a-z0-9]+")
_KEEP = frozenset({"this", "has", "was", "is", "us", "as", "news", "series", "analysis"})
_VOWELS = frozenset("aeiouy")


def stem(word: str) -> str:
    """A light suffix stripper: plurals, ``-ing``, ``-ed`` and a final ``e``.

    >>> [stem(w) for w in ("bots", "trading", "trades", "created", "summaries", "running")]
    ['bot', 'trad', 'trad', 'creat', 'summary', 'run']
    """
    if word in _KEEP or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        base = word[: -len(suffix)]
        if word.endswith(suffix) and len(base) >= 3 and _VOWELS & set(base):
            word = base
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]
            break
    if len(word) > 3 and word.endswith("e") and not word.endswith("ee"):
        word = word[:-1]
    return word


def normalise(text: str) -> list[str]:
    """Lower-case word stems of ``text`` ("Analyzed my bots!" -> analyz, my, bot)."""
    text = text.lower().replace("\u2019", "'").replace("'s", "")
    return [stem(token) for token in _TOKEN_RE.findall(text)]


def phrase_key(phrase: str) -> str:
    """A phrase as the padded stem string searched for in a normalised goal."""
    return " " + " ".join(normalise(phrase)) + " "


@dataclass(frozen=True)
class CompiledConcept:
    name: str
    weight: float
    required: bool
    terms: tuple[tuple[str, str], ...]  # (padded stem key, first phrase with that key)


@dataclass(frozen=True)
class CompiledIntent:
    """An :class:`IntentSpec` with every phrase normalised once."""

    workflow_id: str
    concepts: tuple[CompiledConcept, ...]
    exclude: tuple[str, ...]
    threshold: float
    total_weight: float


def compile_intent(workflow_id: str, spec: IntentSpec) -> CompiledIntent:
    concepts = tuple(
        CompiledConcept(
            name=group.name,
            weight=group.weight,
            required=group.required,
            terms=tuple({phrase_key(t): t for t in reversed(group.terms)}.items())[::-1],
        )
        for group in spec.concepts
    )
    return CompiledIntent(
        workflow_id=workflow_id,
        concepts=concepts,
        exclude=tuple(phrase_key(p) for p in spec.exclude),
        threshold=spec.threshold,
        total_weight=sum(c.weight for c in concepts),
    )


@dataclass(frozen=True)
class IntentMatch:
    workflow_id: str
    score: float
    matched_weight: float
    matched_concepts: tuple[str, ...]
    matched_terms: tuple[str, ...]
    excluded: bool = False

    def accepted(self, threshold: float) -> bool:
        return not self.excluded and self.score >= threshold and self.score > 0


def score_intent(goal_key: str, intent: CompiledIntent) -> IntentMatch:
    """Score one workflow against a goal given as ``phrase_key(description)``."""
    concepts: list[str] = []
    terms: list[str] = []
    weight = 0.0
    missing_required = False
    for concept in intent.concepts:
        hits = [term for key, term in concept.terms if key in goal_key]
        if hits:
            concepts.append(concept.name)
            terms.extend(hits)
            weight += concept.weight
        elif concept.required:
            missing_required = True
    excluded = any(key in goal_key for key in intent.exclude)
    score = 0.0 if missing_required or excluded else weight / intent.total_weight
    return IntentMatch(
        workflow_id=intent.workflow_id,
        score=round(score, 4),
        matched_weight=weight,
        matched_concepts=tuple(concepts),
        matched_terms=tuple(terms),
        excluded=excluded,
    )


@dataclass(frozen=True)
class Ranking:
    """All workflows' matches, best first; ``best`` is None when nothing is accepted."""

    matches: tuple[IntentMatch, ...]
    best: IntentMatch | None
    ambiguous: tuple[str, ...] = ()


def rank_workflows(description: str, intents: Iterable[CompiledIntent]) -> Ranking:
    """Match ``description`` against every workflow and pick the winner (see module doc)."""
    goal_key = phrase_key(description)
    scored = [(score_intent(goal_key, intent), intent.threshold) for intent in intents]
    scored.sort(key=lambda m: (-m[0].score, -m[0].matched_weight, m[0].workflow_id))
    matches = tuple(m for m, _ in scored)
    accepted: Sequence[IntentMatch] = [m for m, th in scored if m.accepted(th)]
    if not accepted:
        return Ranking(matches=matches, best=None)
    top = accepted[0]
    tied = tuple(
        m.workflow_id
        for m in accepted
        if m.score == top.score and m.matched_weight == top.matched_weight
    )
    if len(tied) > 1:
        return Ranking(matches=matches, best=None, ambiguous=tied)
    return Ranking(matches=matches, best=top)
