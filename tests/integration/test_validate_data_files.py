"""VALIDATE_DATA reading and clearing what project code wrote, on a real file system.

Project code runs in the jail with write access to its project, possibly while the
validation works on it: it can plant symlinks, hard links, huge or absurd files. Each is a
failed check of that file; nothing outside the project is ever read or deleted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, cast

import pytest

from tasks.system.report_check import (
    REPORT_DIR,
    _clear_report_dir,
    generated_report_files,
    read_report_files,
)
from tasks.system.validate_data import _project_file_checks
from tasks.system.validation_models import CheckOutcome
from tasks.system.validation_project import (
    MAX_READ_BYTES,
    VALIDATION_DIR,
    CodeKind,
    ProjectLanguage,
    ValidationProject,
)
from tasks.workspace.files import ProjectFiles
from tasks.workspace.sandbox import SandboxEscapeError


def project_at(directory: Path, cls: type[ValidationProject] = ValidationProject) -> Any:
    directory.mkdir(parents=True, exist_ok=True)
    return cls(
        ctx=cast(Any, None),  # file operations only: no task, no command
        scope=cast(Any, None),
        project_id=directory.name,
        project_dir=directory,
        language=ProjectLanguage.PYTHON,
        kind=CodeKind.REPORT_GENERATOR,
        deadline=0.0,
    )


@dataclass
class Layout:
    project: Path
    outside: Path

    def report(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = self.project / REPORT_DIR / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def swap_validation_for_a_symlink(self) -> None:
        """What a jailed command of the project can do at any moment."""
        validation = self.project / VALIDATION_DIR
        if not validation.is_symlink():
            validation.rename(self.project / "validation-moved")
            validation.symlink_to(self.outside)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    outside = tmp_path / "outside"
    (outside / "report").mkdir(parents=True)
    (outside / "report" / "precious.txt").write_text("not the project's")
    return Layout(tmp_path / "project", outside)


def test_clearing_the_report_dir_removes_the_earlier_report(layout: Layout) -> None:
    layout.report({"report.md": "old", "charts/value.svg": "<svg/>"})
    project = project_at(layout.project)
    _clear_report_dir(project)
    assert not (layout.project / REPORT_DIR).exists()
    assert (layout.project / VALIDATION_DIR).is_dir()
    _clear_report_dir(project_at(layout.project / "fresh"))  # nothing to clear: no error


def test_a_symlink_swapped_in_after_the_checks_does_not_lead_the_delete_outside(
    layout: Layout,
) -> None:
    # Given a project whose validation/ becomes a symlink to another directory with a
    # report/ in it right after VALIDATE_DATA looked at it (a concurrent jailed command)
    layout.report({"report.md": "old"})

    class RacingFiles(ProjectFiles):
        looking = False

        def lstat(self, path: PurePosixPath) -> os.stat_result | None:
            RacingFiles.looking = True
            try:
                found = super().lstat(path)
            finally:
                RacingFiles.looking = False
            if path == REPORT_DIR:
                layout.swap_validation_for_a_symlink()
            return found

        @contextmanager
        def parent(self, path: PurePosixPath, *, create: bool = False) -> Iterator[tuple[int, str]]:
            if path == REPORT_DIR and not RacingFiles.looking:
                layout.swap_validation_for_a_symlink()
            with super().parent(path, create=create) as found:
                yield found

    class RacingProject(ValidationProject):
        @property
        def files(self) -> ProjectFiles:
            return RacingFiles(self.project_dir, max_file_bytes=MAX_READ_BYTES)

    # When the report folder is cleared, the symlink is refused, not followed
    with pytest.raises(SandboxEscapeError, match="symlink"):
        _clear_report_dir(project_at(layout.project, RacingProject))
    # And the directory it pointed to keeps its report/
    assert (layout.outside / "report" / "precious.txt").read_text() == "not the project's"


def test_a_symlinked_validation_dir_is_refused_before_anything_is_deleted(
    layout: Layout,
) -> None:
    layout.report({"report.md": "old"})
    layout.swap_validation_for_a_symlink()
    with pytest.raises(SandboxEscapeError):
        _clear_report_dir(project_at(layout.project))
    assert (layout.outside / "report" / "precious.txt").exists()


def test_only_regular_files_are_listed_as_the_generated_report(layout: Layout) -> None:
    layout.report({"report.md": "# Report"})
    (layout.project / REPORT_DIR / "report.pdf").symlink_to(layout.outside / "report" / "x")
    (layout.project / REPORT_DIR / "dashboard.html").symlink_to("/etc/hostname")
    found = generated_report_files(project_at(layout.project))
    assert found == [str(layout.project / REPORT_DIR / "report.md")]


def test_a_symlinked_report_file_fails_its_own_check_and_the_rest_is_read(
    layout: Layout,
) -> None:
    layout.report({"report.md": "# Report", "charts/value.svg": "<svg/>"})
    (layout.project / REPORT_DIR / "export").mkdir()
    (layout.project / REPORT_DIR / "export/summary.json").symlink_to(
        layout.outside / "report" / "precious.txt"
    )
    names = ["report.md", "charts/value.svg", "export/summary.json", "report.pdf"]
    found, refused = read_report_files(project_at(layout.project), names)
    assert found == {
        "report.md": b"# Report",
        "charts/value.svg": b"<svg/>",
        "export/summary.json": None,
        "report.pdf": None,
    }
    assert [(c.name, c.passed) for c in refused] == [("report.export/summary.json", False)]
    assert "symlink" in refused[0].detail


def by_name(checks: list[CheckOutcome]) -> dict[str, CheckOutcome]:
    return {c.name: c for c in checks}


def test_absurd_project_files_fail_their_checks_instead_of_the_task(layout: Layout) -> None:
    data = layout.project / "data"
    data.mkdir(parents=True)
    # A cell over the csv module's field limit (an unterminated quote)
    (data / "huge_cell.csv").write_text('date,symbol,close\n2024-01-02,AAA,"' + "9" * 200_000)
    # A hard link shares its content with a file that may be outside the project
    os.link(layout.outside / "report" / "precious.txt", data / "linked.csv")
    # An example analysis nested deeper than any parser recurses
    (layout.project / "examples").mkdir()
    (layout.project / "examples/analysis.json").write_text("[" * 100_000 + "]" * 100_000)
    checks = by_name(_project_file_checks(project_at(layout.project)))
    assert {name: c.passed for name, c in checks.items()} == {
        "data/huge_cell.csv.format": False,
        "data/linked.csv": False,
        "examples/analysis.json": False,
    }
    assert "not CSV" in checks["data/huge_cell.csv.format"].detail
    assert "hard link" in checks["data/linked.csv"].detail
    assert "not JSON" in checks["examples/analysis.json"].detail


def test_a_symlinked_examples_dir_fails_its_check(layout: Layout) -> None:
    (layout.outside / "analysis.json").write_text(json.dumps({"secret": True}))
    layout.project.mkdir(parents=True)
    (layout.project / "examples").symlink_to(layout.outside)
    (checks,) = [_project_file_checks(project_at(layout.project))]
    assert [(c.name, c.passed) for c in checks] == [("examples/analysis.json", False)]
    assert "symlink" in checks[0].detail
