"""What a workspace effect replaced, and what it returned, kept per effect key.

Each side-effecting task (one ``HandlerContext.effect_key`` = run, task, restart) gets

* a backup under ``<project>/.orchestrator/backups/<key>/``: a manifest naming every path
  the effect was about to change, with its previous content (or that it did not exist),
  written *before* the effect. A retry after a crash keeps the first backup -- backing up
  again would save the effect's own half-done writes. The compensation restores it.
* a marker ``<project>/.orchestrator/effects/<key>.json`` holding the task's output,
  written *after* the effect: a redelivered task returns it instead of acting twice.

Backups of one project are capped (``ORCH_WORKSPACE_MAX_BACKUP_BYTES``, counting live and
undone ones): an effect whose backup would pass the cap is refused, not run unbacked.
Paths read back from a manifest pass ``check_user_path`` again before a restore.

A compensation restores the backup and then *retires* both (moves them under
``.orchestrator/undone/``), so a rerun of the task acts again.

``.orchestrator/`` is excluded from git (``.git/info/exclude``) and refused as a path
parameter, so neither commits nor tasks see it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, Field

from config.settings import Settings
from orchestrator.models.base import StrictModel
from tasks.errors import ResourceUnavailableError
from tasks.workspace.files import ProjectFiles
from tasks.workspace.sandbox import STATE_DIR, SandboxEscapeError, check_user_path

_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.\-]")
_BLOB_RE = re.compile(r"[0-9]{5}")
#: Default cap of one project's saved backups (``ORCH_WORKSPACE_MAX_BACKUP_BYTES``).
DEFAULT_MAX_BACKUP_BYTES = 200 * 1024 * 1024
#: What counts against the cap: live backups and those of undone effects.
_BACKUP_DIRS = ("backups", "undone")


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
    #: Facts of the first attempt a retry compares with (git: HEAD before the effect).
    meta: dict[str, str | None] = Field(default_factory=dict)


class EffectJournal:
    """Backups and the output marker of one effect in one project."""

    def __init__(
        self,
        project_dir: Path,
        effect_key: str,
        *,
        max_file_bytes: int,
        max_backup_bytes: int = DEFAULT_MAX_BACKUP_BYTES,
    ) -> None:
        self.effect_key = effect_key
        self.project_dir = project_dir
        self.max_backup_bytes = max_backup_bytes
        # Backups may hold files up to the write limit, plus the manifest itself.
        self.files = ProjectFiles(project_dir, max_file_bytes=max_file_bytes)
        name = key_dir_name(effect_key)
        self.backup_dir = PurePosixPath(STATE_DIR, "backups", name)
        self.marker = PurePosixPath(STATE_DIR, "effects", f"{name}.json")

    @classmethod
    def of(cls, project_dir: Path, effect_key: str, settings: Settings) -> EffectJournal:
        """The journal of ``effect_key`` with the deployment's file and backup limits."""
        return cls(
            project_dir,
            effect_key,
            max_file_bytes=settings.workspace_max_file_bytes,
            max_backup_bytes=settings.workspace_max_backup_bytes,
        )

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

    def saved_bytes(self) -> int:
        """Bytes the project's backups (live and undone) take now."""
        total = 0
        for name in _BACKUP_DIRS:
            top = self.project_dir / STATE_DIR / name
            # os.walk never follows symlinks into directories; lstat sizes, not targets.
            for folder, _dirs, files in os.walk(top):
                for file_name in files:
                    with contextlib.suppress(FileNotFoundError):
                        total += os.lstat(os.path.join(folder, file_name)).st_size
        return total

    def _check_room(self, paths: list[PurePosixPath]) -> None:
        """Refuse an effect whose backup would pass the project's cap.

        Refusing is better than acting without a backup: the effect could then never be
        rolled back.
        """
        incoming = 0
        for path in paths:
            info = self.files.lstat(path)
            if info is not None and stat.S_ISREG(info.st_mode):
                incoming += info.st_size
        if incoming and self.saved_bytes() + incoming > self.max_backup_bytes:
            raise ResourceUnavailableError(
                f"the project's backups would pass {self.max_backup_bytes} bytes "
                "(ORCH_WORKSPACE_MAX_BACKUP_BYTES); the change is refused so that it "
                "stays undoable -- an operator can clear .orchestrator/backups and undone",
                max_backup_bytes=self.max_backup_bytes,
            )

    def backup(
        self, paths: list[PurePosixPath], *, meta: dict[str, str | None] | None = None
    ) -> BackupManifest:
        """Save what ``paths`` hold now, unless this effect already saved them."""
        existing = self.manifest()
        if existing is not None:
            return existing
        self._check_room(paths)
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
        manifest = BackupManifest(effect_key=self.effect_key, entries=entries, meta=meta or {})
        # The manifest last: present means complete.
        self.files.write_atomic(
            self.backup_dir / "manifest.json", manifest.model_dump_json().encode()
        )
        return manifest

    def saved_content(self, path: PurePosixPath) -> bytes | None:
        """What ``path`` held before this effect (None: absent, or not backed up)."""
        manifest = self.manifest()
        for entry in manifest.entries if manifest is not None else []:
            if entry.path == str(path) and entry.kind == "file" and entry.blob is not None:
                if not _BLOB_RE.fullmatch(entry.blob):
                    break
                return self.files.read_bytes(self.backup_dir / "files" / entry.blob)
        return None

    def restore(self) -> list[str]:
        """Put every backed-up path back as it was; returns the paths restored."""
        manifest = self.manifest()
        if manifest is None:
            return []
        if manifest.effect_key != self.effect_key:
            raise SandboxEscapeError(
                "backup manifest belongs to another effect",
                value=manifest.effect_key,
                reason="foreign manifest",
            )
        restored: list[str] = []
        # Newest first: for a move, the destination is restored before the source.
        for entry in reversed(manifest.entries):
            # The manifest is a file on disk: its paths pass the same gate as a task's.
            path = check_user_path(entry.path)
            if entry.blob is not None and not _BLOB_RE.fullmatch(entry.blob):
                raise SandboxEscapeError(
                    "backup blob name is not ours", value=entry.blob, reason="bad blob name"
                )
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
