"""check_cycles: the lineage graph must be acyclic; name each cycle in order."""

from __future__ import annotations

import graphlib

from orch.compiler import ir
from orch.compiler.diagnostics import Code, Diagnostic, error

# Each found cycle is broken at one edge before looking again; this bounds the
# work on a badly tangled graph while still reporting every independent cycle.
_MAX_CYCLES = 50


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles as lists [a, b, ..., a] where each node is upstream of the next."""
    graph = {node: set(ups) for node, ups in graph.items()}
    cycles = []
    while len(cycles) < _MAX_CYCLES:
        try:
            graphlib.TopologicalSorter(graph).prepare()
            break
        except graphlib.CycleError as exc:
            cycle = list(exc.args[1])[:-1]
            start = cycle.index(min(cycle))
            cycle = cycle[start:] + cycle[:start]
            cycles.append(cycle + [cycle[0]])
            # graphlib lists each node as a predecessor of the next one.
            graph[cycle[1 % len(cycle)]].discard(cycle[0])
    return cycles


def run(project: ir.Project, ctx) -> tuple[ir.Project, list[Diagnostic]]:
    assets = project.asset_map()
    graph = {a.key: {u for u in a.upstream if u in assets} for a in project.assets}
    diagnostics = []
    for cycle in find_cycles(graph):
        names = " -> ".join(assets[k].name for k in cycle)
        diagnostics.append(
            error(
                Code.CYCLE,
                f"dependency cycle: {names} ({' -> '.join(cycle)})",
                # A spec position (a task's line) is easier to act on than a manifest id.
                next((assets[k].origin for k in cycle if assets[k].origin.line is not None),
                     assets[cycle[0]].origin),
            )
        )
    return project, diagnostics
