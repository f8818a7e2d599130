"""Portfolio analysis latency: 500 instruments x 10 years of daily prices -> PortfolioAnalysis.

Generates geometric-Brownian-motion prices with a fixed seed (2520 trading days + the start,
500 instruments, a benchmark), then times ``analyze_holdings`` end to end. That covers the
valuation, every risk metric, the 500 x 500 correlation matrix and the pydantic model.
It runs ``reps`` times after one warm-up and reports the median and p95 wall time
against the 2.0 s target::

    .venv/bin/python bench/portfolio_analysis.py            # summary lines
    .venv/bin/python bench/portfolio_analysis.py --json     # one JSON object
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd

from orchestrator.models.params import AnalysisType, Timeframe
from tasks.portfolio.analysis_models import PortfolioAnalysis
from tasks.portfolio.analytics import AnalysisOptions, analyze_holdings

#: Wall-time target of one analysis, in seconds (the issue's budget on 2 cores).
TARGET_S = 2.0
TRADING_DAYS_PER_YEAR = 252


def _percentile(sorted_s: list[float], q: float) -> float:
    index = min(len(sorted_s) - 1, max(0, round(q * (len(sorted_s) - 1))))
    return sorted_s[index]


def make_market(
    instruments: int, years: int, seed: int
) -> tuple[pd.DataFrame, pd.Series, dict[str, float]]:
    """GBM closes (annual drift 2-12 %, volatility 15-45 %), a benchmark and quantities."""
    rng = np.random.default_rng(seed)
    days = years * TRADING_DAYS_PER_YEAR + 1  # 2520 returns need 2521 closes
    dates = pd.bdate_range("2015-01-02", periods=days)
    drift_annual = rng.uniform(0.02, 0.12, instruments)
    vol_annual = rng.uniform(0.15, 0.45, instruments)
    dt_years = 1.0 / TRADING_DAYS_PER_YEAR
    log_steps = (drift_annual - vol_annual**2 / 2) * dt_years + vol_annual * np.sqrt(
        dt_years
    ) * rng.standard_normal((days, instruments))
    log_steps[0] = 0.0
    start_prices = rng.uniform(10.0, 500.0, instruments)
    symbols = [f"SYM{i:03d}" for i in range(instruments)]
    prices = pd.DataFrame(
        start_prices * np.exp(np.cumsum(log_steps, axis=0)), index=dates, columns=symbols
    )
    bench_steps = 0.0003 + 0.011 * rng.standard_normal(days)
    bench_steps[0] = 0.0
    benchmark = pd.Series(400.0 * np.exp(np.cumsum(bench_steps)), index=dates, name="SPY")
    lots = rng.integers(1, 1000, instruments).astype(float).tolist()
    quantities = dict(zip(symbols, lots, strict=True))
    return prices, benchmark, quantities


def measure_portfolio_analysis(
    instruments: int = 500, years: int = 10, reps: int = 7, seed: int = 42
) -> dict[str, Any]:
    """Median/p95/min/max seconds of ``analyze_holdings`` over ``reps`` runs.

    ``target_pass`` judges the p95, the stricter of the two figures.
    """
    prices, benchmark, quantities = make_market(instruments, years, seed)
    options = AnalysisOptions(risk_free_rate=0.02)

    def analyse() -> PortfolioAnalysis:
        return analyze_holdings(
            prices,
            quantities,
            250_000.0,
            benchmark,
            options,
            portfolio_id="bench_portfolio",
            portfolio_name="Benchmark portfolio",
            benchmark_symbol="SPY",
            analysis_type=AnalysisType.COMPREHENSIVE,
            timeframe=Timeframe.MAX,
        )

    analyse().model_dump_json()  # warm-up: pydantic validators, BLAS threads, page faults
    samples: list[float] = []
    for _ in range(reps):
        start = time.perf_counter()
        analysis = analyse()
        samples.append(time.perf_counter() - start)
    start = time.perf_counter()
    payload = analysis.model_dump_json()
    serialise_s = time.perf_counter() - start
    samples.sort()
    p95 = _percentile(samples, 0.95)
    return {
        "instruments": instruments,
        "days": prices.shape[0],
        "reps": reps,
        "median_s": round(statistics.median(samples), 4),
        "p95_s": round(p95, 4),
        "min_s": round(samples[0], 4),
        "max_s": round(samples[-1], 4),
        "serialise_json_s": round(serialise_s, 4),
        "json_bytes": len(payload),
        "correlation_size": len(analysis.correlation.symbols) if analysis.correlation else 0,
        "series_points": len(analysis.series),
        "target_s": TARGET_S,
        "target_pass": p95 <= TARGET_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--reps", type=int, default=7, help="timed runs (default 7)")
    parser.add_argument("--instruments", type=int, default=500)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    result = measure_portfolio_analysis(args.instruments, args.years, args.reps, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"analyze_holdings: {result['instruments']} instruments x {result['days']} days, "
        f"{result['reps']} runs"
    )
    print(f"median {result['median_s']:.3f} s   p95 {result['p95_s']:.3f} s")
    print(f"model_dump_json {result['serialise_json_s']:.3f} s ({result['json_bytes']} bytes)")
    print(f"target {TARGET_S:.1f} s: {'PASS' if result['target_pass'] else 'FAIL'}")


if __name__ == "__main__":
    main()
