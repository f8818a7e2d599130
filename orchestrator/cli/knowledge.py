"""Knowledge base commands: ``knowledge add|search|list|show``.

They talk to the database only (no broker, no workers), like the portfolio commands.
Every command first makes sure the shipped starter knowledge base is stored (a no-op
once it is), so a fresh installation can search it straight away.
"""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import TypeAdapter, ValidationError
from rich.table import Table

from orchestrator.cli.common import EXIT_FAILED, acting_user, console, fail, print_json
from orchestrator.cli.portfolio import database
from orchestrator.knowledge import KnowledgeBase
from orchestrator.knowledge.base import content_sha256
from orchestrator.knowledge.importing import KnowledgeImportError, read_text_file
from orchestrator.knowledge.markdown import MAX_TITLE_CHARS, document_title
from orchestrator.knowledge.tables import DocumentKind
from orchestrator.models.params import Slug

#: Tags are slugs, as the tags of an update_knowledge task.
_TAG: TypeAdapter[str] = TypeAdapter(Slug)


def _is_tag(value: str) -> bool:
    try:
        _TAG.validate_python(value)
    except ValidationError:
        return False
    return True


def register(main: click.Group) -> None:
    """Add the ``knowledge`` group to the ``orchestrator`` group."""
    main.add_command(knowledge)


def _checked_tags(tags: tuple[str, ...]) -> list[str]:
    bad = [t for t in tags if not _is_tag(t)]
    if bad:
        fail(f"invalid tag(s) {', '.join(map(repr, bad))}: use lower-case letters, digits, - or _")
    return sorted(set(tags))


@click.group()
def knowledge() -> None:
    """The knowledge base: your documents and the shared starter articles, searchable."""


@knowledge.command("add")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--text", "text", default=None, help="Store this text instead of a FILE.")
@click.option("--title", default=None, help="Title (default: the file's first heading).")
@click.option("--tag", "tags", multiple=True, help="A tag; repeat for several.")
@click.option("--user", default=None)
@click.option("--json", "as_json", is_flag=True)
def add_command(
    file: Path | None,
    text: str | None,
    title: str | None,
    tags: tuple[str, ...],
    user: str | None,
    as_json: bool,
) -> None:
    """Import FILE (Markdown or text), or --text, split into items at its headings.

    Importing the same content again stores nothing and names the items already there.
    """
    if (file is None) == (text is None):
        fail("give either FILE or --text (not both)")
    if file is None:
        if not title:
            fail("--text needs a --title")
        if text is None or not text.strip():
            fail("--text is empty; nothing to import")
        kind, origin = DocumentKind.TEXT, "text"
    else:
        try:
            text = read_text_file(file)
        except KnowledgeImportError as exc:
            fail(str(exc))
        title = title or document_title(text, file.stem)
        kind, origin = DocumentKind.FILE, file.name
    if len(title) > MAX_TITLE_CHARS:
        fail(f"--title is longer than {MAX_TITLE_CHARS} characters")
    checked_tags = _checked_tags(tags)
    with database() as (settings, engine):
        user_id = acting_user(settings, user)
        kb = KnowledgeBase(engine)
        kb.ensure_starter()
        try:
            ids, created = kb.add_document(
                user_id=user_id,
                kind=kind,
                title=title,
                text=text,
                origin=origin,
                tags=checked_tags,
                # The same content imported twice by one user is stored once.
                idempotency_key=f"import:{user_id}:{kind.value}:{content_sha256(title, text)}",
            )
        except ValueError as exc:  # no text, or (IdempotencyKeyConflictError) a taken key
            fail(str(exc))
    if as_json:
        print_json({"item_ids": ids, "created": created, "title": title})
        return
    verb = "imported" if created else "already imported:"
    click.echo(f"{verb} {title!r} as {len(ids)} item(s): {', '.join(map(str, ids))}")


@knowledge.command("search")
@click.argument("query")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--user", default=None)
@click.option("--json", "as_json", is_flag=True)
def search_command(query: str, limit: int, user: str | None, as_json: bool) -> None:
    """Items matching QUERY (any of its words, stemmed), best first."""
    with database() as (settings, engine):
        user_id = acting_user(settings, user)
        kb = KnowledgeBase(engine)
        kb.ensure_starter()
        hits = kb.search(query, user_id=user_id, limit=limit)
    if as_json:
        print_json([hit.model_dump(mode="json") for hit in hits])
        return
    if not hits:
        click.echo("no matches")
        return
    for hit in hits:
        click.echo(f"{hit.item_id}  {hit.title}  ({hit.source})")
        click.echo(f"    {hit.snippet}")


@knowledge.command("list")
@click.option("--mine", is_flag=True, help="Only your own documents, not the starter set.")
@click.option("--user", default=None)
@click.option("--json", "as_json", is_flag=True)
def list_command(mine: bool, user: str | None, as_json: bool) -> None:
    """Documents you can search: yours and the shared starter articles."""
    with database() as (settings, engine):
        user_id = acting_user(settings, user)
        kb = KnowledgeBase(engine)
        kb.ensure_starter()
        documents = kb.documents(user_id=user_id, include_shared=not mine)
    if as_json:
        print_json([doc.model_dump(mode="json") for doc in documents])
        return
    table = Table(title=f"Knowledge of {user_id}")
    for column in ("id", "title", "source", "items", "words", "tags"):
        table.add_column(column, justify="right" if column in ("items", "words") else "left")
    for doc in documents:
        table.add_row(
            str(doc.document_id),
            doc.title,
            doc.source + (" (shared)" if doc.shared else ""),
            str(len(doc.item_ids)),
            str(doc.word_count),
            ", ".join(doc.tags),
        )
    console.print(table)


@knowledge.command("show")
@click.argument("item_id", type=int)
@click.option("--user", default=None)
@click.option("--json", "as_json", is_flag=True)
def show_command(item_id: int, user: str | None, as_json: bool) -> None:
    """One item (an id from ``search``): its title, source, tags and full text."""
    with database() as (settings, engine):
        user_id = acting_user(settings, user)
        item = KnowledgeBase(engine).get(item_id, user_id=user_id)
    if item is None:
        fail(f"no knowledge item {item_id} visible to {user_id}", EXIT_FAILED)
    if as_json:
        print_json(item.model_dump(mode="json"))
        return
    click.echo(f"# {item.title}\n")
    click.echo(f"source: {item.source}   tags: {', '.join(item.tags) or '-'}\n")
    click.echo(item.body)
