"""The Orchestrator facade: plan, submit, status, wait, watch, cancel, history."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from types import TracebackType

from celery import Celery, Signature
from celery.result import denied_join_result

from config.settings import Settings
from orchestrator.app import create_app
from orchestrator.canvas import compile_chain
from orchestrator.context import EventType, RunEvent, RunMeta, utcnow
from orchestrator.dag import ChainValidationError, Graph, Problem, validate_chain
from orchestrator.history import (
    AuditAction,
    AuditEntry,
    DeadLetterRecord,
    ParkedTaskRecord,
    RecoveryStatsRow,
    RunRecord,
)
from orchestrator.history.records import history_task_states
from orchestrator.local import EmbeddedWorkers
from orchestrator.models import (
    ExecutionResult,
    ExecutionStatus,
    RunState,
    TaskChain,
    UserGoal,
)
from orchestrator.planner import TaskPlanner, TemplatePlanner
from orchestrator.run_locks import EmbeddedRunLocks, embedded_run_locks
from orchestrator.runtime import Runtime
from recovery.backoff import MAX_TIMEOUT_ESCALATION
from tasks.base import runtime_of
from tasks.control import Decision, ParkKind
from tasks.parking import release
from tasks.registry import TaskRegistry

# Blocking reads on the event stream wake up at least this often to check the deadline.
_EVENT_BLOCK_MS = 1_000


USER_ID_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class InvalidUserError(ValueError):
    """A user id that can't be one (it would leak into other users' keys)."""


def checked_user_id(user_id: str) -> str:
    """``user_id`` if it can be one; user ids form Redis keys, so anything else is refused."""
    if not USER_ID_RE.fullmatch(user_id):
        raise InvalidUserError(
            f"invalid user id {user_id!r}: use 1-64 letters, digits, '_', '.', '@' or '-'"
        )
    return user_id


class RunNotFound(KeyError):
    """No such run for this user (other users' runs are indistinguishable from missing)."""


def new_run_id() -> str:
    return f"run_{uuid.uuid4().hex[:16]}"


class Orchestrator:
    """Plan goals, run them on the module worker pools, and watch and steer the runs."""

    def __init__(self, app: Celery, planner: TaskPlanner | None = None) -> None:
        self.app = app
        self.runtime: Runtime = runtime_of(app)
        self.planner: TaskPlanner = planner or TemplatePlanner(
            self.runtime.registry, self.runtime.settings.workflows_dir
        )
        self._workers: EmbeddedWorkers | None = None
        self._run_locks: EmbeddedRunLocks | None = None
        if self.runtime.settings.embedded:
            self._workers = EmbeddedWorkers(
                app, concurrency=self.runtime.settings.worker_concurrency
            )
            self._run_locks = embedded_run_locks(self.runtime.settings)

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, registry: TaskRegistry | None = None
    ) -> Orchestrator:
        """An orchestrator configured from ``ORCH_*`` settings (embedded when no broker)."""
        return cls(create_app(settings, registry))

    # --- planning ------------------------------------------------------------------

    def plan(self, goal: UserGoal) -> TaskChain:
        """The validated TaskChain for ``goal`` (raises if no workflow matches)."""
        chain = self.planner.create_task_chain(goal)
        validate_chain(chain, self.runtime.registry)
        return chain

    def validate(self, chain: TaskChain) -> Graph:
        """Check a chain is runnable; raises ChainValidationError naming each problem.

        Beyond the plan itself: every task's longest possible run (its timeout raised by
        a timeout retry, plus the hard-limit grace) must end within the broker's
        visibility timeout, or Redis would hand the still-running task to a second worker.
        """
        graph = validate_chain(chain, self.runtime.registry)
        settings = self.runtime.settings
        too_long = [
            Problem(
                (t.id,),
                f"timeout {t.timeout_s:g} s is too long for this deployment: "
                f"x{MAX_TIMEOUT_ESCALATION:g} on retry + {settings.time_limit_grace_s} s "
                f"grace must stay under ORCH_VISIBILITY_TIMEOUT_S "
                f"({settings.visibility_timeout_s} s)",
            )
            for t in chain.tasks
            if t.timeout_s * MAX_TIMEOUT_ESCALATION + settings.time_limit_grace_s
            >= settings.visibility_timeout_s
        ]
        if too_long:
            raise ChainValidationError(chain.id, too_long)
        return graph

    # --- running -------------------------------------------------------------------

    def submit(self, goal_or_chain: UserGoal | TaskChain, *, user: str | None = None) -> str:
        """Validate, record and enqueue a run; returns its run id.

        Nothing reaches the broker unless the chain is valid.
        """
        user_id = self._user(user)
        try:
            chain = (
                goal_or_chain if isinstance(goal_or_chain, TaskChain) else self.plan(goal_or_chain)
            )
            graph = self.validate(chain)
        except ChainValidationError as exc:
            # A refusal at the edge is a refusal too: the audit log keeps what was refused.
            self.runtime.history.record_audit(
                [
                    AuditEntry(
                        user_id=user_id,
                        action=AuditAction.CHAIN_REJECTED,
                        detail={
                            "chain_id": exc.chain_id,
                            "problems": [
                                {"task_ids": list(p.task_ids), "message": p.message}
                                for p in exc.problems
                            ],
                        },
                    )
                ]
            )
            raise
        run_id = new_run_id()
        compiled = compile_chain(
            self.app,
            chain,
            graph,
            self.runtime.registry,
            run_id=run_id,
            user_id=user_id,
            time_limit_grace_s=self.runtime.settings.time_limit_grace_s,
        )
        if self._run_locks is not None:  # before history knows the run (see run_locks)
            self._release_finished_locks(self._run_locks)
            self._run_locks.hold(run_id)
        try:
            self._start(run_id, user_id, chain, compiled.signature)
        except BaseException:
            if self._run_locks is not None:
                self._run_locks.release(run_id)
            raise
        return run_id

    def _start(self, run_id: str, user_id: str, chain: TaskChain, signature: Signature) -> None:
        submitted_at = utcnow()
        self.runtime.history.record_submission(
            run_id=run_id, user_id=user_id, goal=chain.goal, chain=chain, submitted_at=submitted_at
        )
        self.runtime.context.create_run(
            RunMeta(
                run_id=run_id,
                user_id=user_id,
                chain_id=chain.id,
                goal=chain.goal.description,
                submitted_at=submitted_at,
            ),
            chain,
        )
        if self._workers is not None:
            self._workers.start()
        # Runs are followed through the live context, never by joining Celery results:
        # saying so keeps the Redis result backend from subscribing to every sent task.
        with denied_join_result():
            signature.apply_async()

    def _release_finished_locks(self, locks: EmbeddedRunLocks) -> None:
        # A caller that never waits (it polls status) would otherwise hold a lock, and a
        # file descriptor, per run until close().
        # A lock with no history yet belongs to a submit still under way (another thread).
        for held in locks.held():
            record = self.runtime.history.get_run(held)
            if record is not None and record.state.is_final:
                locks.release(held)

    def _user(self, user: str | None) -> str:
        """The acting user (the default from settings), validated: ids form Redis keys."""
        return checked_user_id(user or self.runtime.settings.default_user)

    def _meta(self, run_id: str, user_id: str) -> RunMeta:
        meta = self.runtime.context.run_meta(user_id, run_id)
        if meta is None:
            raise RunNotFound(run_id)
        return meta

    def status(self, run_id: str, *, user: str | None = None) -> ExecutionStatus:
        """Where the run is now, task by task (from live context, else from history)."""
        user_id = self._user(user)
        meta = self.runtime.context.run_meta(user_id, run_id)
        if meta is None:
            return self._status_from_history(run_id, user_id)
        chain = self.runtime.context.chain(user_id, run_id)
        states = self.runtime.context.task_states(user_id, run_id)
        return ExecutionStatus(
            run_id=run_id,
            chain_id=meta.chain_id,
            user_id=user_id,
            goal=meta.goal,
            state=meta.state,
            tasks=[states[t.id] for t in chain.tasks if t.id in states],
            submitted_at=meta.submitted_at,
            finished_at=meta.finished_at,
            cancel_requested=meta.cancel_requested,
            pause_requested=meta.pause_requested,
        )

    def _status_from_history(self, run_id: str, user_id: str) -> ExecutionStatus:
        record = self.runtime.history.get_run(run_id)
        if record is None or record.user_id != user_id:
            raise RunNotFound(run_id)
        states = history_task_states(record, self.runtime.history.attempts(run_id))
        tasks = [states[t.id] for t in record.chain.tasks]
        return ExecutionStatus(
            run_id=run_id,
            chain_id=record.chain_id,
            user_id=user_id,
            goal=record.goal_description,
            state=RunState(record.state),
            tasks=tasks,
            submitted_at=record.submitted_at,
            finished_at=record.finished_at,
        )

    def watch(
        self, run_id: str, *, user: str | None = None, timeout_s: float | None = None
    ) -> Iterator[RunEvent]:
        """The run's events as they happen, from the first, until it finishes."""
        user_id = self._user(user)
        self._meta(run_id, user_id)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last_id = "0"
        while True:
            block_ms = _EVENT_BLOCK_MS
            if deadline is not None:
                remaining_ms = int((deadline - time.monotonic()) * 1000)
                if remaining_ms <= 0:
                    raise TimeoutError(f"run {run_id} did not finish within {timeout_s} s")
                block_ms = max(1, min(block_ms, remaining_ms))
            for event in self.runtime.context.read_events(user_id, run_id, last_id, block_ms):
                last_id = event.id
                yield event
                if event.type is EventType.RUN_FINISHED:
                    return

    def wait(
        self, run_id: str, timeout_s: float | None = None, *, user: str | None = None
    ) -> ExecutionResult:
        """Block until the run finishes (reading its event stream); its ExecutionResult."""
        user_id = self._user(user)
        for _event in self.watch(run_id, user=user_id, timeout_s=timeout_s):
            pass
        result = self.runtime.context.result(user_id, run_id)
        if result is None:
            raise RunNotFound(run_id)
        if self._run_locks is not None:
            self._run_locks.release(run_id)
        return result

    def cancel(self, run_id: str, *, user: str | None = None) -> bool:
        """Stop the run: tasks not yet started never start. False if already finished."""
        user_id = self._user(user)
        meta = self._meta(run_id, user_id)
        if meta.state.is_final:
            return False
        self.runtime.context.request_cancel(user_id, run_id)
        self._audit(user_id, AuditAction.CANCEL_REQUESTED, run_id)
        # Parked tasks (paused, or waiting for approval) come back once, to record
        # themselves cancelled, so the run reaches its final step.
        self._release_all(run_id, user_id, Decision.RESUMED, kind=None)
        return True

    # --- steering: pause, resume, approvals ----------------------------------------

    def pause(self, run_id: str, *, user: str | None = None) -> bool:
        """Running tasks finish; tasks not yet started park. False if the run has ended."""
        user_id = self._user(user)
        self._meta(run_id, user_id)
        if not self.runtime.context.set_pause(user_id, run_id, paused=True):
            return False
        self._audit(user_id, AuditAction.PAUSE_REQUESTED, run_id)
        return True

    def resume(self, run_id: str, *, user: str | None = None) -> int:
        """Continue a paused run: every parked task is sent again with its original id.

        Returns how many tasks were sent again (0 for a run that has ended).
        """
        user_id = self._user(user)
        self._meta(run_id, user_id)
        if not self.runtime.context.set_pause(user_id, run_id, paused=False):
            return 0
        self._audit(user_id, AuditAction.RESUME_REQUESTED, run_id)
        return self._release_all(run_id, user_id, Decision.RESUMED, ParkKind.PAUSE)

    def _release_all(
        self, run_id: str, user_id: str, decision: Decision, kind: ParkKind | None
    ) -> int:
        waiting = self.runtime.parking.waiting(
            run_id=run_id, user_id=user_id, kind=kind.value if kind else None
        )
        return sum(
            1
            for parked in waiting
            if release(
                self.runtime,
                run_id=run_id,
                task_id=parked.task_id,
                user_id=user_id,
                decision=decision,
                decided_by=user_id,
                kind=kind,
            )
            is not None
        )

    def approvals(self, *, user: str | None = None) -> list[ParkedTaskRecord]:
        """Tasks of the user's live runs waiting for a person's decision.

        A run whose live context expired (ORCH_CONTEXT_TTL_S) can no longer go on, so its
        parked tasks are not offered.
        """
        user_id = self._user(user)
        waiting = self.runtime.parking.waiting(user_id=user_id, kind=ParkKind.APPROVAL.value)
        return [p for p in waiting if self.runtime.context.run_meta(user_id, p.run_id)]

    def approve(self, run_id: str, task_id: str, *, user: str | None = None) -> bool:
        """Let a parked task go on (it runs at once, in its chain). False if nothing waits."""
        return self._decide(run_id, task_id, Decision.APPROVED, user)

    def reject(self, run_id: str, task_id: str, *, user: str | None = None) -> bool:
        """Skip a parked task; its dependents follow the skip rules."""
        return self._decide(run_id, task_id, Decision.REJECTED, user)

    def _decide(self, run_id: str, task_id: str, decision: Decision, user: str | None) -> bool:
        user_id = self._user(user)
        self._meta(run_id, user_id)
        released = release(
            self.runtime,
            run_id=run_id,
            task_id=task_id,
            user_id=user_id,
            decision=decision,
            decided_by=user_id,
            kind=ParkKind.APPROVAL,
        )
        if released is None:
            return False
        action = (
            AuditAction.TASK_APPROVED
            if decision is Decision.APPROVED
            else AuditAction.TASK_REJECTED
        )
        self._audit(user_id, action, run_id, task_id)
        return True

    def recovery_stats(self) -> list[RecoveryStatsRow]:
        """Success rate and mean time to recover by error type x strategy."""
        return self.runtime.recovery_log.recovery_stats()

    def dead_letters(self, *, limit: int = 100) -> list[DeadLetterRecord]:
        """Messages that could not be run: undecodable, unknown task, or killing workers."""
        return self.runtime.dead_letters.list(limit=limit)

    def _audit(
        self, user_id: str, action: AuditAction, run_id: str, task_id: str | None = None
    ) -> None:
        self.runtime.history.record_audit(
            [
                AuditEntry(
                    user_id=user_id,
                    action=action,
                    run_id=run_id,
                    task_id=task_id,
                    detail={},
                    at=utcnow(),
                )
            ]
        )

    def history(self, *, user: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The user's most recent runs, newest first."""
        user_id = self._user(user)
        return self.runtime.history.list_runs(user_id=user_id, limit=limit)

    # --- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        if self._workers is not None:
            self._workers.stop()
        if self._run_locks is not None:
            self._run_locks.release_all()
        self.runtime.close()

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
