"""Recovery: classification of failures (strategies arrive with the recovery layer)."""

from recovery.classify import FALLBACK_ERROR_TYPE, classify_exception, to_task_error

__all__ = ["FALLBACK_ERROR_TYPE", "classify_exception", "to_task_error"]
