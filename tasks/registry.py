"""The task registry: TaskType -> module, parameters model, handler.

It is also the extension point. A user adds a task type without editing the package::

    registry = default_registry()

    @registry.handler("fetch_quotes", module=Module.PORTFOLIO, params=FetchQuotesParams)
    def fetch_quotes(params: FetchQuotesParams, inputs: Inputs, ctx: HandlerContext) -> Quotes:
        ...

Workers pick plug-ins up from ``ORCH_PLUGINS`` (``"package.module:register"``, a
function called with the registry).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from orchestrator.models import PARAMS_OF, Module, TaskType
from tasks.context import HandlerContext
from tasks.hooks import RecoveryHooks

#: Outputs of upstream tasks, by upstream task id (data_flow and validation edges).
Inputs = dict[str, Any]
Handler = Callable[[Any, Inputs, HandlerContext], BaseModel]
HandlerT = TypeVar("HandlerT", bound=Callable[..., BaseModel])


def lazy(path: str) -> Any:
    """``"package.module:attr"`` as a callable that imports its module on first call.

    Handlers that need heavy libraries (pandas, matplotlib, GitPython) register through
    this, so that building a registry -- every CLI command does -- stays fast; workers
    import the modules once, on their first task of that type.
    """
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise RegistryError(f"{path!r} must be 'module:attr'")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module_name), attr)(*args, **kwargs)

    call.__name__ = call.__qualname__ = attr
    call.__module__ = module_name
    return call


class RegistryError(ValueError):
    """A registration was refused (duplicate type, bad name, wrong types)."""


@dataclass(frozen=True)
class TaskSpec:
    """Everything the orchestrator knows of one task type."""

    task_type: str
    module: Module
    params_model: type[BaseModel]
    handler: Handler
    #: Typical duration, used by the planner until learned values exist.
    expected_duration_ms: int = 2_000
    #: How often this type succeeds on its first attempt, before history says otherwise.
    base_confidence: float = 0.9
    default_timeout_s: float = 300.0
    implemented: bool = True

    @property
    def celery_name(self) -> str:
        """The Celery task name, ``<queue>.<type>``."""
        return f"{self.module.queue}.{self.task_type}"


class TaskRegistry:
    """Registered task types; one per orchestrator app, never a module global."""

    def __init__(self) -> None:
        self._specs: dict[str, TaskSpec] = {}
        #: Fallbacks, alternatives and compensations recovery may use for these types.
        self.hooks = RecoveryHooks()

    def register(
        self,
        task_type: TaskType | str,
        *,
        module: Module,
        params: type[BaseModel],
        handler: Handler,
        expected_duration_ms: int = 2_000,
        base_confidence: float = 0.9,
        default_timeout_s: float = 300.0,
        replace: bool = False,
        implemented: bool = True,
    ) -> TaskSpec:
        """Register (or with ``replace=True`` override) a task type."""
        name = str(task_type)
        if not name.replace("_", "").isalnum() or not name[:1].isalpha() or name != name.lower():
            raise RegistryError(f"task type {name!r} must be lower_snake_case")
        if name in self._specs and not replace:
            raise RegistryError(f"task type {name!r} is already registered")
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise RegistryError(f"params for {name!r} must be a pydantic model class")
        if not 0.0 <= base_confidence <= 1.0:
            raise RegistryError("base_confidence must be within [0, 1]")
        spec = TaskSpec(
            task_type=name,
            module=module,
            params_model=params,
            handler=handler,
            expected_duration_ms=expected_duration_ms,
            base_confidence=base_confidence,
            default_timeout_s=default_timeout_s,
            implemented=implemented,
        )
        self._specs[name] = spec
        return spec

    def handler(
        self,
        task_type: TaskType | str,
        *,
        module: Module,
        params: type[BaseModel],
        **options: Any,
    ) -> Callable[[HandlerT], HandlerT]:
        """Decorator form of :meth:`register`."""

        def decorate(func: HandlerT) -> HandlerT:
            self.register(task_type, module=module, params=params, handler=func, **options)
            return func

        return decorate

    def install_module(
        self,
        module: Module,
        handlers: Mapping[TaskType, str],
        compensations: Mapping[TaskType, str],
    ) -> None:
        """Replace built-in types' handlers with a module's (``"package.module:attr"``,
        imported lazily) and register their compensations; estimates and parameter
        models stay those of the built-in registration."""
        for task_type, handler in handlers.items():
            existing = self.spec_for(task_type)
            self.register(
                task_type,
                module=module,
                params=PARAMS_OF[task_type],
                handler=lazy(handler),
                expected_duration_ms=existing.expected_duration_ms if existing else 2_000,
                base_confidence=existing.base_confidence if existing else 0.9,
                replace=True,
            )
        for task_type, compensation in compensations.items():
            self.hooks.register_compensation(task_type, lazy(compensation))

    def spec_for(self, task_type: str) -> TaskSpec | None:
        return self._specs.get(str(task_type))

    def get(self, task_type: str) -> TaskSpec:
        spec = self.spec_for(task_type)
        if spec is None:
            raise KeyError(f"unknown task type {task_type!r}")
        return spec

    def known_types(self) -> list[str]:
        return list(self._specs)

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(list(self._specs.values()))

    def __contains__(self, task_type: object) -> bool:
        return str(task_type) in self._specs

    def load_plugins(self, paths: list[str]) -> None:
        """Call each ``"module:function"`` in ``paths`` with this registry."""
        for path in paths:
            module_name, _, attr = path.partition(":")
            if not attr:
                raise RegistryError(f"plugin {path!r} must be 'module:function'")
            register = getattr(importlib.import_module(module_name), attr)
            register(self)
