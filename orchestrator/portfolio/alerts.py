"""Alerts: price-threshold, percent-move and drawdown rules per portfolio.

Rules are evaluated against the latest prices (``evaluate_rule`` is pure); a triggered
rule is recorded once per price date with the values that triggered it, so evaluating
every few minutes (Celery beat) on unchanged prices records nothing new.

Thresholds: ``price_above`` / ``price_below`` in the instrument's price; ``percent_move``
as a fraction of the last close (0.05 = a 5 % move either way, day over day);
``drawdown`` as a fraction below the trailing one-year peak (0.10 = 10 % below), of the
instrument when the rule names a symbol, else of the whole portfolio's value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select

from orchestrator.history.portfolio_tables import AlertEventRow, AlertRow
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
    if rule.kind in (AlertKind.PRICE_ABOVE, AlertKind.PRICE_BELOW, AlertKind.PERCENT_MOVE):
        if rule.symbol is None:
            return f"{rule.kind.value} needs a symbol"
        latest = market.price_on(rule.symbol, as_of)
        if latest is None:
            return f"no price for {rule.symbol}"
        if rule.kind is not AlertKind.PERCENT_MOVE:
            return Observation(latest.close, latest.date, {"close": latest.close})
        previous = market.price_on(rule.symbol, latest.date - timedelta(days=1))
        if previous is None:
            return f"no earlier price for {rule.symbol}"
        move = latest.close / previous.close - 1.0
        detail = {"close": latest.close, "previous_close": previous.close, "move": move}
        return Observation(abs(move), latest.date, detail | {"previous_date": str(previous.date)})
    # Drawdown, of one instrument or of the portfolio's current holdings plus cash.
    symbols = [rule.symbol] if rule.symbol else sorted(portfolio.quantities())
    end = market.latest_date(symbols) if as_of is None else as_of
    if end is None or not symbols:
        return "no prices for the drawdown window"
    closes = market.closes(symbols, start=end - DRAWDOWN_LOOKBACK, end=end).ffill().dropna()
    if closes.empty:
        return "no prices for the drawdown window"
    if rule.symbol:
        values = closes[rule.symbol]
    else:
        quantities = portfolio.quantities()
        weights = [quantities[s] for s in closes.columns]
        values = closes.mul(weights, axis=1).sum(axis=1) + portfolio.cash
    peak = float(values.max())
    last = float(values.iloc[-1])
    drawdown = 1.0 - last / peak if peak > 0 else 0.0
    import pandas as pd  # only drawdown rules need it; see market_data

    peak_date = pd.Timestamp(values.index[int(values.to_numpy().argmax())]).date()
    return Observation(
        drawdown,
        values.index[-1].date(),
        {"value": last, "peak": peak, "peak_date": str(peak_date), "drawdown": drawdown},
    )


class AlertBook(Repository):
    """Alert rules and the alerts they triggered."""

    def upsert_rules(self, portfolio_id: str, rules: list[AlertRule], *, now: datetime) -> int:
        """Add rules not yet there (same kind, symbol and threshold); returns how many."""
        added = 0
        with self._tx() as session:
            existing = {
                (r.kind, r.symbol, r.threshold)
                for r in session.scalars(
                    select(AlertRow).where(AlertRow.portfolio_id == portfolio_id)
                )
            }
            for rule in rules:
                key = (rule.kind.value, rule.symbol, rule.threshold)
                if key in existing:
                    continue
                existing.add(key)
                session.add(
                    AlertRow(
                        portfolio_id=portfolio_id,
                        kind=rule.kind.value,
                        symbol=rule.symbol,
                        threshold=rule.threshold,
                        active=True,
                        created_at=now,
                    )
                )
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
        )
        with self._tx() as session:
            result = cast(CursorResult[Any], session.execute(statement))
            return bool(result.rowcount)

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
