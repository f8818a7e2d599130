"""Reading a user's preferences: keys normalised, words mapped to enums, the rest recorded.

Pure. Preferences come from the goal (``--pref KEY=VALUE``, the spec's
``userPreferences``) in either spelling (``reportFormat`` or ``report_format``); a value
that maps to nothing is recorded as an :class:`Omission`, never guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from orchestrator.models.goal import PreferenceValue
from orchestrator.models.params import ReportFormat
from tasks.assistant.requirements_models import (
    Audience,
    AudienceChoice,
    DetailLevel,
    FormatChoice,
    Omission,
)

_AUDIENCE_WORDS: dict[str, Audience] = {
    "investor": Audience.INVESTOR,
    "me": Audience.INVESTOR,
    "self": Audience.INVESTOR,
    "personal": Audience.INVESTOR,
    "advisor": Audience.ADVISOR,
    "adviser": Audience.ADVISOR,
    "analyst": Audience.ADVISOR,
    "professional": Audience.ADVISOR,
    "executive": Audience.EXECUTIVE,
    "board": Audience.EXECUTIVE,
    "management": Audience.EXECUTIVE,
}
_DETAIL_WORDS: dict[str, DetailLevel] = {
    "summary": DetailLevel.SUMMARY,
    "brief": DetailLevel.SUMMARY,
    "short": DetailLevel.SUMMARY,
    "standard": DetailLevel.STANDARD,
    "normal": DetailLevel.STANDARD,
    "detailed": DetailLevel.DETAILED,
    "full": DetailLevel.DETAILED,
    "deep": DetailLevel.DETAILED,
}
_AUDIENCE_DETAIL: dict[Audience, DetailLevel] = {
    Audience.INVESTOR: DetailLevel.STANDARD,
    Audience.ADVISOR: DetailLevel.DETAILED,
    Audience.EXECUTIVE: DetailLevel.SUMMARY,
}
_FORMAT_WORDS: dict[str, ReportFormat] = {
    "html": ReportFormat.HTML,
    "pdf": ReportFormat.PDF,
    "json": ReportFormat.JSON,
    "markdown": ReportFormat.MARKDOWN,
    "md": ReportFormat.MARKDOWN,
}
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def normalise_preferences(
    prefs: Mapping[str, PreferenceValue],
) -> dict[str, PreferenceValue]:
    """Preference keys in snake_case (``reportFormat`` -> ``report_format``), sorted."""
    out: dict[str, PreferenceValue] = {}
    for key in sorted(prefs):
        out[_CAMEL.sub(r"_\1", key).lower().replace("-", "_")] = prefs[key]
    return out


def pref_words(value: PreferenceValue | None) -> list[str]:
    """A preference value as lower-case words (a list value gives several)."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [str(item).strip().lower() for item in items if str(item).strip()]


def choose_audience(
    prefs: Mapping[str, PreferenceValue], omitted: list[Omission]
) -> AudienceChoice:
    """Audience from ``audience``; detail from ``detail_level``/``analysis_depth``, else default."""
    audience, reasons = Audience.INVESTOR, ["no audience preference: the investor themself"]
    for word in pref_words(prefs.get("audience")):
        if word in _AUDIENCE_WORDS:
            audience, reasons = _AUDIENCE_WORDS[word], [f"preference audience={word}"]
            break
        omitted.append(Omission(what=f"preference audience={word}", reason="not an audience"))
    level = _AUDIENCE_DETAIL[audience]
    reasons.append(f"the default detail for an {audience.value} is {level.value}")
    for key in ("detail_level", "analysis_depth"):
        for word in pref_words(prefs.get(key)):
            if word in _DETAIL_WORDS:
                level = _DETAIL_WORDS[word]
                reasons[-1] = f"preference {key}={word}"
                return AudienceChoice(
                    audience=audience, detail_level=level, reason="; ".join(reasons)
                )
            omitted.append(Omission(what=f"preference {key}={word}", reason="not a detail level"))
    return AudienceChoice(audience=audience, detail_level=level, reason="; ".join(reasons))


def choose_formats(
    prefs: Mapping[str, PreferenceValue], omitted: list[Omission]
) -> list[FormatChoice]:
    """The preferred formats first (``report_format``), then HTML and JSON."""
    chosen: dict[ReportFormat, str] = {}
    for word in pref_words(prefs.get("report_format")):
        if word in _FORMAT_WORDS:
            chosen.setdefault(_FORMAT_WORDS[word], f"preference report_format={word}")
        else:
            omitted.append(
                Omission(what=f"preference report_format={word}", reason="not a report format")
            )
    chosen.setdefault(ReportFormat.HTML, "HTML carries every section and chart")
    chosen.setdefault(ReportFormat.JSON, "JSON keeps the figures machine-readable")
    if not any(f is ReportFormat.MARKDOWN for f in chosen):
        omitted.append(Omission(what="format markdown", reason="not asked for"))
    return [FormatChoice(format=f, reason=r) for f, r in chosen.items()]
