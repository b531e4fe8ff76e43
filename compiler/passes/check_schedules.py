"""check_schedules: crons must be valid, and a task should not run more often
than an upstream it reads, since the extra runs see no new data."""

from __future__ import annotations

from orch.compiler import ir
from orch.compiler.cadence import cadence, cron_problem, describe
from orch.compiler.diagnostics import Code, Diagnostic, error, warning


def run(project: ir.Project, ctx) -> tuple[ir.Project, list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    bad: set[tuple[str, str]] = set()
    for asset in project.assets:
        if asset.schedule is not None:
            problem = cron_problem(asset.schedule.cron, asset.schedule.timezone)
            if problem:
                bad.add((asset.schedule.cron, asset.schedule.timezone))
                diagnostics.append(error(Code.INVALID_CRON, f"{asset.name}: {problem}", asset.origin))
    for pipeline in project.pipelines:
        key = (pipeline.schedule.cron, pipeline.schedule.timezone)
        if key in bad:
            continue
        problem = cron_problem(*key)
        if problem:
            bad.add(key)
            where = pipeline.origin or ir.Location(path=f"pipeline {pipeline.name}")
            diagnostics.append(error(Code.INVALID_CRON, f"pipeline {pipeline.name}: {problem}", where))

    assets = project.asset_map()
    schedule_of = {
        key: p.schedule
        for p in project.pipelines
        if (p.schedule.cron, p.schedule.timezone) not in bad
        for key in p.assets
    }
    for asset in project.assets:
        down = schedule_of.get(asset.key)
        if down is None or (down_cadence := cadence(down.cron)) is None:
            continue
        for up_key in asset.upstream:
            up = schedule_of.get(up_key)
            if up is None or up == down or (up_cadence := cadence(up.cron)) is None:
                continue
            if down_cadence.mean < up_cadence.mean:
                upstream = assets[up_key]
                diagnostics.append(
                    warning(
                        Code.UPSTREAM_SLOWER,
                        f"{asset.name} runs {down.cron} (every {describe(down_cadence.mean)}) but its "
                        f"upstream {upstream.name} runs {up.cron} (every {describe(up_cadence.mean)}): "
                        f"most runs of {asset.name} will see no new data from {upstream.name}",
                        asset.origin,
                    )
                )
    return project, diagnostics
