"""ANALYZE_PORTFOLIO: the analytics of ``analytics.py`` over the market data of a portfolio."""

from __future__ import annotations

from orchestrator.models.params import AnalyzePortfolioParams, Timeframe
from tasks.context import HandlerContext
from tasks.errors import InvalidInputError, ResourceUnavailableError
from tasks.portfolio.analysis_models import PortfolioAnalysis
from tasks.portfolio.analytics import AnalysisOptions, analyze_holdings, window_start
from tasks.portfolio.common import load_portfolio
from tasks.portfolio.context import publish_portfolio_context
from tasks.registry import Inputs


def analyze_portfolio(
    params: AnalyzePortfolioParams, inputs: Inputs, ctx: HandlerContext
) -> PortfolioAnalysis:
    portfolio = load_portfolio(ctx, params.portfolio_id)
    services = ctx.runtime.portfolio
    market = services.market
    quantities = portfolio.quantities()
    symbols = sorted(quantities)
    if not symbols:
        raise InvalidInputError(
            f"portfolio {portfolio.id} holds no positions: there is nothing to analyse",
            portfolio_id=portfolio.id,
        )
    as_of = params.as_of or market.latest_date(symbols)
    if as_of is None:
        raise ResourceUnavailableError(
            f"no market data for {', '.join(symbols)}: import prices first "
            "(orchestrator market import FILE, or orchestrator portfolio seed-demo)",
            symbols=symbols,
        )
    benchmark_symbol = (
        (params.benchmark or portfolio.benchmark_symbol or ctx.runtime.settings.benchmark_symbol)
        if params.include_benchmarks
        else None
    )
    if params.timeframe is Timeframe.MAX:
        # The whole history: one query, and the window starts at its first price.
        prices = market.closes(symbols, end=as_of)
        start = prices.index.min().date() if not prices.empty else as_of
    else:
        # window_start needs the first available date only for timeframe=max.
        start = window_start(as_of, params.timeframe, as_of)
        prices = market.closes(symbols, start=start, end=as_of)
    if prices.empty:
        raise ResourceUnavailableError(
            f"no prices for {', '.join(symbols)} between {start} and {as_of}", symbols=symbols
        )
    benchmark = None
    if benchmark_symbol:
        closes = market.closes([benchmark_symbol], start=start, end=as_of)
        benchmark = closes.get(benchmark_symbol)
    options = AnalysisOptions(
        risk_free_rate=params.risk_free_rate,
        var_confidence=params.var_confidence,
        risk_metrics=frozenset(params.risk_metrics),
        performance_metrics=frozenset(params.performance_metrics),
        include_benchmark=params.include_benchmarks,
        include_correlation=params.analysis_type in ("risk", "comprehensive"),
    )
    analysis = analyze_holdings(
        prices,
        quantities,
        portfolio.cash,
        benchmark,
        options,
        portfolio_id=portfolio.id,
        portfolio_name=portfolio.name,
        benchmark_symbol=benchmark_symbol,
        analysis_type=params.analysis_type,
        timeframe=params.timeframe,
    )
    publish_portfolio_context(ctx, portfolio.id)
    return analysis.model_copy(update={"currency": portfolio.currency})
