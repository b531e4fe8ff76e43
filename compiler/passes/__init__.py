"""Passes over the IR, run in one ordered tuple.

Each pass is a module with `run(project, ctx) -> (project, diagnostics)`. A
pass may rewrite the project (none does yet); it never raises on bad input,
it reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from orch.compiler import ir
from orch.compiler.diagnostics import Diagnostic
from orch.compiler.passes import check_cycles, check_partitions, check_schedules, check_slas


@attrs.frozen(kw_only=True)
class PassContext:
    """What passes may know beyond the IR: recorded run durations per asset key."""

    durations: dict[str, float] | None = attrs.field(default=None, eq=False)
    durations_source: str | None = None


Pass = Callable[[ir.Project, PassContext], tuple[ir.Project, Sequence[Diagnostic]]]

PASSES: tuple[Pass, ...] = (
    check_cycles.run,
    check_schedules.run,
    check_slas.run,
    check_partitions.run,
)


def run_passes(project: ir.Project, ctx: PassContext) -> tuple[ir.Project, list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    for run in PASSES:
        project, found = run(project, ctx)
        diagnostics.extend(found)
    return project, diagnostics
