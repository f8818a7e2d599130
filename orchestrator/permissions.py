"""Roles and the task types each may run, loaded from ``config/permissions.yaml``."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, model_validator

from config import CONFIG_DIR
from orchestrator.models.base import StrictModel

ANY_TASK_TYPE = "*"


class Role(StrictModel):
    task_types: list[str] = Field(default_factory=list)


class Permissions(StrictModel):
    """Which user may run which task type."""

    roles: dict[str, Role]
    users: dict[str, str] = Field(default_factory=dict)
    default_role: str | None = None

    @model_validator(mode="after")
    def _roles_exist(self) -> Permissions:
        named = set(self.users.values()) | ({self.default_role} if self.default_role else set())
        unknown = sorted(named - set(self.roles))
        if unknown:
            raise ValueError(f"users refer to undefined role(s): {', '.join(unknown)}")
        return self

    @classmethod
    def load(cls, path: Path | None = None) -> Permissions:
        file = path or CONFIG_DIR / "permissions.yaml"
        try:
            data = yaml.safe_load(file.read_text())
            return cls.model_validate(data)
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise ValueError(f"cannot load permissions from {file}: {exc}") from exc

    def role_of(self, user_id: str) -> str | None:
        return self.users.get(user_id, self.default_role)

    def allows(self, user_id: str, task_type: str) -> bool:
        role_name = self.role_of(user_id)
        if role_name is None:
            return False
        allowed = self.roles[role_name].task_types
        return ANY_TASK_TYPE in allowed or task_type in allowed
