"""Readable Markdown from any task output (JSON), for storing what a run learned.

Pure functions. The rendering is generic, so it reads well for outputs whose shape it
has never seen: keys become headings (nested values) or bold labels (scalars), lists of
scalars become bullet lists, lists of records become one bullet per record led by its
name, numbers are formatted for reading. A few keys get a place of honour because they
are what a person wants first: a summary or narrative is put first as plain prose, and
machine-only fields (fingerprints, effect keys) are left out. Size is bounded: long
lists are cut with a note of how many were left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

#: Keys whose string value is prose a reader wants first, in this order.
LEAD_KEYS = ("summary", "headline", "narrative", "conclusion", "description")
#: Keys that only a machine needs; rendering them would bury what matters.
SKIPPED_KEYS = frozenset(
    {"effect_key", "input_fingerprint", "fingerprint", "run_id", "task_id", "sha256"}
)
#: Keys naming a record, tried in this order to lead its bullet.
NAME_KEYS = ("title", "name", "symbol", "label", "topic", "kind", "id")
#: Keys (or their last word) that hold plain fractions in this project's outputs
#: (``tasks.portfolio.analysis_models.Conventions``): shown as percentages.
PERCENT_KEYS = frozenset(
    {"return", "drawdown", "volatility", "weight", "confidence", "contribution"}
    | {"tracking_error", "missing_ratio", "risk_free_rate", "var_confidence"}
    | {"var_historical", "var_parametric", "cvar_historical", "cvar_parametric", "alpha"}
    # Research figures (``tasks.assistant.research_models``): fractions too.
    | {"universe_share", "distance_from_sma", "share"}
)
#: At most this many entries of one list are rendered.
MAX_LIST_ITEMS = 50
#: Deeper nesting is rendered inline, not as further headings.
MAX_HEADING_LEVEL = 6
#: Longest inline rendering of one value.
MAX_INLINE_CHARS = 400


def humanize_key(key: str) -> str:
    """``max_drawdown_pct`` → ``Max drawdown pct``; ``sharpeRatio`` → ``Sharpe ratio``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(key)).replace("_", " ").strip()
    spaced = " ".join(spaced.split())
    if not spaced:
        return "Value"
    words = spaced.split(" ")
    words = [words[0]] + [w if w.isupper() and len(w) > 1 else w.lower() for w in words[1:]]
    return words[0][:1].upper() + words[0][1:] + "".join(" " + w for w in words[1:])


def format_number(value: int | float) -> str:
    """Thousands separators; about four significant figures for fractional numbers."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value) or math.isinf(value):
        return "n/a"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.2f}"
    if magnitude >= 1:
        return f"{value:.4g}" if magnitude < 10 else f"{value:,.2f}"
    return f"{value:.4g}"


def format_scalar(value: Any) -> str:
    """One scalar as text (None is "n/a")."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format_number(value)
    return " ".join(str(value).split())


def is_percent_key(key: str) -> bool:
    """Whether ``key`` names a fraction to show as a percentage (``max_drawdown``: yes)."""
    key = str(key).lower()
    return key in PERCENT_KEYS or key.rsplit("_", 1)[-1] in PERCENT_KEYS


def format_field(key: str, value: Any) -> str:
    """A scalar labelled by ``key``: fractions as percentages, anything else as is."""
    if isinstance(value, float) and math.isfinite(value) and is_percent_key(key):
        return f"{value * 100:.2f} %"
    return format_scalar(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _inline(value: Any) -> str:
    """A compact one-line rendering of any value (for deep or small nested values)."""
    if _is_scalar(value):
        text = format_scalar(value)
    elif isinstance(value, Mapping):
        text = "; ".join(
            f"{humanize_key(k)}: {format_field(k, v) if _is_scalar(v) else _inline(v)}"
            for k, v in value.items()
            if k not in SKIPPED_KEYS
        )
    elif isinstance(value, Sequence):
        text = ", ".join(_inline(v) for v in value)
    else:
        text = str(value)
    if len(text) > MAX_INLINE_CHARS:
        text = text[: MAX_INLINE_CHARS - 3].rstrip() + "..."
    return text


def _record_bullet(record: Mapping[str, Any]) -> str:
    name_key = next((k for k in NAME_KEYS if _is_scalar(record.get(k)) and record.get(k)), None)
    rest = {k: v for k, v in record.items() if k != name_key and k not in SKIPPED_KEYS}
    lead = f"**{format_scalar(record[name_key])}**" if name_key else ""
    detail = _inline(rest) if rest else ""
    if lead and detail:
        return f"- {lead}: {detail}"
    return f"- {lead or detail or 'n/a'}"


def _render_list(items: Sequence[Any], lines: list[str]) -> None:
    shown = items[:MAX_LIST_ITEMS]
    for item in shown:
        if isinstance(item, Mapping):
            lines.append(_record_bullet(item))
        elif _is_scalar(item) and isinstance(item, str) and "\n" in item:
            lines.append("- " + item.strip().replace("\n", "\n  "))
        else:
            lines.append(f"- {_inline(item)}")
    if len(items) > len(shown):
        lines.append(f"- ... and {len(items) - len(shown)} more")


def _render_mapping(value: Mapping[str, Any], level: int, lines: list[str]) -> None:
    keys = [k for k in value if k not in SKIPPED_KEYS and value[k] not in (None, [], {}, "")]
    # Scalars first as a compact list of labelled facts, then the nested parts.
    for key in keys:
        item = value[key]
        if _is_scalar(item) and not (isinstance(item, str) and "\n" in item):
            lines.append(f"- **{humanize_key(key)}:** {format_field(key, item)}")
    for key in keys:
        item = value[key]
        if _is_scalar(item) and not (isinstance(item, str) and "\n" in item):
            continue
        if lines and lines[-1] != "":
            lines.append("")
        if level > MAX_HEADING_LEVEL:
            lines.append(f"**{humanize_key(key)}:** {_inline(item)}")
            continue
        lines.append(f"{'#' * level} {humanize_key(key)}")
        lines.append("")
        _render_value(item, level + 1, lines)


def _render_value(value: Any, level: int, lines: list[str]) -> None:
    if isinstance(value, str):
        lines.append(value.strip())
    elif _is_scalar(value):
        lines.append(format_scalar(value))
    elif isinstance(value, Mapping):
        _render_mapping(value, level, lines)
    elif isinstance(value, Sequence):
        _render_list(value, lines)
    else:
        lines.append(str(value))


def render_markdown(value: Any, *, heading_level: int = 2) -> str:
    """Markdown text for ``value`` (a JSON-like output); sections start at ``heading_level``.

    A leading summary string (see ``LEAD_KEYS``) opens the text as prose.
    """
    lines: list[str] = []
    if isinstance(value, Mapping):
        lead = [k for k in LEAD_KEYS if isinstance(value.get(k), str) and value[k].strip()]
        for key in lead:
            lines.extend([value[key].strip(), ""])
        value = {k: v for k, v in value.items() if k not in lead}
    _render_value(value, heading_level, lines)
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
