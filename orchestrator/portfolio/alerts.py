"""Alerts: price-threshold, percent-move and drawdown rules per portfolio.

Rules are evaluated against the latest prices (``evaluate_rule`` is pure); a triggered
rule is recorded once per price date with the values that triggered it, so evaluating
every few minutes (Celery beat) on unchanged prices records nothing new. Rules are
validated when submitted (``AlertRule``); adding one already there does nothing, even when
two requests add it at once.

Thresholds and how they compare:

- ``price_above`` / ``price_below``: in the instrument's price, inclusive (fires when the
  last close is ``>=`` / ``<=`` the threshold).
- ``percent_move``: a fraction (0.05 = a 5 % move either way) of the previous close: the
  last close is compared with the previous *available* close, however many days before it
  that was (a weekend, a holiday or a gap in the data); fires when ``|move| >=`` it.
- ``drawdown``: a fraction below the trailing one-year peak (0.10 = 10 % below), fires at
  ``>=``; of the instrument when the rule names a symbol, else of the whole portfolio.

Portfolio drawdown values each day of the window with the current holdings and cash:
closes are carried forward over gaps, and a holding without any price yet that day (listed
later, or no data at all) contributes nothing until it has one. The window is therefore
never cut short by a late-listed holding; the detail names the holdings that had no price
in the window (``unpriced``) and those priced only from a later date (``priced_from``),
since either makes the value an understatement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from orchestrator.history.portfolio_tables import PORTFOLIO_SCOPE, AlertEventRow, AlertRow
from orchestrator.history.repository import Repository
from orchestrator.models.base import StrictModel
from orchestrator.models.params import AlertKind, AlertRule
from orchestrator.portfolio.market_data import MarketDataProvider
from orchestrator.portfolio.records import Portfolio

#: Window of the peak a drawdown alert measures from.
DRAWDOWN_LOOKBACK = timedelta(days=365)


class StoredAlert(StrictModel):
    id: int
    portfolio_id: str
    kind: AlertKind
    symbol: str | None
    threshold: float
    active: bool


class TriggeredAlert(StrictModel):
    alert_id: int
    kind: AlertKind
    symbol: str | None
    threshold: float
    observed_value: float
    price_date: date
    detail: dict[str, Any]
    #: False when this alert had already been recorded for this price date.
    new: bool = True


class AlertsReport(StrictModel):
    portfolio_id: str
    evaluated: int
    triggered: list[TriggeredAlert]
    #: Rules that could not be evaluated (no prices), with the reason.
    skipped: dict[str, str]


@dataclass(frozen=True)
class Observation:
    """What a rule is evaluated on."""

    value: float
    price_date: date
    detail: dict[str, Any]


def evaluate_rule(kind: AlertKind, threshold: float, observation: Observation) -> bool:
    """Whether a rule of ``kind`` fires on ``observation`` (see the module doc for units)."""
    if kind is AlertKind.PRICE_ABOVE:
        return observation.value >= threshold
    if kind is AlertKind.PRICE_BELOW:
        return observation.value <= threshold
    # percent_move and drawdown observe a non-negative size of move.
    return observation.value >= threshold


def observe(
    rule: StoredAlert, portfolio: Portfolio, market: MarketDataProvider, as_of: date | None
) -> Observation | str:
    """The value ``rule`` is evaluated on, or why there is none."""
    if rule.kind is AlertKind.PERCENT_MOVE:
        # Without a symbol: the largest move of any holding.
        symbols = [rule.symbol] if rule.symbol else sorted(portfolio.quantities())
        moves = [_move(symbol, market, as_of) for symbol in symbols]
        found = [m for m in moves if isinstance(m, Observation)]
        if not found:
            return moves[0] if moves else "the portfolio holds nothing"
        return max(found, key=lambda m: m.value)
    if rule.kind in (AlertKind.PRICE_ABOVE, AlertKind.PRICE_BELOW):
        if rule.symbol is None:
            return f"{rule.kind.value} needs a symbol"
        latest = market.price_on(rule.symbol, as_of)
        if latest is None:
            return f"no price for {rule.symbol}"
        return Observation(latest.close, latest.date, {"close": latest.close})
    return _drawdown(rule, portfolio, market, as_of)


def _move(symbol: str, market: MarketDataProvider, as_of: date | None) -> Observation | str:
    """Size of the last close's move from the previous available close."""
    latest = market.price_on(symbol, as_of)
    if latest is None:
        return f"no price for {symbol}"
    previous = market.price_on(symbol, latest.date - timedelta(days=1))
    if previous is None:
        return f"no earlier price for {symbol}"
    move = latest.close / previous.close - 1.0
    detail = {
        "symbol": symbol,
        "close": latest.close,
        "previous_close": previous.close,
        "previous_date": str(previous.date),
        "move": move,
    }
    return Observation(abs(move), latest.date, detail)


def _drawdown(
    rule: StoredAlert, portfolio: Portfolio, market: MarketDataProvider, as_of: date | None
) -> Observation | str:
    """Drawdown of one instrument or of the portfolio's current holdings plus cash."""
    import pandas as pd  # only drawdown rules need it; see market_data

    symbols = [rule.symbol] if rule.symbol else sorted(portfolio.quantities())
    end = market.latest_date(symbols) if as_of is None else as_of
    if end is None or not symbols:
        return "no prices for the drawdown window"
    start = end - DRAWDOWN_LOOKBACK
    closes = market.closes(symbols, start=start, end=end).ffill().dropna(axis=1, how="all")
    if closes.empty:
        return "no prices for the drawdown window"
    detail: dict[str, Any] = {}
    if rule.symbol:
        values = closes[rule.symbol].dropna()
    else:
        quantities = portfolio.quantities()
        weights = pd.Series({s: quantities[s] for s in closes.columns}, dtype=float)
        # A holding with no price (yet) that day is NaN here and adds nothing to the sum.
        values = closes.mul(weights, axis=1).sum(axis=1) + portfolio.cash
        first_priced = closes.notna().idxmax()  # each holding's first day with a price
        detail["unpriced"] = [s for s in symbols if s not in closes.columns]
        detail["priced_from"] = {
            str(s): str(pd.Timestamp(day).date())
            for s, day in first_priced.items()
            if pd.Timestamp(day) > pd.Timestamp(closes.index[0])
        }
    peak = float(values.max())
    last = float(values.iloc[-1])
    drawdown = 1.0 - last / peak if peak > 0 else 0.0
    peak_date = pd.Timestamp(values.index[int(values.to_numpy().argmax())]).date()
    return Observation(
        drawdown,
        pd.Timestamp(values.index[-1]).date(),
        {"value": last, "peak": peak, "peak_date": str(peak_date), "drawdown": drawdown} | detail,
    )


class AlertBook(Repository):
    """Alert rules and the alerts they triggered."""

    def upsert_rules(self, portfolio_id: str, rules: list[AlertRule], *, now: datetime) -> int:
        """Add rules not yet there (same kind, symbol and threshold); returns how many.

        ``INSERT ... ON CONFLICT DO NOTHING`` on (portfolio, kind, scope, threshold): safe
        when requests add the same rules at once, and portfolio-wide rules (no symbol)
        are unique too, through their scope.
        """
        insert = self._upsert()
        added = 0
        with self._tx() as session:
            for rule in rules:
                statement = (
                    insert(AlertRow)
                    .values(
                        portfolio_id=portfolio_id,
                        kind=rule.kind.value,
                        symbol=rule.symbol,
                        scope=rule.symbol or PORTFOLIO_SCOPE,
                        threshold=rule.threshold,
                        active=True,
                        created_at=now,
                    )
                    .on_conflict_do_nothing(
                        index_elements=["portfolio_id", "kind", "scope", "threshold"]
                    )
                    .returning(AlertRow.id)
                )
                # RETURNING, not rowcount: with the implicit RETURNING of the new id,
                # psycopg reports a rowcount of -1 whether or not a row was inserted.
                if session.execute(statement).first() is not None:
                    added += 1
        return added

    def rules(self, portfolio_id: str) -> list[StoredAlert]:
        with self._tx() as session:
            rows = session.scalars(
                select(AlertRow).where(AlertRow.portfolio_id == portfolio_id).order_by(AlertRow.id)
            ).all()
            return [
                StoredAlert(
                    id=r.id,
                    portfolio_id=r.portfolio_id,
                    kind=AlertKind(r.kind),
                    symbol=r.symbol,
                    threshold=r.threshold,
                    active=r.active,
                )
                for r in rows
            ]

    def record(
        self, rule: StoredAlert, observation: Observation, *, run_id: str | None, now: datetime
    ) -> bool:
        """Record a trigger; False when this rule already fired for this price date."""
        insert = self._upsert()
        statement = (
            insert(AlertEventRow)
            .values(
                alert_id=rule.id,
                portfolio_id=rule.portfolio_id,
                price_date=observation.price_date,
                observed_value=observation.value,
                threshold=rule.threshold,
                detail=observation.detail,
                run_id=run_id,
                triggered_at=now,
            )
            .on_conflict_do_nothing(index_elements=["alert_id", "price_date"])
            .returning(AlertEventRow.id)  # a row only when inserted (see upsert_rules)
        )
        with self._tx() as session:
            return session.execute(statement).first() is not None

    def events(self, portfolio_id: str) -> list[dict[str, Any]]:
        with self._tx() as session:
            rows = session.scalars(
                select(AlertEventRow)
                .where(AlertEventRow.portfolio_id == portfolio_id)
                .order_by(AlertEventRow.id)
            ).all()
            return [
                {
                    "alert_id": r.alert_id,
                    "price_date": r.price_date,
                    "observed_value": r.observed_value,
                    "threshold": r.threshold,
                    "detail": r.detail,
                    "run_id": r.run_id,
                }
                for r in rows
            ]


def evaluate_portfolio(
    book: AlertBook,
    market: MarketDataProvider,
    portfolio: Portfolio,
    *,
    now: datetime,
    run_id: str | None = None,
    as_of: date | None = None,
) -> AlertsReport:
    """Evaluate every active rule of ``portfolio`` and record what triggered."""
    triggered: list[TriggeredAlert] = []
    skipped: dict[str, str] = {}
    rules = [r for r in book.rules(portfolio.id) if r.active]
    for rule in rules:
        observation = observe(rule, portfolio, market, as_of)
        if isinstance(observation, str):
            skipped[f"{rule.id}:{rule.kind.value}"] = observation
            continue
        if not evaluate_rule(rule.kind, rule.threshold, observation):
            continue
        new = book.record(rule, observation, run_id=run_id, now=now)
        triggered.append(
            TriggeredAlert(
                alert_id=rule.id,
                kind=rule.kind,
                symbol=rule.symbol,
                threshold=rule.threshold,
                observed_value=observation.value,
                price_date=observation.price_date,
                detail=observation.detail,
                new=new,
            )
        )
    return AlertsReport(
        portfolio_id=portfolio.id, evaluated=len(rules), triggered=triggered, skipped=skipped
    )
