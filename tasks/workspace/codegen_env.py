"""The Jinja2 environment generated code is rendered with, and its encoding filters.

Template layout: ``templates/projects/<template>/`` and ``templates/code/<code_type>/...``
hold ``*.j2`` files whose path (minus ``.j2``) is the output path; ``__pkg__`` in a path is
the project's Python package and a ``dot-`` prefix on a path segment becomes ``.`` (so no
template is a hidden file that packaging might drop). A path segment starting with one
``_`` (``projects/_python/``, ``_macros.j2``) is a shared base or macro file, only ever
extended or imported by other templates.

Generated code is not HTML, so autoescaping is off; instead every ``{{ ... }}`` output must
be a value already encoded for its destination (the ``py``, ``js``, ``md``, ``mddoc`` and
``code`` filters, ``rendered`` for our own macros' output, or a value trusted by
construction such as a validated slug, wrapped in :class:`Code`). The environment's
``finalize`` refuses any other string, so a template that forgets to escape an upstream
value fails to render instead of letting that value inject code.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from tasks.errors import InvalidInputError
from tasks.workspace.codegen_inputs import package_name, title_of

#: Relative POSIX path -> file text.
RenderedFiles = dict[str, str]

_TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
#: Largest string the markdown filter shows; README context values are summaries.
_MD_MAX_CHARS = 500

# --- encoding filters ------------------------------------------------------------------------


class Code(str):
    """Text already encoded for the place it is inserted, or trusted by construction."""

    __slots__ = ()


def _finalize(value: Any) -> Any:
    # Ints print the same in every language we generate; everything else must have been
    # encoded by a filter (or be a Code value built from validated input).
    if isinstance(value, Code) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(
        f"template bug: unencoded {type(value).__name__} {value!r:.60} interpolated; "
        "pass it through the py/js/md/code filter"
    )


def _py_literal(value: Any) -> str:
    """A Python literal that evaluates to ``value`` (plain data only, never code)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"cannot generate a literal for the number {value!r}")
        return repr(value)
    if isinstance(value, str):
        # repr escapes quotes, backslashes, newlines and unprintables: always one literal.
        text = repr(str(value))
        if text[0] == "'" and value.count('"') <= value.count("'"):
            # Formatter style: double quotes unless that needs more escapes. In a
            # single-quoted repr every ' is escaped and no " is, so swapping is exact.
            text = '"' + text[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'
        return text
    if isinstance(value, tuple):
        items = [_py_literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_py_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return (
            "{" + ", ".join(f"{_py_literal(k)}: {_py_literal(v)}" for k, v in value.items()) + "}"
        )
    raise InvalidInputError(f"cannot generate a Python literal for a {type(value).__name__}")


def _py(value: Any) -> Code:
    return Code(_py_literal(value))


def js_literal(value: Any, indent: int | None = None) -> Code:
    """A JSON text, which is also a valid JavaScript expression (ASCII only, so U+2028 and
    friends are escaped too)."""
    try:
        return Code(json.dumps(value, ensure_ascii=True, allow_nan=False, indent=indent))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"cannot generate a JSON literal: {exc}") from exc


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#!])")


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _md_inline(text: str) -> str:
    """One line of Markdown text: whitespace runs become one space, markup is escaped."""
    # Lone surrogates cannot be written as UTF-8; control characters would break the line.
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = re.sub(r"\s+", " ", "".join(c if c.isprintable() else " " for c in text))
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md(value: Any) -> Code:
    """Inline Markdown text: one line, markup characters escaped, length capped."""
    text = " ".join(_plain(value).split())
    if len(text) > _MD_MAX_CHARS:
        text = text[: _MD_MAX_CHARS - 1] + "…"
    return Code(_md_inline(text))


def _code(value: Any) -> Code:
    """Inline Markdown code: a fence longer than any backtick run inside."""
    text = " ".join(_plain(value).encode("utf-8", "replace").decode("utf-8").split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Code(f"{fence}{pad}{text}{pad}{fence}")


_CODE_SPAN = re.compile(r"``(.+?)``|`([^`]+)`")


def _md_doc(value: Any) -> Code:
    """A docstring paragraph as Markdown: its ``code`` spans kept as code, the rest escaped."""
    text, parts, last = " ".join(_plain(value).split()), [], 0
    for match in _CODE_SPAN.finditer(text):
        parts += [_md_inline(text[last : match.start()]), _code(match.group(1) or match.group(2))]
        last = match.end()
    parts.append(_md_inline(text[last:]))
    return Code("".join(parts))


def _rendered(value: Any) -> Code:
    """Output of one of our macros: its own interpolations already went through finalize."""
    if not isinstance(value, str):
        raise TypeError(f"rendered expects macro output, got {type(value).__name__}")
    return Code(value)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(_TEMPLATES_DIR)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 -- code, not HTML: values go through py/js/md filters
        finalize=_finalize,
    )
    env.filters.update(py=_py, js=js_literal, md=_md, code=_code, mddoc=_md_doc, rendered=_rendered)
    return env


_ENV = _environment()


# --- tree rendering --------------------------------------------------------------------------


def _is_shared(relative: str) -> bool:
    """Macros and bases (``_name``) are only included by other templates, never rendered.

    Dunder names (``__init__.py``, ``__pkg__``) are ordinary output paths.
    """
    return any(p.startswith("_") and not p.startswith("__") for p in relative.split("/"))


def _output_path(relative: str, pkg: str) -> str:
    parts = relative.removesuffix(".j2").split("/")
    parts = ["." + p[4:] if p.startswith("dot-") else p for p in parts]
    return "/".join(parts).replace("__pkg__", pkg)


def render_layers(
    layers: Sequence[str],
    values: Mapping[str, Any],
    *,
    pkg: str,
    keep: Callable[[str], bool] = lambda _: True,
) -> RenderedFiles:
    """Render every ``.j2`` file of the layers; ``keep`` sees the relative template path."""
    chosen: dict[str, str] = {}
    for layer in layers:
        prefix = layer + "/"
        for name in _ENV.list_templates(extensions=["j2"]):
            relative = name[len(prefix) :]
            if name.startswith(prefix) and not _is_shared(relative) and keep(relative):
                chosen[_output_path(relative, pkg)] = name
    files: RenderedFiles = {}
    for path in sorted(chosen):
        try:
            files[path] = _ENV.get_template(chosen[path]).render(values)
        except (TemplateError, TypeError) as exc:
            # A template bug (TypeError: finalize refused an unencoded value), not bad
            # input: surface it loudly with the template's name.
            raise RuntimeError(f"template {chosen[path]} failed to render: {exc}") from exc
    return files


def base_values(name: str) -> dict[str, Any]:
    """The values every template sees: the project's slug, Python package and title."""
    pkg = package_name(name)
    # Slugs, package names and titles hold only [A-Za-z0-9 _-]: safe in any of our formats.
    return {"name": Code(name), "pkg": Code(pkg), "title": Code(title_of(name))}
