"""Building a Celery app with the orchestrator's runtime and task types attached."""

from __future__ import annotations

from celery import Celery

from config.celery import celery_config
from config.settings import Settings
from orchestrator.history import HistoryStore, upgrade_if_sqlite
from orchestrator.permissions import Permissions
from orchestrator.runtime import Runtime, build_context_store
from tasks.base import bind_registry
from tasks.periodic import beat_schedule, bind_periodic
from tasks.poison import install_dead_letter_handlers
from tasks.registry import TaskRegistry


def create_app(
    settings: Settings | None = None,
    registry: TaskRegistry | None = None,
    *,
    migrate_sqlite: bool = True,
) -> Celery:
    """A configured Celery app whose ``runtime`` attribute holds the orchestrator's services.

    Plug-ins named in ``settings.plugins`` are loaded into the registry first. In the
    embedded default the SQLite history is migrated on the spot (there is no operator
    to run ``orchestrator db upgrade``).
    """
    # Imported here: the built-in handlers import the models, whose package imports this.
    from tasks.builtin import default_registry

    settings = settings or Settings()
    registry = registry or default_registry()
    registry.load_plugins(settings.plugins)
    app = Celery("orchestrator", set_as_current=False)
    app.config_from_object(celery_config(settings))
    database_url = settings.resolved_database_url
    if migrate_sqlite:
        upgrade_if_sqlite(database_url, settings.data_dir)
    runtime = Runtime(
        settings=settings,
        registry=registry,
        context=build_context_store(settings),
        history=HistoryStore.from_url(database_url),
        permissions=Permissions.load(settings.permissions_file),
        celery=app,
    )
    app.runtime = runtime
    bind_registry(app, registry)
    bind_periodic(app)
    app.conf.beat_schedule = beat_schedule(settings)
    install_dead_letter_handlers(app)
    return app
