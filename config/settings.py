"""Settings read from the environment (prefix ``ORCH_``) or a ``.env`` file.

With no ``ORCH_BROKER_URL`` the orchestrator runs embedded: an in-memory broker,
in-process workers, an in-process Redis-compatible context store and SQLite history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting the orchestrator reads; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_prefix="ORCH_", env_file=".env", extra="ignore", frozen=True
    )

    broker_url: str | None = Field(
        default=None, description="Celery broker URL; unset means the embedded mode."
    )
    result_backend: str | None = Field(
        default=None,
        description="Celery result backend; must support chords (redis:// or cache+memory://).",
    )
    redis_url: str | None = Field(
        default=None, description="Redis for live context; unset means in-process store."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL for history; unset means SQLite in data_dir."
    )
    data_dir: Path = Field(
        default=Path(".orchestrator"), description="Where the embedded mode keeps its files."
    )
    backup_dir: Path | None = Field(
        default=None, description="Where backup_state writes; default data_dir/backups."
    )
    key_prefix: str = Field(default="orch", description="Prefix of every Redis key.")
    context_ttl_s: int = Field(default=7 * 24 * 3600, gt=0, description="TTL of live context.")
    default_user: str = Field(default="demo", description="User when none is given.")
    permissions_file: Path | None = Field(
        default=None, description="Roles and users; default config/permissions.yaml."
    )
    workflows_dir: Path | None = Field(
        default=None, description="Workflow templates; default config/workflows."
    )
    plugins: list[str] = Field(
        default_factory=list,
        description="Import paths 'module:function' called with the task registry at start.",
    )
    visibility_timeout_s: int = Field(
        default=3600, gt=0, description="Redis broker visibility timeout (> longest time limit)."
    )
    worker_concurrency: int = Field(default=2, gt=0, description="Processes/threads per pool.")
    time_limit_grace_s: int = Field(
        default=30, ge=1, description="Hard time limit = task timeout + this grace."
    )
    flower_port: int = Field(default=5555, description="Port Flower listens on.")
    recovery_file: Path | None = Field(
        default=None,
        description="Recovery strategies per error type; default config/recovery.yaml.",
    )
    in_process_timeouts: bool | None = Field(
        default=None,
        description="Enforce task timeouts with a timer thread (for pools that ignore Celery's "
        "time limits: threads, solo); unset means only in the embedded mode.",
    )

    # --- workspace module (projects, files, terminal, git) -------------------------------
    workspace_root: Path | None = Field(
        default=None,
        description="Root of the users' workspaces, <root>/<user>/<project>/; "
        "default data_dir/workspaces.",
    )
    workspace_max_file_bytes: int = Field(
        default=10_000_000, gt=0, description="Largest file a workspace task may write or grow."
    )
    workspace_max_read_bytes: int = Field(
        default=1_000_000, gt=0, description="Largest file a file_operation read returns."
    )
    commands_file: Path | None = Field(
        default=None,
        description="Terminal command allow-list per module and role; default "
        "config/commands.yaml.",
    )
    terminal_max_output_bytes: int = Field(
        default=65_536, gt=0, description="Captured stdout/stderr per command (the tail is kept)."
    )
    terminal_max_timeout_s: float = Field(
        default=600.0, gt=0, description="Upper bound of a terminal command's own timeout."
    )
    terminal_path: list[Path] | None = Field(
        default=None,
        description="Directories searched for allowed executables; default the Python "
        "environment's bin, /usr/local/bin, /usr/bin and /bin.",
    )
    terminal_env_passthrough: list[str] = Field(
        default_factory=list,
        description="Worker environment variables passed to terminal commands (never ORCH_*).",
    )
    terminal_isolation: Literal["namespaces", "none"] = Field(
        default="namespaces",
        description="How terminal commands are confined: 'namespaces' runs each in a jail "
        "(user, mount and PID namespaces via util-linux unshare; other workspaces and the data "
        "dir hidden; rlimits) and refuses code-running commands (python, pytest, node) when "
        "the jail is unavailable. 'none' runs them unconfined as the worker's OS user: project "
        "code can then read every workspace, the worker's secrets and fork without limit. "
        "Only for single-user development machines.",
    )
    terminal_limit_nproc: int = Field(
        default=256, gt=0, description="RLIMIT_NPROC of a jailed command (processes of its uid)."
    )
    terminal_limit_as_bytes: int = Field(
        default=4 * 1024**3, gt=0, description="RLIMIT_AS (address space) of a jailed command."
    )
    terminal_limit_fsize_bytes: int = Field(
        default=100 * 1024**2, gt=0, description="RLIMIT_FSIZE: largest file a command writes."
    )
    terminal_cpu_margin_s: int = Field(
        default=5, ge=0, description="RLIMIT_CPU of a jailed command is its timeout plus this."
    )
    git_author_name: str = Field(
        default="AI Orchestrator", min_length=1, description="Author of commits made by tasks."
    )
    git_author_email: str = Field(
        default="orchestrator@localhost", min_length=1, description="E-mail of that author."
    )
    git_allow_push: bool = Field(
        default=False, description="Allow git_operation push (to allow-listed remotes only)."
    )
    git_remote_allowlist: list[str] = Field(
        default_factory=list,
        description="URL prefixes a push may go to, besides the user's own workspace.",
    )
    workspace_max_backup_bytes: int = Field(
        default=200 * 1024 * 1024,
        gt=0,
        description="Cap of one project's saved backups; a change needing more is refused.",
    )

    # -- portfolio -----------------------------------------------------------------------
    reports_dir: Path | None = Field(
        default=None, description="Where generate_report writes; default data_dir/reports."
    )
    benchmark_symbol: str = Field(
        default="SPY", description="Benchmark instrument of analyses and new portfolios."
    )
    trade_slippage_bps: float = Field(
        default=5.0,
        ge=0,
        le=1000,
        description="Paper broker: fill price moves this much against the order.",
    )
    trade_fee_bps: float = Field(
        default=1.0, ge=0, le=1000, description="Paper broker: fee as basis points of the notional."
    )
    trade_fee_min: float = Field(
        default=1.0, ge=0, description="Paper broker: minimum fee per fill."
    )
    trade_approval_notional: float = Field(
        default=25_000.0,
        gt=0,
        description="Trades with a larger notional wait for a person's approval.",
    )
    alerts_interval_s: float = Field(
        default=300.0, gt=0, description="How often Celery beat evaluates every portfolio's alerts."
    )

    # -- system ----------------------------------------------------------------------------
    health_interval_s: float = Field(
        default=60.0, gt=0, description="How often Celery beat checks and records system health."
    )
    health_keep_days: float = Field(
        default=7.0, gt=0, description="Recorded health reports older than this are pruned."
    )
    backup_secret: SecretStr | None = Field(
        default=None,
        description="Key of the HMAC-SHA256 signature BACKUP_STATE puts on backups; when set, "
        "restore refuses a file without a valid signature unless an admin passes --unsigned.",
    )

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: everything runs in this process."""
        return self.broker_url is None

    @property
    def enforce_timeouts_in_process(self) -> bool:
        """Whether handlers run under our own deadline (Celery's limits need prefork)."""
        return self.embedded if self.in_process_timeouts is None else self.in_process_timeouts

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'history.db').resolve()}"

    @property
    def resolved_reports_dir(self) -> Path:
        return self.reports_dir if self.reports_dir is not None else self.data_dir / "reports"

    @property
    def resolved_backup_dir(self) -> Path:
        return self.backup_dir if self.backup_dir is not None else self.data_dir / "backups"

    @property
    def resolved_workspace_root(self) -> Path:
        """Where the users' workspaces live (absolute)."""
        root = self.workspace_root
        return (root if root is not None else self.data_dir / "workspaces").resolve()
