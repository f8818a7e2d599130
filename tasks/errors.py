"""Errors handlers raise when they know what went wrong; each carries its ErrorType."""

from __future__ import annotations

from typing import Any, ClassVar

from orchestrator.models import ErrorType


class HandlerError(Exception):
    """Base of the error tree: ``error_type`` says how recovery should see it."""

    error_type: ClassVar[ErrorType] = ErrorType.RESOURCE_UNAVAILABLE

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class NotImplementedYet(HandlerError):
    """The task type is planned and validated, but its handler lands in a later release."""

    error_type = ErrorType.RESOURCE_UNAVAILABLE


class PermissionDenied(HandlerError):
    error_type = ErrorType.PERMISSION_DENIED


class InvalidInput(HandlerError):
    error_type = ErrorType.INVALID_INPUT


class DependencyFailure(HandlerError):
    error_type = ErrorType.DEPENDENCY_FAILURE


class ServiceDown(HandlerError):
    error_type = ErrorType.SERVICE_DOWN
