"""check_slas: freshness targets and completion SLAs must be positive and
achievable: a schedule that runs every 24h cannot keep data 1h fresh, and an
SLA shorter than the recorded critical path will be missed every run."""

from __future__ import annotations

import graphlib
from datetime import timedelta

from orch.compiler import ir
from orch.compiler.cadence import cadence, cron_problem, describe
from orch.compiler.diagnostics import Code, Diagnostic, error


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g}"


def _non_positive(project: ir.Project) -> list[Diagnostic]:
    found = []

    def check(value: timedelta | None, what: str, where: ir.Location) -> None:
        if value is not None and value <= timedelta(0):
            found.append(
                error(
                    Code.NON_POSITIVE_DURATION,
                    f"{what} must be positive, got {_hours(value)}h",
                    where,
                )
            )

    for asset in project.assets:
        if asset.freshness is not None:
            check(asset.freshness.max_age, f"{asset.name}: freshness target", asset.origin)
            check(asset.freshness.warn_age, f"{asset.name}: freshness warning threshold", asset.origin)
        if asset.sla is not None:
            check(asset.sla.complete_within, f"{asset.name}: completion SLA", asset.origin)
    for pipeline in project.pipelines:
        if pipeline.sla is not None and pipeline.origin is not None:
            check(pipeline.sla.complete_within, f"pipeline {pipeline.name}: completion SLA", pipeline.origin)
    return found


def _infeasible_freshness(project: ir.Project) -> list[Diagnostic]:
    found = []
    schedule_of = {key: p.schedule for p in project.pipelines for key in p.assets}
    for asset in project.assets:
        schedule = schedule_of.get(asset.key)
        target = asset.freshness.max_age if asset.freshness else None
        if schedule is None or target is None or target <= timedelta(0):
            continue
        if cron_problem(schedule.cron, schedule.timezone) or (c := cadence(schedule.cron)) is None:
            continue
        if c.max_gap > target:
            found.append(
                error(
                    Code.INFEASIBLE_FRESHNESS,
                    f"{asset.name} must be at most {describe(target)} old (freshness target) but it "
                    f"runs {schedule.cron}, so just before a run its data is up to "
                    f"{describe(c.max_gap)} old; schedule it at least every {describe(target)}, "
                    f"or relax the freshness target to {_hours(c.max_gap)} hours or more",
                    asset.origin,
                )
            )
    return found


def _longest_paths(keys: list[str], upstream: dict[str, tuple[str, ...]], durations: dict[str, float]):
    """For each key, the slowest chain of recorded runs ending at it."""
    members = set(keys)
    graph = {k: {u for u in upstream[k] if u in members} for k in keys}
    best: dict[str, tuple[float, tuple[str, ...]]] = {}
    for key in graphlib.TopologicalSorter(graph).static_order():
        before = max((best[u] for u in graph[key]), default=(0.0, ()), key=lambda b: b[0])
        best[key] = (before[0] + durations.get(key, 0.0), before[1] + (key,))
    return best


def _critical_path(project: ir.Project, ctx) -> list[Diagnostic]:
    if not ctx.durations:
        return []
    assets = project.asset_map()
    upstream = {a.key: a.upstream for a in project.assets}
    found = []
    for pipeline in project.pipelines:
        try:
            best = _longest_paths(list(pipeline.assets), upstream, ctx.durations)
        except graphlib.CycleError:
            continue  # check_cycles reports it
        deadlines = [(assets[k].sla.complete_within, k, assets[k].origin, assets[k].name)
                     for k in pipeline.assets if assets[k].sla is not None]
        if pipeline.sla is not None and pipeline.origin is not None:
            end = max(best, key=lambda k: best[k][0], default=None)
            if end is not None:
                deadlines.append((pipeline.sla.complete_within, end, pipeline.origin, f"pipeline {pipeline.name}"))
        for within, end, where, what in deadlines:
            total, chain = best[end]
            if within > timedelta(0) and total > within.total_seconds():
                steps = " -> ".join(f"{assets[k].name} ({ctx.durations.get(k, 0.0):.0f}s)" for k in chain)
                found.append(
                    error(
                        Code.SLA_BELOW_CRITICAL_PATH,
                        f"{what}: completion SLA of {describe(within)} is shorter than the recorded "
                        f"critical path of {total / 60:.1f} min in {ctx.durations_source or 'run results'}: "
                        f"{steps}",
                        where,
                    )
                )
    return found


def run(project: ir.Project, ctx) -> tuple[ir.Project, list[Diagnostic]]:
    return project, [*_non_positive(project), *_infeasible_freshness(project), *_critical_path(project, ctx)]
