"""What a validation reads: its data source, the upstream outputs and their declared models.

``data_source`` is either ``historical_market_data`` (the shipped daily closes) or a
reference ``<task_id>_<part>`` to an upstream task's output (``task_001_data``: the
portfolio analysis). Every upstream output of the run (this task's ancestors, read from
the live context) whose producing task type has a declared output model is checked
against it, so a malformed hand-off is found where it is consumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from orchestrator.models import TaskType
from orchestrator.models.refs import OutputRef
from tasks.context import HandlerContext
from tasks.errors import DependencyFailureError
from tasks.system.schema_checks import check_analysis_consistency, check_output
from tasks.system.validation_models import CheckOutcome
from tasks.system.validation_project import upstream_task_type
from tasks.workspace.codegen_inputs import find_analysis

_REF = TypeAdapter(OutputRef)


def output_models() -> dict[TaskType, type[BaseModel]]:
    """The declared output model of each task type whose output is checked."""
    # Imported here: the handler modules behind them are only needed once checks run.
    from tasks.portfolio.analysis_models import PortfolioAnalysis
    from tasks.portfolio.report_task import ReportOutput
    from tasks.system.validation_models import ValidationReport
    from tasks.workspace.create_project import CreateProjectResult
    from tasks.workspace.generate_code import GenerateCodeResult
    from tasks.workspace.run_terminal_command import CommandResult

    return {
        TaskType.ANALYZE_PORTFOLIO: PortfolioAnalysis,
        TaskType.GENERATE_REPORT: ReportOutput,
        TaskType.CREATE_PROJECT: CreateProjectResult,
        TaskType.GENERATE_CODE: GenerateCodeResult,
        TaskType.RUN_TERMINAL_COMMAND: CommandResult,
        TaskType.VALIDATE_DATA: ValidationReport,
    }


@dataclass(frozen=True)
class Upstream:
    """The outputs of this task's ancestors (nearest first) and what the source names."""

    data_source: str
    #: The task the data source refers to (None: market data or an unknown name).
    source_task: str | None
    outputs: dict[str, Any]

    @property
    def source_output(self) -> Any:
        return self.outputs.get(self.source_task) if self.source_task else None

    def analysis(self) -> Mapping[str, Any] | None:
        """The portfolio analysis the source names, else the nearest upstream one."""
        named = self.source_output
        found = find_analysis({"source": named}) if isinstance(named, Mapping) else None
        return found if found is not None else find_analysis(self.outputs)


def source_task(data_source: str, ctx: HandlerContext) -> str | None:
    """The upstream task a ``<task_id>_<part>`` data source names, if it is one."""
    try:
        ref = _REF.validate_python(data_source)
    except ValidationError:
        return None
    # `historical_market_data` matches the pattern too: only a task of the chain counts.
    return ref.task_id if any(t.id == ref.task_id for t in ctx.chain.tasks) else None


def read_upstream(data_source: str, inputs: Mapping[str, Any], ctx: HandlerContext) -> Upstream:
    """Inputs plus every other ancestor's output in the live context."""
    named = source_task(data_source, ctx)
    ancestors = ctx.ancestors()
    wanted = [t for t in ancestors if t not in inputs]
    if named is not None and named not in inputs and named not in wanted:
        wanted.append(named)
    outputs = dict(inputs)
    outputs.update(ctx.runtime.context.outputs(ctx.user_id, ctx.run_id, wanted))
    if named is not None and named not in outputs:
        raise DependencyFailureError(
            f"data_source {data_source} names the output of {named}, which this run does not have",
            missing=[named],
        )
    order = {t: i for i, t in enumerate(ancestors)}
    ordered = dict(sorted(outputs.items(), key=lambda item: order.get(item[0], len(order))))
    return Upstream(data_source=data_source, source_task=named, outputs=ordered)


def upstream_checks(upstream: Upstream, ctx: HandlerContext) -> list[CheckOutcome]:
    """Each upstream output against its task type's model (analyses also for consistency)."""
    models = output_models()
    checks: list[CheckOutcome] = []
    for task_id, output in upstream.outputs.items():
        task_type = upstream_task_type(ctx, task_id)
        if task_type is None:
            continue  # a custom type declares no model we know
        model = models.get(task_type)
        if model is None:
            continue
        check = check_output(f"output.{task_id}", output, model)
        checks.append(check)
        if check.passed and task_type is TaskType.ANALYZE_PORTFOLIO:
            consistency = check_analysis_consistency(output)
            checks.append(consistency.model_copy(update={"name": f"output.{task_id}.consistent"}))
    return checks
