"""Recovery: classify a failure, analyse it, choose and apply a strategy, learn from it."""

from recovery.classify import FALLBACK_ERROR_TYPE, Phase, classify_exception, to_task_error

__all__ = ["FALLBACK_ERROR_TYPE", "Phase", "classify_exception", "to_task_error"]
