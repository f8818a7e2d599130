"""Splitting a Markdown or plain-text document into items (pure functions, no I/O).

A document becomes one item per section at its splitting level. A single level-1
heading that opens the document is its title, and the document is split at the highest
level of the remaining headings; otherwise it is split at the highest level present.
Deeper headings stay inside their section. Text before the first section becomes an
item named after the document. Headings inside fenced code blocks are text. A section
longer than ``MAX_ITEM_CHARS`` is cut at paragraph boundaries into numbered parts, so
each item is a readable excerpt of its own and a search can point at it.
"""

from __future__ import annotations

import re

from pydantic import Field

from orchestrator.models.base import StrictModel

#: Items longer than this are cut at paragraph boundaries (about 3,000 words).
MAX_ITEM_CHARS = 20_000
#: Longest item title kept (the database column is 300).
MAX_TITLE_CHARS = 300

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$|^ {0,3}(#{1,6})[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_WORD = re.compile(r"\w+", re.UNICODE)


class Section(StrictModel):
    """One item-to-be: a heading (or the document title) and the Markdown under it."""

    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    body: str
    #: Heading level (1-6); 0 for text before the first heading or a plain-text document.
    level: int = Field(ge=0, le=6)


def word_count(text: str) -> int:
    """Words in ``text`` (runs of letters, digits and underscores)."""
    return len(_WORD.findall(text))


def clean_title(text: str, fallback: str = "Untitled") -> str:
    """A one-line title: Markdown emphasis and links dropped, whitespace collapsed, cut."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_`]+", "", text)
    text = " ".join(text.split())
    if not text:
        text = fallback
    if len(text) > MAX_TITLE_CHARS:
        text = text[: MAX_TITLE_CHARS - 3].rstrip() + "..."
    return text


def _headings(lines: list[str]) -> list[tuple[int, int, str, int]]:
    """``(line index, level, text, lines used)`` of every heading outside code fences."""
    found: list[tuple[int, int, str, int]] = []
    fence: str | None = None
    for i, line in enumerate(lines):
        opener = _FENCE.match(line)
        if fence is not None:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = None
            continue
        if opener:
            fence = opener.group(1)
            continue
        atx = _ATX.match(line)
        if atx:
            marks = atx.group(1) or atx.group(3)
            found.append((i, len(marks), atx.group(2) or "", 1))
            continue
        # Setext: a one-line paragraph underlined with = (level 1) or - (level 2).
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        underline = _SETEXT.match(nxt)
        starts_paragraph = i == 0 or not lines[i - 1].strip()
        if underline and line.strip() and starts_paragraph and not _FENCE.match(line):
            level = 1 if underline.group(1)[0] == "=" else 2
            found.append((i, level, line.strip(), 2))
    return found


def split_long(section: Section, max_chars: int = MAX_ITEM_CHARS) -> list[Section]:
    """``section`` cut at paragraph boundaries into parts of at most ``max_chars``."""
    if len(section.body) <= max_chars:
        return [section]
    parts: list[str] = []
    current = ""
    for paragraph in re.split(r"\n\s*\n", section.body):
        while len(paragraph) > max_chars:  # one huge paragraph: cut it hard
            if current:
                parts.append(current)
                current = ""
            parts.append(paragraph[:max_chars])
            paragraph = paragraph[max_chars:]
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if len(candidate) > max_chars:
            parts.append(current)
            current = paragraph
        else:
            current = candidate
    if current:
        parts.append(current)
    return [
        Section(
            title=clean_title(f"{section.title} (part {n} of {len(parts)})"),
            body=part.strip(),
            level=section.level,
        )
        for n, part in enumerate(parts, start=1)
    ]


def split_markdown(text: str, document_title: str) -> list[Section]:
    """The items of a Markdown (or plain-text) document, in document order.

    Sections whose body is empty (a heading followed directly by the next heading at
    the same level) are dropped; a document with no text at all yields no items.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    headings = _headings(lines)
    title = clean_title(document_title)
    if headings and headings[0][1] == 1 and sum(1 for h in headings if h[1] == 1) == 1:
        before = "\n".join(lines[: headings[0][0]]).strip()
        if not before:
            # The single opening H1 names the document; its own text is the preamble.
            index, _level, heading_text, used = headings[0]
            title = clean_title(heading_text, title)
            lines = lines[:index] + [""] * used + lines[index + used :]
            headings = headings[1:]
    sections: list[Section] = []
    if not headings:
        return _nonempty([Section(title=title, body="\n".join(lines).strip(), level=0)])
    split_level = min(level for _i, level, _t, _u in headings)
    cuts = [h for h in headings if h[1] == split_level]
    preamble = "\n".join(lines[: cuts[0][0]]).strip()
    sections.append(Section(title=title, body=preamble, level=0))
    for n, (index, level, heading_text, used) in enumerate(cuts):
        end = cuts[n + 1][0] if n + 1 < len(cuts) else len(lines)
        body = "\n".join(lines[index + used : end]).strip()
        sections.append(Section(title=clean_title(heading_text, title), body=body, level=level))
    return _nonempty(sections)


def _nonempty(sections: list[Section]) -> list[Section]:
    out: list[Section] = []
    for section in sections:
        if section.body.strip():
            out.extend(split_long(section))
    return out


def document_title(text: str, fallback: str) -> str:
    """The document's title: its first heading if it opens with one, else ``fallback``."""
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        atx = _ATX.match(line)
        if atx and (atx.group(2) or "").strip():
            return clean_title(atx.group(2), fallback)
        break
    return clean_title(fallback)
