"""The knowledge base on real PostgreSQL and on SQLite, UPDATE_KNOWLEDGE in real runs, the CLI."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic_core import PydanticSerializationError
from sqlalchemy import Engine, delete, func, select, update

from orchestrator import Orchestrator
from orchestrator.cli import main
from orchestrator.history import AuditAction, AuditEntry, create_history_engine, upgrade
from orchestrator.history.tables import AuditLogRow
from orchestrator.knowledge import KnowledgeBase
from orchestrator.knowledge.base import IdempotencyKeyConflictError
from orchestrator.knowledge.tables import DocumentKind, KnowledgeDocumentRow, KnowledgeItemRow
from orchestrator.models import AITask, Module, RunStatus, TaskChain, TaskDependency, UserGoal
from orchestrator.models.params import UpdateKnowledgeParams
from tasks.assistant.update_knowledge import update_knowledge
from tasks.context import HandlerContext
from tasks.errors import DependencyFailureError, InvalidInputError
from tests.support.portfolios import new_portfolio

TIMEOUT_S = 60


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def kb(
    request: pytest.FixtureRequest, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KnowledgeBase]:
    """A migrated database of each dialect with the starter knowledge base loaded."""
    if request.param == "postgresql":
        url = pg_url
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('kb') / 'history.sqlite'}"
    upgrade(url)
    engine = create_history_engine(url)
    base = KnowledgeBase(engine)
    base.ensure_starter()
    yield base
    engine.dispose()


def engine_of(kb: KnowledgeBase) -> Engine:
    return kb._engine


def test_search_ranks_the_relevant_item_first(kb: KnowledgeBase) -> None:
    hits = kb.search("What is the Sharpe ratio?", user_id=uid("user"), limit=5)
    assert hits[0].title == "Sharpe ratio"
    assert hits[0].source == "starter:risk-metrics"
    assert "excess return" in hits[0].snippet
    assert hits[0].rank >= hits[-1].rank
    concentration = kb.search("HHI concentration", user_id=uid("user"), limit=3)
    assert concentration[0].title == "Concentration and the Herfindahl-Hirschman index"


def test_stemming_finds_other_forms_of_a_word(kb: KnowledgeBase) -> None:
    user = uid("user")
    (item_id,) = kb.add_text(
        user_id=user, title="Desk notes", text="Quarterly volatility of zorblax shares spiked."
    )
    found = [hit.item_id for hit in kb.search("zorblax volatilities", user_id=user)]
    assert found[0] == item_id
    # and the starter article on volatility is found from the plural too
    titles = [hit.title for hit in kb.search("volatilities", user_id=user, limit=10)]
    assert "Volatility" in titles


def test_punctuation_and_operators_never_break_a_search(kb: KnowledgeBase) -> None:
    user = uid("user")
    # Operators and quotes are plain words (or nothing): the search finds what the words do
    found = {
        query: [h.title for h in kb.search(query, user_id=user, limit=3)]
        for query in ['"unbalanced', "AND OR NOT", "sharpe*)(", "NEAR(a b)", "-- ;", "", "'"]
    }
    assert found["sharpe*)("][0] == "Sharpe ratio"
    assert found["-- ;"] == found[""] == found["'"] == []
    assert found["NEAR(a b)"] == [h.title for h in kb.search("near a b", user_id=user, limit=3)]
    assert kb.search("!!!", user_id=user) == []
    assert kb.search('sharpe" OR "', user_id=user)[0].title == "Sharpe ratio"


def test_users_see_their_own_and_the_shared_items_only(kb: KnowledgeBase) -> None:
    alice, bob = uid("alice"), uid("bob")
    (secret,) = kb.add_text(user_id=alice, title="Plan", text="The quxvolt unicorn strategy.")
    assert [h.item_id for h in kb.search("quxvolt", user_id=alice)] == [secret]
    assert kb.search("quxvolt", user_id=bob) == []
    assert kb.get(secret, user_id=bob) is None
    item = kb.get(secret, user_id=alice)
    assert item is not None and item.user_id == alice and item.source == "text"
    # Both see the starter items.
    for user in (alice, bob):
        assert kb.search("Sortino", user_id=user)[0].source == "starter:risk-metrics"


def test_documents_lists_each_user_their_own_and_the_shared_ones(kb: KnowledgeBase) -> None:
    alice, bob = uid("alice"), uid("bob")
    kb.add_text(user_id=alice, title="Alice notes", text="Alice's private plan.")
    kb.add_text(user_id=bob, title="Bob notes", text="Bob's private plan.")
    mine = kb.documents(user_id=alice, include_shared=False)
    assert [d.title for d in mine] == ["Alice notes"] and not mine[0].shared
    listed = kb.documents(user_id=bob)
    titles = {d.title for d in listed}
    assert "Bob notes" in titles and "Alice notes" not in titles
    assert all(d.shared for d in listed if d.title != "Bob notes")
    assert {d.title for d in listed if d.shared} >= {"Risk metrics"}


def test_an_idempotency_key_is_never_another_users(kb: KnowledgeBase) -> None:
    alice, bob, key = uid("alice"), uid("bob"), f"effect:{uid('k')}"

    def add(user: str) -> tuple[list[int], bool]:
        return kb.add_document(
            user_id=user, kind=DocumentKind.TEXT, title="T", text="Zyxwv.", origin="text",
            idempotency_key=key,
        )  # fmt: skip

    ids, created = add(alice)
    assert created and add(alice) == (ids, False)
    # Bob gets no ids of Alice's: the key is refused
    with pytest.raises(IdempotencyKeyConflictError, match="another user"):
        add(bob)
    assert kb.search("zyxwv", user_id=bob) == []
    # nor a shared document's key
    starter_key = next(
        d for d in kb.documents(user_id=bob) if d.shared and d.title == "Risk metrics"
    )
    with engine_of(kb).connect() as conn:
        taken = conn.execute(
            select(KnowledgeDocumentRow.idempotency_key).where(
                KnowledgeDocumentRow.id == starter_key.document_id
            )
        ).scalar_one()
    with pytest.raises(IdempotencyKeyConflictError):
        kb.add_document(
            user_id=bob, kind=DocumentKind.TEXT, title="T", text="x", origin="t",
            idempotency_key=taken,
        )  # fmt: skip


def test_the_audit_entry_is_written_with_the_items_or_not_at_all(kb: KnowledgeBase) -> None:
    user, run_id = uid("user"), uid("run")
    engine = engine_of(kb)
    entry = AuditEntry(
        user_id=user, action=AuditAction.KNOWLEDGE_ADDED, run_id=run_id, task_id="t1",
        detail={"title": "Notes"},
    )  # fmt: skip

    def audited() -> list[dict[str, object]]:
        with engine.connect() as conn:
            rows = conn.execute(select(AuditLogRow.detail).where(AuditLogRow.run_id == run_id))
            return [dict(r) for r in rows.scalars()]

    text = "## A\n\nQuendle one.\n\n## B\n\nQuendle two."
    ids, created = kb.add_document(
        user_id=user, kind=DocumentKind.RUN, title="Notes", text=text, origin="run",
        idempotency_key=f"effect:{run_id}:t1:0", source_run_id=run_id, audit=entry,
    )  # fmt: skip
    assert created and audited() == [{"title": "Notes", "item_ids": ids, "words": 4}]
    # A repeat stores and audits nothing
    again = kb.add_document(
        user_id=user, kind=DocumentKind.RUN, title="Notes", text=text, origin="run",
        idempotency_key=f"effect:{run_id}:t1:0", source_run_id=run_id, audit=entry,
    )  # fmt: skip
    assert again == (ids, False) and len(audited()) == 1
    # An audit entry that cannot be written takes the items with it (one transaction)
    broken = entry.model_copy(update={"detail": {"not_json": object()}})
    before = kb.count_items()
    with pytest.raises(PydanticSerializationError):
        kb.add_document(
            user_id=user, kind=DocumentKind.RUN, title="Other", text="Quendle three.",
            origin="run", idempotency_key=f"effect:{run_id}:t1:1", audit=broken,
        )  # fmt: skip
    assert kb.count_items() == before and len(audited()) == 1


def test_the_starter_set_loads_once_and_follows_changed_files(kb: KnowledgeBase) -> None:
    engine = engine_of(kb)

    def starter_items() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(KnowledgeItemRow)
                    .where(KnowledgeItemRow.user_id.is_(None))
                ).scalar_one()
            )

    before = starter_items()
    assert before > 30
    assert kb.ensure_starter() == 0
    assert starter_items() == before
    # A stored version that no longer matches its file is replaced, not duplicated.
    with engine.begin() as conn:
        conn.execute(
            update(KnowledgeDocumentRow)
            .where(KnowledgeDocumentRow.origin == "risk-metrics")
            .values(idempotency_key="starter:risk-metrics:old-version")
        )
    assert kb.ensure_starter() > 0
    assert starter_items() == before
    assert len(kb.search("Calmar", user_id=uid("user"))) >= 1


def test_an_effect_key_stores_once(kb: KnowledgeBase) -> None:
    user, key = uid("user"), f"{uid('run')}:t1:0"
    text = "## Findings\n\nGlimmerstone rose.\n\n## Risks\n\nGlimmerstone is volatile."
    first = kb.add_text(user_id=user, title="Run notes", text=text, effect_key=key)
    again = kb.add_text(user_id=user, title="Run notes", text=text, effect_key=key)
    assert first == again and len(first) == 2
    assert len(kb.search("glimmerstone", user_id=user)) == 2


def test_deleted_items_leave_the_index(kb: KnowledgeBase) -> None:
    user = uid("user")
    (item_id,) = kb.add_text(user_id=user, title="Temp", text="Vanishing plumbago note.")
    assert kb.search("plumbago", user_id=user)
    with engine_of(kb).begin() as conn:
        conn.execute(delete(KnowledgeItemRow).where(KnowledgeItemRow.id == item_id))
    assert kb.search("plumbago", user_id=user) == []


# -- UPDATE_KNOWLEDGE in real runs ----------------------------------------------------------


def review_chain(portfolio_id: str) -> TaskChain:
    return TaskChain(
        goal=UserGoal(description="review my portfolio and keep what we learn"),
        tasks=[
            AITask(
                id="t1",
                type="analyze_portfolio",
                module=Module.PORTFOLIO,
                parameters={"portfolio_id": portfolio_id},
            ),
            AITask(
                id="t2",
                type="update_knowledge",
                module=Module.AI_ASSISTANT,
                parameters={"title": "Portfolio review", "tags": ["review"]},
            ),
        ],
        dependencies=[
            TaskDependency.model_validate({"from": "t1", "to": "t2", "type": "data_flow"})
        ],
    )


def test_a_run_stores_what_it_learned_once(orch: Orchestrator, market_engine: Engine) -> None:
    # Given a run that analyses a portfolio and keeps the analysis as knowledge
    portfolio = new_portfolio(market_engine, positions={"AAPL": (10, 150.0), "MSFT": (5, 90.0)})
    chain = review_chain(portfolio.id)
    run_id = orch.submit(chain)
    result = orch.wait(run_id, timeout_s=TIMEOUT_S)
    assert result.status is RunStatus.COMPLETED, result.failed_tasks
    output = next(t.output for t in result.completed_tasks if t.task_id == "t2")
    assert output is not None and output["created"] is True and output["sources"] == ["t1"]
    # Then its items are searchable by the user, with the run as their source
    kb = KnowledgeBase(market_engine)
    hits = kb.search("portfolio review annualized return", user_id="demo", limit=50)
    from_run = [h for h in hits if h.source == f"run:{run_id}/t2"]
    assert from_run and set(from_run[0].tags) == {"review", "run"}
    item = kb.get(output["item_ids"][0], user_id="demo")
    assert item is not None and item.source_run_id == run_id and item.source_task_id == "t2"
    everything = "\n".join(
        found.body for i in output["item_ids"] if (found := kb.get(i, user_id="demo"))
    )
    assert portfolio.id in everything and "AAPL" in everything and "%" in everything
    # When the same task is delivered again (same effect key)
    ctx = HandlerContext(
        run_id=run_id,
        task_id="t2",
        user_id="demo",
        attempt=2,
        chain=chain,
        task=chain.tasks[1],
        runtime=orch.runtime,
    )
    analysis = next(t.output for t in result.completed_tasks if t.task_id == "t1")
    params = UpdateKnowledgeParams.model_validate(chain.tasks[1].parameters)
    again = update_knowledge(params, {"t1": analysis}, ctx)
    # Then it returns the same items and stores nothing new, audited once
    assert again.item_ids == output["item_ids"] and again.created is False
    with market_engine.connect() as conn:
        stored = conn.execute(
            select(func.count())
            .select_from(KnowledgeDocumentRow)
            .where(KnowledgeDocumentRow.source_run_id == run_id)
        ).scalar_one()
    assert stored == 1
    audited = [
        a for a in orch.runtime.history.audit_log(run_id=run_id)
        if a.action is AuditAction.KNOWLEDGE_ADDED
    ]  # fmt: skip
    assert len(audited) == 1 and audited[0].detail["item_ids"] == output["item_ids"]


def test_update_knowledge_refuses_to_store_nothing(orch: Orchestrator) -> None:
    chain = TaskChain(
        goal=UserGoal(description="keep knowledge"),
        tasks=[
            AITask(
                id="t1",
                type="update_knowledge",
                module=Module.AI_ASSISTANT,
                parameters={"title": "Nothing"},
            )
        ],
        dependencies=[],
    )
    ctx = HandlerContext(
        run_id=uid("run"),
        task_id="t1",
        user_id="demo",
        attempt=1,
        chain=chain,
        task=chain.tasks[0],
        runtime=orch.runtime,
    )
    with pytest.raises(InvalidInputError, match="nothing to store"):
        update_knowledge(UpdateKnowledgeParams(title="Nothing"), {}, ctx)
    missing = UpdateKnowledgeParams.model_validate({"title": "x", "source": "t9_results"})
    with pytest.raises(DependencyFailureError, match="t9"):
        update_knowledge(missing, {}, ctx)
    # An upstream task that produced nothing is nothing to store, not "n/a"
    nothing: tuple[object, ...] = (None, {}, [], "")
    for empty in nothing:
        with pytest.raises(InvalidInputError, match="nothing to store"):
            update_knowledge(UpdateKnowledgeParams(title="x"), {"t0": empty}, ctx)
    whole = UpdateKnowledgeParams.model_validate({"title": "x", "source": "t0_results"})
    with pytest.raises(InvalidInputError, match="nothing to store"):
        update_knowledge(whole, {"t0": None}, ctx)
    # A part the output does not have is refused, not silently the whole output
    part = UpdateKnowledgeParams.model_validate({"title": "x", "source": "t0_schema"})
    with pytest.raises(InvalidInputError, match="'schema' of t0's output, which has none"):
        update_knowledge(part, {"t0": {"rows": [1, 2]}}, ctx)
    other_run = dataclasses.replace(ctx, run_id=uid("run"))
    mixed = update_knowledge(
        UpdateKnowledgeParams(title="Mixed"),
        {"t0": None, "t2": {"note": "Frobnic rises."}},
        other_run,
    )
    assert mixed.created and mixed.sources == ["t2"]
    text_only = UpdateKnowledgeParams(title="Lesson", text="Rebalance the wimbleton sleeve.")
    out = update_knowledge(text_only, {}, ctx)
    assert out.created and out.sources == [] and out.items[0].word_count == 4


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_add_and_search_round_trip(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"ORCH_DATA_DIR": str(tmp_path / "data"), "ORCH_DATABASE_URL": None}
    doc = tmp_path / "notes.md"
    doc.write_text("# Desk notes\n\n## Hedging\n\nHedge the fizzwick exposure with puts.\n")

    def run(*args: str) -> str:
        result = runner.invoke(main, ["knowledge", *args], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    added = json.loads(run("add", str(doc), "--tag", "desk", "--user", "alice", "--json"))
    assert added["created"] is True and added["title"] == "Desk notes"
    again = json.loads(run("add", str(doc), "--user", "alice", "--json"))
    assert again == {**added, "created": False}
    hits = json.loads(run("search", "fizzwick hedges", "--user", "alice", "--json"))
    assert hits[0]["title"] == "Hedging" and hits[0]["tags"] == ["desk"]
    assert hits[0]["source"].startswith("document:")
    assert json.loads(run("search", "fizzwick", "--user", "bob", "--json")) == []
    run("add", "--text", "Snorkelvane is a made-up ticker.", "--title", "Tickers", "--user", "bob")
    assert "Snorkelvane" in run("search", "snorkelvane", "--user", "bob")
    shown = run("show", str(hits[0]["item_id"]), "--user", "alice")
    assert "Hedge the fizzwick exposure" in shown
    listed = json.loads(run("list", "--user", "alice", "--json"))
    assert {d["title"] for d in listed} >= {"Desk notes", "Risk metrics"}


def test_cli_titles_and_tags_follow_the_stored_limits(tmp_path: Path) -> None:
    env = {"ORCH_DATA_DIR": str(tmp_path / "data"), "ORCH_DATABASE_URL": None}
    heading = "Notes on " + "x" * 240  # 249 characters: the database keeps 300
    doc = tmp_path / "long.md"
    doc.write_text(f"# {heading}\n\nA quizzical note.\n")
    runner = CliRunner()
    added = runner.invoke(main, ["knowledge", "add", str(doc), "--json"], env=env)
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["title"] == heading
    too_long = runner.invoke(
        main, ["knowledge", "add", "--text", "t", "--title", "y" * 301], env=env
    )
    assert too_long.exit_code == 2 and "longer than 300" in too_long.output
    for tag in ("Upper", "-lead", "x" * 65):
        bad = runner.invoke(main, ["knowledge", "add", str(doc), "--tag", tag], env=env)
        assert bad.exit_code == 2 and "invalid tag" in bad.output, tag


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"PK\x03\x04\x00\x00binary", "binary file"), (b"\xff\xfe\xfa", "not valid UTF-8")],
)
def test_cli_refuses_files_that_are_not_text(tmp_path: Path, content: bytes, message: str) -> None:
    env = {"ORCH_DATA_DIR": str(tmp_path / "data"), "ORCH_DATABASE_URL": None}
    bad = tmp_path / "bad.md"
    bad.write_bytes(content)
    result = CliRunner().invoke(main, ["knowledge", "add", str(bad)], env=env)
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    listed = CliRunner().invoke(main, ["knowledge", "list", "--mine", "--json"], env=env)
    assert json.loads(listed.output) == []
