"""Reading a Markdown or text file for import, refusing what is not text.

Checked before anything is written: the file's size (``MAX_IMPORT_BYTES``), binary
content (NUL bytes), and strict UTF-8 (a byte-order mark is allowed and dropped). The
error names the file and the reason, so the CLI can print it as is.
"""

from __future__ import annotations

from pathlib import Path

#: Largest file ``knowledge add`` imports (2 MiB of text is about 300,000 words).
MAX_IMPORT_BYTES = 2 * 1024 * 1024


class KnowledgeImportError(ValueError):
    """A file that cannot be imported as knowledge; nothing was stored."""


def read_text_file(path: Path, *, max_bytes: int = MAX_IMPORT_BYTES) -> str:
    """The text of ``path``; raises KnowledgeImportError for a file that is not text."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise KnowledgeImportError(f"{path}: cannot read it ({exc.strerror})") from exc
    if not path.is_file():
        raise KnowledgeImportError(f"{path}: not a regular file")
    if size > max_bytes:
        raise KnowledgeImportError(
            f"{path}: {size:,} bytes is larger than the {max_bytes:,}-byte import limit; "
            "split it into smaller documents"
        )
    try:
        # Read at most one byte more than allowed: the file may have grown since stat().
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise KnowledgeImportError(f"{path}: cannot read it ({exc.strerror})") from exc
    if len(data) > max_bytes:
        raise KnowledgeImportError(f"{path}: larger than the {max_bytes:,}-byte import limit")
    if b"\0" in data:
        raise KnowledgeImportError(f"{path}: binary file (only Markdown or text is imported)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KnowledgeImportError(
            f"{path}: not valid UTF-8 (byte {exc.start}); save it as UTF-8 text"
        ) from exc
    if not text.strip():
        raise KnowledgeImportError(f"{path}: empty; nothing to import")
    return text
