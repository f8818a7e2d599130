"""The starter knowledge base: Markdown files shipped in ``orchestrator/knowledge/starter/``.

Each file is one document: its single ``#`` heading is the title, its ``##`` sections
become the items. An optional first line ``<!-- tags: a, b -->`` gives the tags. The
idempotency key names the slug and a digest of the content, so ``ensure_starter`` can
tell a new version of a file from the one already stored.
"""

from __future__ import annotations

import functools
import hashlib
import re
from importlib import resources

from orchestrator.knowledge.markdown import document_title
from orchestrator.models.base import StrictModel

#: The package directory holding the files (package data: ``knowledge/starter/*.md``).
STARTER_PACKAGE = "orchestrator.knowledge"
STARTER_DIR = "starter"

_TAGS = re.compile(r"^\s*<!--\s*tags:\s*(?P<tags>[^>]*?)\s*-->\s*\n?")


class StarterDocument(StrictModel):
    """One shipped file, ready to store."""

    slug: str
    title: str
    text: str
    tags: list[str]
    #: ``starter:<slug>:<digest>``: unique per version of the file.
    key: str


def parse_starter(slug: str, raw: str) -> StarterDocument:
    """A shipped file's document: the tag comment taken off, the title read from the H1."""
    tags: list[str] = []
    text = raw
    match = _TAGS.match(raw)
    if match:
        tags = [t.strip() for t in match.group("tags").split(",") if t.strip()]
        text = raw[match.end() :]
    digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
    return StarterDocument(
        slug=slug,
        title=document_title(text, slug.replace("-", " ").capitalize()),
        text=text,
        tags=sorted(set(tags) | {"starter"}),
        key=f"starter:{slug}:{digest}",
    )


@functools.cache
def starter_documents() -> tuple[StarterDocument, ...]:
    """Every shipped starter document, ordered by slug.

    Read once per process: the files are package data, and every research task asks.
    """
    folder = resources.files(STARTER_PACKAGE).joinpath(STARTER_DIR)
    documents = [
        parse_starter(entry.name.removesuffix(".md"), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".md") and entry.is_file()
    ]
    return tuple(sorted(documents, key=lambda doc: doc.slug))
