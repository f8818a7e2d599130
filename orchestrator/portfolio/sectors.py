"""Which sector each shipped instrument belongs to (``data/sectors.csv``).

The classification is GICS as it stood before the September 2018 reshuffle, because the
shipped stock prices end in April 2018: Alphabet, Facebook and Alibaba are Information
Technology and AT&T is Telecommunication Services, as index providers reported them then.
SPY is an index fund, not a company; it gets a sector of its own so it never counts as
one of the market's sectors. A symbol the file does not list is ``UNCLASSIFIED``.

Read with the standard library (no pandas): the CLI and the planner may ask too.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from orchestrator.models.base import StrictModel

SECTORS_FILE = Path(__file__).resolve().parent / "data" / "sectors.csv"
#: The sector of a symbol the map does not know.
UNCLASSIFIED = "Unclassified"
#: The sector of index funds (SPY): a basket of the market, not a part of it.
INDEX_FUND = "Broad Market ETF"
#: Sectors that are not sectors of the market: never ranked or counted as one.
NON_MARKET_SECTORS = frozenset({UNCLASSIFIED, INDEX_FUND})


class Classification(StrictModel):
    """One instrument's sector and name."""

    symbol: str
    sector: str
    name: str


def parse_sectors(lines: Iterable[str]) -> dict[str, Classification]:
    """``symbol,sector,name`` CSV lines (with that header) as classifications by symbol.

    A malformed file is a packaging bug, so it raises ValueError naming the line rather
    than classifying instruments wrongly.
    """
    reader = csv.DictReader(lines)
    if reader.fieldnames != ["symbol", "sector", "name"]:
        raise ValueError(f"sectors file header must be symbol,sector,name: {reader.fieldnames}")
    found: dict[str, Classification] = {}
    for row in reader:
        symbol, sector, name = (row.get(k) or "" for k in ("symbol", "sector", "name"))
        if not symbol.strip() or not sector.strip() or symbol in found:
            raise ValueError(f"sectors file line {reader.line_num}: bad or repeated row {row}")
        found[symbol] = Classification(symbol=symbol, sector=sector, name=name)
    return found


@lru_cache(maxsize=1)
def sector_map() -> Mapping[str, Classification]:
    """The shipped classifications by symbol (read once per process, read-only)."""
    with SECTORS_FILE.open(encoding="utf-8", newline="") as handle:
        return MappingProxyType(parse_sectors(handle))


def classify(symbol: str) -> Classification:
    """The classification of ``symbol``; unknown symbols are ``UNCLASSIFIED``, named by symbol."""
    known = sector_map().get(symbol)
    return known or Classification(symbol=symbol, sector=UNCLASSIFIED, name=symbol)
