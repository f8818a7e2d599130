"""The base model every request and record derives from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

JsonScalar = str | int | float | bool | None


class StrictModel(BaseModel):
    """Unknown fields are an error; enums serialise as their values."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False, populate_by_name=True)
