"""What generated code is made from: the request's parameters and the upstream outputs.

This module turns the loosely shaped inputs of CREATE_PROJECT and GENERATE_CODE (a project
slug, requested dependencies, upstream task outputs keyed by task id) into validated values
the renderers can rely on: the project's package name and title, the upstream portfolio
analysis (checked field by field), an upstream report structure and earlier GENERATE_CODE
results. Everything here is pure and deterministic: upstream mappings are walked in sorted
key order and there are no clocks.

Upstream outputs are untrusted text: strings from them are kept verbatim here (a portfolio
may really be called ``O'Brien "Growth"``) and only ever reach generated source through the
escaping filters of :mod:`tasks.workspace.codegen_env`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.errors import InvalidInputError
from tasks.portfolio.analysis_models import weights_by_symbol

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
#: A PEP 508 distribution name; only names of this shape are written into pyproject.toml
#: (as a comment), so a hostile "dependency" can never break out of the TOML line.
_DISTRIBUTION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
_MAX_SYMBOL_LENGTH = 64


# --- request parameters ----------------------------------------------------------------------


def package_name(slug: str) -> str:
    """The Python package of a project slug: dashes become underscores.

    A slug may start with a digit, which no Python identifier may; such slugs get a ``p_``
    prefix so the package stays importable.
    """
    pkg = slug.replace("-", "_")
    return f"p_{pkg}" if pkg[0].isdigit() else pkg


def title_of(slug: str) -> str:
    """A human title for a slug: ``my-trading-bot`` -> ``My Trading Bot``."""
    words = [w for w in re.split(r"[-_]+", slug) if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or slug


def split_dependencies(dependencies: Sequence[str]) -> tuple[list[str], list[str]]:
    """(valid distribution names, everything else), each sorted and de-duplicated."""
    valid = sorted({d for d in dependencies if _DISTRIBUTION_NAME.match(d)})
    other = sorted({d for d in dependencies if not _DISTRIBUTION_NAME.match(d)})
    return valid, other


def check_slug(value: str, what: str) -> str:
    """``value`` itself if it is a slug; ``what`` names the parameter in the error."""
    if not _SLUG.match(value):
        raise InvalidInputError(
            f"{what} {value!r} is not a slug (^[a-z0-9][a-z0-9_-]{{0,63}}$)", **{what: value}
        )
    return value


def unknown(kind: str, value: str, valid: Sequence[str]) -> InvalidInputError:
    """The error for a ``kind`` parameter (template, file_type, ...) outside ``valid``."""
    return InvalidInputError(
        f"unknown {kind} {value!r}; valid: {', '.join(valid)}",
        **{kind: value, "valid": list(valid)},
    )


def check_choices(kind: str, given: Sequence[str], valid: Sequence[str]) -> list[str]:
    """``given`` sorted and de-duplicated; :func:`unknown` for a value not in ``valid``."""
    for value in given:
        if value not in valid:
            raise unknown(kind, value, valid)
    return sorted(set(given))


# --- upstream outputs ------------------------------------------------------------------------


def _candidates(upstream: Mapping[str, Any] | None) -> list[tuple[str, Mapping[str, Any]]]:
    """Every mapping among the upstream outputs and one level inside them, in key order.

    One level of nesting is searched because handlers may wrap their model in an envelope
    (``{"analysis": {...}}``); deeper structures are not guessed at.
    """
    found: list[tuple[str, Mapping[str, Any]]] = []
    for task_id in sorted(upstream or {}, key=str):
        output = (upstream or {})[task_id]
        if not isinstance(output, Mapping):
            continue
        found.append((str(task_id), output))
        for key in sorted(output, key=str):
            inner = output[key]
            if isinstance(inner, Mapping):
                found.append((f"{task_id}.{key}", inner))
    return found


def _is_analysis(candidate: Mapping[str, Any]) -> bool:
    return isinstance(candidate.get("positions"), list) and (
        isinstance(candidate.get("risk"), Mapping) or isinstance(candidate.get("drawdown"), Mapping)
    )


def find_analysis(upstream: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The first upstream output shaped like a PortfolioAnalysis dump, if any."""
    for _, candidate in _candidates(upstream):
        if _is_analysis(candidate):
            return candidate
    return None


def _section_name(entry: Any) -> str | None:
    if isinstance(entry, Mapping):
        # Structures from elsewhere than ANALYZE_CONTEXT: accept {"name": ...} entries too.
        keys = [k for k in ("name", "id", "title") if isinstance(entry.get(k), str)]
        entry = entry[keys[0]] if keys else None
    if not isinstance(entry, str) or not entry.strip():
        return None
    return entry.strip()


def find_report_sections(upstream: Mapping[str, Any] | None) -> list[str] | None:
    """The ``sections`` of an upstream report structure, if any.

    ANALYZE_CONTEXT's report requirements are skipped here: the renderer reads them typed
    (``upstream.find_model(ReportRequirements, ...)``). Otherwise, entries are strings (or
    objects with a string ``name``/``id``/``title``); anything else is skipped, and a
    structure with no usable entry means the default sections.
    """
    typed = {  # outputs that are ReportRequirements dumps
        str(task_id)
        for task_id, output in (upstream or {}).items()
        if isinstance(output, Mapping) and output.get("analysis_type") == "report_requirements"
    }
    for where, candidate in _candidates(upstream):
        if where in typed or any(where.startswith(f"{t}.") for t in typed):
            continue
        sections = candidate.get("sections")
        if not isinstance(sections, list) or _is_analysis(candidate):
            continue
        names = [name for name in map(_section_name, sections) if name is not None]
        # Keep the requested order (it is the report's order) but drop repeats.
        if names:
            return list(dict.fromkeys(names))
    return None


@dataclass(frozen=True)
class CodeOutput:
    """What an earlier GENERATE_CODE task reported: its code type and the files it wrote."""

    source: str
    code_type: str | None
    file_type: str | None
    features: tuple[str, ...]
    files: tuple[str, ...]


def find_code_outputs(upstream: Mapping[str, Any] | None) -> list[CodeOutput]:
    """Every upstream output carrying ``files: list[str]`` (earlier GENERATE_CODE results)."""
    outputs: list[CodeOutput] = []
    for where, candidate in _candidates(upstream):
        files = candidate.get("files")
        # CREATE_PROJECT outputs list files too, but those are the template's, not code.
        if not isinstance(files, list) or "template" in candidate:
            continue
        names = tuple(sorted({f for f in files if isinstance(f, str) and f}))
        features = candidate.get("features")
        outputs.append(
            CodeOutput(
                source=where,
                code_type=_str_or_none(candidate.get("code_type")),
                file_type=_str_or_none(candidate.get("file_type")),
                features=tuple(
                    sorted({f for f in features if isinstance(f, str)})
                    if isinstance(features, list)
                    else ()
                ),
                files=names,
            )
        )
    return outputs


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- portfolio analysis ----------------------------------------------------------------------


def _number(value: Any, where: str) -> float | None:
    """A finite float, None when absent; anything else is an invalid analysis."""
    if value is None:
        return None
    # bool is an int subclass: True is not a weight.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"portfolio analysis: {where} must be a finite number", field=where)
    return float(value)


def _symbol(value: Any, where: str) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > _MAX_SYMBOL_LENGTH
        or not value.isprintable()
    ):
        raise InvalidInputError(
            f"portfolio analysis: {where} must be a printable string of 1-"
            f"{_MAX_SYMBOL_LENGTH} characters",
            field=where,
        )
    return value


def _section(analysis: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = analysis.get(key)
    return value if isinstance(value, Mapping) else {}


def analysed_weights(analysis: Mapping[str, Any]) -> dict[str, float]:
    """Symbol -> summed weight of its positions (validating every position).

    The sum is ``analysis_models.weights_by_symbol``'s, as for a typed analysis.
    """
    positions = analysis.get("positions")
    if not isinstance(positions, list):
        raise InvalidInputError("portfolio analysis: positions must be a list")
    pairs: list[tuple[str, float]] = []
    for i, position in enumerate(positions):
        if not isinstance(position, Mapping):
            raise InvalidInputError(f"portfolio analysis: positions[{i}] must be an object")
        symbol = _symbol(position.get("symbol"), f"positions[{i}].symbol")
        pairs.append((symbol, _number(position.get("weight"), f"positions[{i}].weight") or 0.0))
    return weights_by_symbol(pairs)


def analysed_risk(analysis: Mapping[str, Any]) -> tuple[float | None, float | None, str | None]:
    """(volatility, max drawdown, top symbol), each None when absent."""
    volatility = _number(_section(analysis, "risk").get("volatility"), "risk.volatility")
    max_drawdown = _number(
        _section(analysis, "drawdown").get("max_drawdown"), "drawdown.max_drawdown"
    )
    top = _section(analysis, "concentration").get("top_symbol")
    return (
        volatility,
        max_drawdown,
        _symbol(top, "concentration.top_symbol") if top is not None else None,
    )


def check_analysis(analysis: Mapping[str, Any]) -> None:
    """Raise InvalidInputError unless the fields the templates read are well formed.

    Symbols must be printable strings (they end up in CSV cells, literals and headings)
    and figures finite numbers (no literal exists for NaN in every language we write).
    """
    analysed_weights(analysis)
    analysed_risk(analysis)
