"""``orchestrator market import`` and ``orchestrator portfolio seed-demo|list|show`` as a user
runs them (embedded: SQLite in the data dir, no services)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.portfolio.demo import DEMO_CASH, DEMO_HOLDINGS
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e


def test_import_rejects_a_bad_file_with_line_numbers_and_keeps_nothing(
    embedded_cli: Cli, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,symbol,close\n2024-01-02,ACME,10\n2024-01-03,ACME,abc\nyesterday,ACME,9\n")
    rejected = embedded_cli("market", "import", str(bad))
    assert rejected.returncode == 2
    assert "line 3: close 'abc' must be a number > 0" in rejected.output
    assert "line 4: date 'yesterday' is not an ISO date" in rejected.output
    assert "nothing imported" in rejected.output
    assert "ACME" not in embedded_cli("market", "symbols").stdout

    good = tmp_path / "good.csv"
    good.write_text("date,symbol,close\n2024-01-02,ACME,10\n2024-01-03,ACME,10.5\n")
    imported = embedded_cli("market", "import", str(good))
    assert imported.returncode == 0, imported.output
    assert "imported 2 prices of 1 symbol(s) (ACME), 2024-01-02 to 2024-01-03" in imported.output
    assert "ACME\t2024-01-03" in embedded_cli("market", "symbols").stdout


def test_seed_demo_then_list_and_show_holdings_with_values(embedded_cli: Cli) -> None:
    seeded = embedded_cli("portfolio", "seed-demo")
    assert seeded.returncode == 0, seeded.output
    assert f"{len(DEMO_HOLDINGS)} positions" in seeded.output
    # Seeding again keeps the portfolio as it is.
    assert embedded_cli("portfolio", "seed-demo").returncode == 0

    (listed,) = embedded_cli("portfolio", "list", "--json").json()
    assert listed["portfolio_id"] == "demo" and listed["cash"] == DEMO_CASH

    shown = embedded_cli("portfolio", "show", "demo", "--json").json()
    holdings = {h["symbol"]: h for h in shown["holdings"]}
    assert {s: h["quantity"] for s, h in holdings.items()} == DEMO_HOLDINGS
    aapl = holdings["AAPL"]
    # Valued at the last shipped close of AAPL (2018-04-11).
    assert aapl["price_date"] == "2018-04-11"
    assert aapl["market_value"] == pytest.approx(60 * 172.440002, abs=0.01)
    invested = sum(h["market_value"] for h in holdings.values())
    assert shown["total_value"] == pytest.approx(invested + DEMO_CASH, abs=0.05)
    table = embedded_cli("portfolio", "show", "demo")
    assert "AAPL" in table.stdout and "total" in table.stdout


def test_another_users_portfolio_is_not_shown(embedded_cli: Cli) -> None:
    assert (
        embedded_cli("portfolio", "seed-demo", "--user", "alice", "--id", "alices").returncode == 0
    )
    denied = embedded_cli("portfolio", "show", "alices", "--user", "bob")
    assert denied.returncode == 1
    assert "portfolio alices does not exist" in denied.output
    assert embedded_cli("portfolio", "list", "--user", "bob", "--json").json() == []
