"""The plan as a graph: validation, order, series-parallel decomposition, critical path."""

from orchestrator.dag.graph import Graph, find_cycle
from orchestrator.dag.series_parallel import Leaf, Parallel, Series, SPNode, decompose
from orchestrator.dag.validate import (
    ChainValidationError,
    Problem,
    TaskCatalog,
    TaskTypeSpec,
    validate_chain,
)

__all__ = [
    "ChainValidationError",
    "Graph",
    "Leaf",
    "Parallel",
    "Problem",
    "SPNode",
    "Series",
    "TaskCatalog",
    "TaskTypeSpec",
    "decompose",
    "find_cycle",
    "validate_chain",
]
