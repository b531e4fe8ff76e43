"""From inputs to a checked Project: the frontends, grouping and passes in order.

The CLI and the seed-named commands both go through `build`, so they agree on
what an input means.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence

import attrs

from orch.compiler import config, ir
from orch.compiler.backend import Backend
from orch.compiler.diagnostics import Code, CompileError, Diagnostic, Settings, error
from orch.compiler.frontends import dbt, dsl, sqlmesh
from orch.compiler.grouping import declared_pipeline, group_pipelines
from orch.compiler.passes import PassContext, run_passes


@attrs.frozen(kw_only=True)
class BuildOptions:
    select: str | None = None
    exclude: str | None = None
    #: None: the spec's `defaults { group_by }`, else "layer".
    group_by: str | None = None
    dbt_project_dir: str | None = None
    profiles_dir: str | None = None
    dbt_target: str | None = None
    #: None: the spec's `defaults { schedule }`, else @daily.
    default_schedule: ir.Schedule | None = None
    run_results: str | None = None
    runner: str = "dbt"
    #: The command line's; `[tool.orch]` and specs add theirs.
    diagnostics: Settings = attrs.Factory(Settings)


def input_kind(path: str) -> str:
    """`dbt`, `sqlmesh` or `orch`, from what the path looks like."""
    if os.path.isdir(path):
        return "sqlmesh"
    if path.endswith(".orch"):
        return "orch"
    if path.endswith((".json", ".json.gz")):
        return "dbt"
    raise CompileError(
        error(
            Code.UNKNOWN_INPUT_KIND,
            "cannot tell what this input is: give a dbt manifest.json, a SQLMesh project "
            "folder or a .orch spec file",
            ir.Location(path=path),
        )
    )


def _lower(path: str, options: BuildOptions) -> dbt.Lowered | dsl.SpecLowered:
    kind = input_kind(path)
    if kind == "orch":
        return dsl.lower_file(path)
    if kind == "sqlmesh":
        return sqlmesh.lower(path)
    return dbt.lower_file(
        path,
        dbt.DbtOptions(
            select=options.select,
            exclude=options.exclude,
            project_dir=options.dbt_project_dir,
            profiles_dir=options.profiles_dir,
            target=options.dbt_target,
            runner=options.runner,
        ),
    )


def load_durations(path: str) -> dict[str, float]:
    """Execution time per unique_id from a dbt run_results.json."""
    where = ir.Location(path=path)
    try:
        with open(path, encoding="utf-8") as fh:
            document = json.load(fh)
    except OSError as exc:
        raise CompileError(error(Code.INVALID_RUN_RESULTS, f"cannot read run results: {exc.strerror}", where))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CompileError(error(Code.INVALID_RUN_RESULTS, f"run results are not JSON: {exc}", where))
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list):
        raise CompileError(
            error(Code.INVALID_RUN_RESULTS, "not a dbt run_results.json: no \"results\" list", where)
        )
    durations = {}
    for result in results:
        if not isinstance(result, dict):
            continue
        uid, seconds = result.get("unique_id"), result.get("execution_time")
        if isinstance(uid, str) and isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            durations[uid] = max(durations.get(uid, 0.0), float(seconds))
    return durations


def _relation_keys(relation: ir.Relation) -> list[tuple]:
    keys = []
    if relation.database and relation.schema:
        keys.append((relation.database.lower(), relation.schema.lower(), relation.name.lower()))
    if relation.schema:
        keys.append((relation.schema.lower(), relation.name.lower()))
    return keys


def join_by_relation(assets: dict[str, ir.Asset], checks: Iterable[ir.Check] = ()) -> dict[str, ir.Asset]:
    """Point reads of a runner-less table (a dbt source, a SQLMesh external) at the
    asset that builds that table, when one does: a seed that loads what a source
    names, a SQLMesh model reading a dbt model, a dbt source over a SQLMesh model.

    The lineage then says who must run first, and every backend waits for it.
    """
    builders: dict[tuple, str] = {}
    for asset in assets.values():
        if asset.runner is not None and asset.relation is not None:
            for key in _relation_keys(asset.relation):
                builders.setdefault(key, asset.key)
    replace: dict[str, str] = {}
    for asset in assets.values():
        if asset.runner is None and asset.relation is not None:
            for key in _relation_keys(asset.relation):
                if key in builders:
                    replace[asset.key] = builders[key]
                    break
    if not replace:
        return assets
    out = dict(assets)
    for key, asset in assets.items():
        upstream = tuple(dict.fromkeys(replace[u] if u in replace and replace[u] != key else u
                                       for u in asset.upstream))
        if upstream != asset.upstream:
            out[key] = attrs.evolve(asset, upstream=upstream)
    # A SQLMesh external now known to be another input's table has no more readers.
    readers = {u for a in out.values() for u in a.upstream}
    checked = {c.asset for c in checks}
    for key in replace:
        if key.startswith(sqlmesh.EXTERNAL_PREFIX) and key not in readers and key not in checked:
            del out[key]
    return out


def merge_dbt_projects(projects: Iterable[ir.DbtProject]) -> tuple[ir.DbtProject, ...]:
    """One entry per project folder, however its path is written: two inputs may
    read the same project, and a selector is safe only against all of its nodes."""
    written: dict[str, str] = {}
    nodes: dict[str, dict[str, ir.DbtNode]] = {}
    for project in projects:
        where = os.path.abspath(project.project_dir)
        written.setdefault(where, project.project_dir)
        nodes.setdefault(where, {}).update((n.unique_id, n) for n in project.nodes)
    return tuple(ir.DbtProject(project_dir=written[d], nodes=tuple(sorted(n.values(), key=lambda n: n.unique_id)))
                 for d, n in sorted(nodes.items()))


def build(inputs: Sequence[str], options: BuildOptions,
          backends: Sequence[Backend] = ()) -> tuple[ir.Project, list[Diagnostic]]:
    """Lower, merge, group and check, with what `backends` cannot express, under the
    project's diagnostic settings; raises CompileError when an input is unusable."""
    settings = options.diagnostics.merged(config.settings_for(inputs))
    lowered = [_lower(path, options) for path in inputs]
    diagnostics: list[Diagnostic] = [d for part in lowered for d in part.diagnostics]
    assets: dict[str, ir.Asset] = {}
    for part in lowered:
        for asset in part.assets:
            first = assets.get(asset.key)
            if first is None or first == asset:
                assets[asset.key] = asset
            else:
                diagnostics.append(
                    error(
                        Code.DUPLICATE_ASSET,
                        f"{asset.key} is defined twice: also at {first.origin}",
                        asset.origin,
                    )
                )
    checks = {c.key: c for part in lowered for c in part.checks}
    assets = join_by_relation(assets, checks.values())
    ordered = tuple(sorted(assets.values(), key=lambda a: a.key))
    specs = [part for part in lowered if isinstance(part, dsl.SpecLowered)]
    declared: list[ir.Pipeline] = []
    for spec in specs:
        for p in spec.pipelines:
            if any(d.name == p.name for d in declared):
                diagnostics.append(error(Code.DUPLICATE_DEFINITION, f"pipeline {p.name} is declared twice",
                                         p.origin))
                continue
            declared.append(declared_pipeline(p.name, p.schedule, (assets[k] for k in p.assets), sla=p.sla,
                                              owner=p.owner, tags=p.tags, origin=p.origin))
    held = {key for p in declared for key in p.assets}
    # A spec's defaults apply where the command line left the built-in ones.
    group_by = options.group_by or next((s.group_by for s in specs if s.group_by), None) or "layer"
    schedule = options.default_schedule or next(
        (s.default_schedule for s in specs if s.default_schedule), None) or ir.Schedule(cron="@daily")
    grouped = group_pipelines([a for a in ordered if a.key not in held], group_by=group_by,
                              default_schedule=schedule, taken={p.name for p in declared})
    project = ir.Project(
        name="_".join(dict.fromkeys(part.name for part in lowered)),
        assets=ordered,
        pipelines=tuple(declared) + grouped,
        checks=tuple(sorted(checks.values(), key=lambda c: c.key)),
        dbt_projects=merge_dbt_projects(p for part in lowered for p in part.dbt_projects),
    )
    ctx = PassContext(
        durations=load_durations(options.run_results) if options.run_results else None,
        durations_source=options.run_results,
    )
    project, found = run_passes(project, ctx)
    diagnostics += found
    for b in backends:
        diagnostics.extend(b.unsupported(project))
    for spec in specs:
        settings = settings.merged(spec.settings)
    return project, settings.apply(diagnostics)
