"""What a workspace effect replaced, and what it returned, kept per effect key.

Each side-effecting task (one ``HandlerContext.effect_key`` = run, task, restart) gets

* a backup under ``<project>/.orchestrator/backups/<key>/``: a manifest naming every path
  the effect was about to change, with its previous content (or that it did not exist),
  written *before* the effect. A retry after a crash keeps the first backup -- backing up
  again would save the effect's own half-done writes. The compensation restores it.
* a marker ``<project>/.orchestrator/effects/<key>.json`` holding the task's output,
  written *after* the effect: a redelivered task returns it instead of acting twice.

A compensation restores the backup and then *retires* both (moves them under
``.orchestrator/undone/``), so a rerun of the task acts again.

``.orchestrator/`` is excluded from git (``.git/info/exclude``) and refused as a path
parameter, so neither commits nor tasks see it.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel

from orchestrator.models.base import StrictModel
from tasks.workspace.files import ProjectFiles
from tasks.workspace.sandbox import STATE_DIR

_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.\-]")


def key_dir_name(effect_key: str) -> str:
    """A file name for an effect key: readable, one component, unique (hash suffix)."""
    digest = hashlib.sha256(effect_key.encode()).hexdigest()[:12]
    return f"{_UNSAFE_RE.sub('_', effect_key)[:150]}-{digest}"


class BackupEntry(StrictModel):
    """One path as it was before the effect."""

    path: str
    kind: Literal["file", "dir", "absent"]
    #: File name of the saved content under the backup's ``files/`` (kind "file").
    blob: str | None = None
    sha256: str | None = None


class BackupManifest(StrictModel):
    effect_key: str
    entries: list[BackupEntry]


class EffectJournal:
    """Backups and the output marker of one effect in one project."""

    def __init__(self, project_dir: Path, effect_key: str, *, max_file_bytes: int) -> None:
        self.effect_key = effect_key
        # Backups may hold files up to the write limit, plus the manifest itself.
        self.files = ProjectFiles(project_dir, max_file_bytes=max_file_bytes)
        name = key_dir_name(effect_key)
        self.backup_dir = PurePosixPath(STATE_DIR, "backups", name)
        self.marker = PurePosixPath(STATE_DIR, "effects", f"{name}.json")

    # --- the output marker -----------------------------------------------------------

    def recorded_output(self) -> dict[str, Any] | None:
        """The output this effect returned when it completed, or None."""
        if self.files.lstat(self.marker) is None:
            return None
        data: dict[str, Any] = json.loads(self.files.read_bytes(self.marker))
        return data

    def record_output(self, output: BaseModel) -> None:
        self.files.write_atomic(self.marker, output.model_dump_json().encode())

    # --- backups ---------------------------------------------------------------------

    def manifest(self) -> BackupManifest | None:
        path = self.backup_dir / "manifest.json"
        if self.files.lstat(path) is None:
            return None
        return BackupManifest.model_validate_json(self.files.read_bytes(path))

    def backup(self, paths: list[PurePosixPath]) -> BackupManifest:
        """Save what ``paths`` hold now, unless this effect already saved them."""
        existing = self.manifest()
        if existing is not None:
            return existing
        entries: list[BackupEntry] = []
        for index, path in enumerate(paths):
            info = self.files.lstat(path)
            if info is None:
                entries.append(BackupEntry(path=str(path), kind="absent"))
            elif stat.S_ISDIR(info.st_mode):
                entries.append(BackupEntry(path=str(path), kind="dir"))
            else:
                data = self.files.read_bytes(path)
                blob = f"{index:05d}"
                self.files.write_atomic(self.backup_dir / "files" / blob, data)
                entries.append(
                    BackupEntry(
                        path=str(path),
                        kind="file",
                        blob=blob,
                        sha256=hashlib.sha256(data).hexdigest(),
                    )
                )
        manifest = BackupManifest(effect_key=self.effect_key, entries=entries)
        # The manifest last: present means complete.
        self.files.write_atomic(
            self.backup_dir / "manifest.json", manifest.model_dump_json().encode()
        )
        return manifest

    def restore(self) -> list[str]:
        """Put every backed-up path back as it was; returns the paths restored."""
        manifest = self.manifest()
        if manifest is None:
            return []
        restored: list[str] = []
        # Newest first: for a move, the destination is restored before the source.
        for entry in reversed(manifest.entries):
            path = PurePosixPath(entry.path)
            current = self.files.lstat(path)
            if entry.kind == "file" and entry.blob is not None:
                data = self.files.read_bytes(self.backup_dir / "files" / entry.blob)
                self.files.write_atomic(path, data)
            elif entry.kind == "dir":
                self.files.make_dir(path)
            elif current is not None:
                if stat.S_ISDIR(current.st_mode) and self.files.list_dir(path, hide_reserved=False):
                    continue  # a directory that now holds other files stays
                self.files.delete(path)
            restored.append(entry.path)
        return restored

    # --- after a compensation ----------------------------------------------------------

    def retire(self) -> None:
        """The effect was undone: move its marker and backup aside (kept for inspection).

        A rerun under the same key then acts afresh -- with a new backup -- instead of
        returning the output of an effect that no longer stands.
        """
        grave = PurePosixPath(STATE_DIR, "undone", f"{self.backup_dir.name}-{uuid.uuid4().hex[:8]}")
        if self.files.lstat(self.marker) is not None:
            self.files.move(self.marker, grave / "effect.json")
        if self.files.lstat(self.backup_dir) is not None:
            self.files.move(self.backup_dir, grave / "backup")
