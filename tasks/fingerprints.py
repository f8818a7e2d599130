"""A stable fingerprint of what a task was asked to do (type, parameters, inputs)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def input_fingerprint(
    task_type: str, parameters: Mapping[str, Any], inputs: Mapping[str, Any]
) -> str:
    """sha256 of the canonical JSON of the task's type, parameters and inputs."""
    canonical = json.dumps(
        {"type": task_type, "parameters": parameters, "inputs": inputs},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
