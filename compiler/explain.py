"""`orch explain`: one asset, told whole: where it is defined, what it reads and
feeds, when it runs and by when it must be done, how it is checked, and every
diagnostic the frontends and passes gave about it, with their reasoning."""

from __future__ import annotations

from collections.abc import Sequence

from orch.compiler import ir
from orch.compiler.diagnostics import Diagnostic
from orch.compiler.durations import format_duration
from orch.compiler.lineage import about

_RUNNERS = {
    ir.DbtBuild: lambda r: f"dbt, selecting {r.select} in {r.project_dir}",
    ir.SqlmeshRun: lambda r: f"sqlmesh run --select-model {r.model} in {r.project_dir}",
    ir.SqlQuery: lambda r: f"its SQL ({r.dialect}){' into ' + str(r.destination) if r.destination else ''}"
                           f"{', write mode ' + r.write_mode if r.destination else ''}",
    ir.Command: lambda r: " ".join(r.argv) + (f" (in {r.cwd})" if r.cwd else ""),
}


def _names(keys: Sequence[str], assets: dict[str, ir.Asset], pipeline_of: dict[str, str]) -> list[str]:
    out = []
    for key in keys:
        asset = assets.get(key)
        if asset is None:
            out.append(f"{key} (not in the project)")
            continue
        where = pipeline_of.get(key) or ("built outside orch's pipelines" if asset.runner is None else "")
        out.append(f"{asset.name} [{key}]" + (f", {where}" if where else ""))
    return out


def explain(project: ir.Project, diagnostics: Sequence[Diagnostic], key: str) -> str:
    assets = project.asset_map()
    asset = assets[key]
    pipeline_of = project.pipeline_of()
    pipelines = {p.name: p for p in project.pipelines}
    downstream = sorted(a.key for a in project.assets if key in a.upstream)
    lines = [f"{asset.name}  [{asset.key}]", f"  defined at   {asset.origin}"]
    what = [asset.kind.value]
    if asset.layer:
        what.append(f"layer {asset.layer}")
    if asset.materialization:
        what.append(f"materialized as {asset.materialization}")
    lines.append(f"  is           {', '.join(what)}")
    if asset.relation is not None:
        lines.append(f"  table        {asset.relation}" + (f" ({asset.relation.engine})" if asset.relation.engine
                                                            else ""))
    runner = _RUNNERS[type(asset.runner)](asset.runner) if asset.runner is not None else (
        "nothing here: it is built outside orch's pipelines")
    lines.append(f"  runs         {runner}")
    pipeline = pipelines.get(pipeline_of.get(key, ""))
    if pipeline is not None:
        bits = [pipeline.name, f"schedule {pipeline.schedule.cron} ({pipeline.schedule.timezone})"]
        if pipeline.sla is not None:
            bits.append(f"pipeline SLA {format_duration(pipeline.sla.complete_within)}"
                        + (" (critical)" if pipeline.sla.critical else ""))
        if pipeline.origin is not None:
            bits.append(f"declared at {pipeline.origin}")
        lines.append(f"  pipeline     {', '.join(bits)}")
    elif asset.schedule is not None:
        lines.append(f"  schedule     {asset.schedule.cron} ({asset.schedule.timezone})")
    if asset.sla is not None:
        lines.append(f"  SLA          done within {format_duration(asset.sla.complete_within)} of the scheduled start"
                     + (" (critical)" if asset.sla.critical else ""))
    if asset.freshness is not None:
        f = asset.freshness
        parts = [f"at most {format_duration(f.max_age)} old" if f.max_age else "",
                 f"warn after {format_duration(f.warn_age)}" if f.warn_age else "",
                 f"measured on {f.timestamp_column}" if f.timestamp_column else "measured from table metadata"]
        lines.append(f"  freshness    {', '.join(p for p in parts if p)}")
    if asset.partitioning is not None:
        p = asset.partitioning
        lines.append(f"  partitioned  on {p.field} ({p.data_type}) by {p.granularity or 'range'}"
                     + (f" from {p.start}" if p.start else ""))
    if asset.critical:
        lines.append("  critical     yes: failures page, and its runs retry more")
    if asset.owner or asset.tags:
        lines.append(f"  owner, tags  {asset.owner or '-'}; {', '.join(asset.tags) or '-'}")
    lines.append(f"  upstream     {len(asset.upstream)}")
    lines.extend(f"    {n}" for n in _names(asset.upstream, assets, pipeline_of))
    lines.append(f"  downstream   {len(downstream)}")
    lines.extend(f"    {n}" for n in _names(downstream, assets, pipeline_of))
    checks = project.checks_by_asset().get(key, ())
    lines.append(f"  checks       {len(checks)}")
    for check in checks:
        params = ", ".join(f"{name}={value}" for name, value in ir.param_items(check.params))
        lines.append(f"    {check.name}: {check.kind.value}, {check.severity.value}"
                     + (", blocking" if check.blocking else "") + (f" ({params})" if params else "")
                     + f"  [{check.origin}]")
    said = about(diagnostics, asset)
    lines.append(f"  diagnostics  {len(said) or 'none'}")
    for d in said:
        lines.append(f"    {d.level.value}[{d.code.value}] {d.message}")
    return "\n".join(lines)
