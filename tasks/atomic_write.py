"""Writing a file so that no reader ever sees it half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a synced sibling temp file and a rename.

    The file is readable by its owner only (mkstemp's 0600): backups and reports hold a
    user's runs and money; whoever serves them runs as the worker's user.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
