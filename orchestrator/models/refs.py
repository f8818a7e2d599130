"""References from a task's parameters to an upstream task's output.

The specification writes them as ``"task_001_results"``: an upstream task id, an
underscore and what is wanted of its output. They are a type of their own so that
validation can check that each one names a real upstream task.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

REF_PARTS = ("results", "schema", "structure", "data", "code", "timeframe", "output")
OUTPUT_REF_PATTERN = rf"^(?P<task_id>[A-Za-z0-9][A-Za-z0-9_\-]*?)_(?P<part>{'|'.join(REF_PARTS)})$"
_OUTPUT_REF_RE = re.compile(OUTPUT_REF_PATTERN)


class OutputRef(str):
    """``<task_id>_<part>``: a named part of an upstream task's output."""

    __slots__ = ()

    def _match(self) -> re.Match[str]:
        match = _OUTPUT_REF_RE.match(self)
        if match is None:  # only reachable by constructing OutputRef without validation
            raise ValueError(f"{str(self)!r} is not an output reference")
        return match

    @property
    def task_id(self) -> str:
        return self._match().group("task_id")

    @property
    def part(self) -> str:
        return self._match().group("part")

    @classmethod
    def _validate(cls, value: str) -> OutputRef:
        if not _OUTPUT_REF_RE.match(value):
            raise ValueError(
                f"{value!r} is not an output reference '<task_id>_<part>' "
                f"with part one of {', '.join(REF_PARTS)}"
            )
        return cls(value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls._validate,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "pattern": OUTPUT_REF_PATTERN,
            "description": "Reference to an upstream task's output: <task_id>_<part>.",
        }


def output_refs(value: object) -> list[OutputRef]:
    """Every OutputRef inside a validated parameters model (recursively)."""
    found: list[OutputRef] = []
    if isinstance(value, OutputRef):
        found.append(value)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found.extend(output_refs(getattr(value, name)))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(output_refs(item))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(output_refs(item))
    return found


def string_refs(value: object) -> list[tuple[str, str]]:
    """``(task_id, text)`` of every plain string in reference form (not typed OutputRef)."""
    found: list[tuple[str, str]] = []
    if isinstance(value, OutputRef):
        return found
    if isinstance(value, str):
        match = _OUTPUT_REF_RE.match(value)
        if match is not None:
            found.append((match.group("task_id"), value))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found.extend(string_refs(getattr(value, name)))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(string_refs(item))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(string_refs(item))
    return found
