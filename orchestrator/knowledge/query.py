"""Free-text queries and snippets (pure functions, no I/O).

A query is reduced to its words (letters and digits; punctuation, quotes and operators
are separators, so no input can break the full-text syntax) and searched as an OR of
them: an item matching more of the words, or matching them in its title, ranks higher.
Stemming is the database's: PostgreSQL's ``english`` configuration, SQLite's porter
tokenizer, so "volatilities" finds "volatility" on both.
"""

from __future__ import annotations

import re

#: Words of a query beyond this many are ignored (a pasted paragraph is not a query).
MAX_QUERY_TERMS = 32
#: Longest snippet, in characters.
SNIPPET_CHARS = 240

_TERM = re.compile(r"[^\W_]+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """The distinct lower-cased words of ``query``, in order, at most ``MAX_QUERY_TERMS``."""
    seen: dict[str, None] = {}
    for term in _TERM.findall(query.lower()):
        seen.setdefault(term, None)
    return list(seen)[:MAX_QUERY_TERMS]


def fts5_match(terms: list[str]) -> str:
    """An FTS5 MATCH expression: the terms quoted (so none is read as an operator), OR-ed."""
    return " OR ".join(f'"{term}"' for term in terms)


def pg_tsquery(terms: list[str]) -> str:
    """Text for ``to_tsquery('english', ...)``: the terms OR-ed (they hold no operators)."""
    return " | ".join(terms)


def plain_text(markdown: str) -> str:
    """Markdown reduced to one line of readable text (for snippets)."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^\s{0,3}#{1,6}\s*", "", text, flags=re.MULTILINE)
    text = re.sub(r"^\s*([-*+]|\d+[.)])\s+", "", text, flags=re.MULTILINE)
    text = re.sub(r"[*`|>]+|(?<!\w)_+|_+(?!\w)", " ", text)  # keep snake_case names whole
    text = re.sub(r"(?m)^\s*:?-{3,}:?\s*$", " ", text)
    return " ".join(text.split())


def _stem_prefix(term: str) -> str:
    # A crude stem, only to place the snippet: "volatilities" -> "volatili".
    return term if len(term) <= 4 else term[: max(4, (len(term) * 7) // 10)]


def make_snippet(body: str, terms: list[str], max_chars: int = SNIPPET_CHARS) -> str:
    """A plain-text excerpt of ``body`` around the first place a query word occurs.

    Falls back to the start of the body when no word occurs literally (for example
    when only the title matched). Cut at word boundaries, with "..." where cut.
    """
    text = plain_text(body)
    if len(text) <= max_chars:
        return text
    lowered = text.lower()
    positions = [
        match.start()
        for term in terms
        if (match := re.search(r"\b" + re.escape(_stem_prefix(term)), lowered))
    ]
    hit = min(positions) if positions else 0
    start = max(0, hit - max_chars // 3)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < hit else start
    end = min(len(text), start + max_chars)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    excerpt = text[start:end].strip()
    return ("..." if start > 0 else "") + excerpt + ("..." if end < len(text) else "")
