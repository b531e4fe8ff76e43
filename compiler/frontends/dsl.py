"""The .orch spec frontend: lowers spec files (and what they import) into IR.

A spec imports dbt manifests and SQLMesh projects, declares pipelines, lays
metadata over imported assets, adds health checks and extra tasks. Names
resolve across all imports at once, so a task may run after a dbt model and
a SQLMesh model; tables that one tool reads and another builds are joined by
relation name. docs/spec-language.md is the user's reference.

Syntax errors and include problems stop the compile (exit 2); everything else
is collected, so one run reports every unknown name and bad value.
"""

from __future__ import annotations

import os
import shlex

import attrs

from orch.compiler import ir
from orch.compiler.cadence import cron_problem
from orch.compiler.diagnostics import (
    Code,
    Diagnostic,
    Settings,
    settings_problem,
)
from orch.compiler.frontends import dbt, sqlmesh
from orch.compiler.frontends.dsl_select import AssetIndex
from orch.compiler.frontends.dsl_shape import (
    _CHECK_REQUIRED,
    _GRANULARITIES,
    CHECK_KINDS,
    TOP_LEVEL,
    ShapeChecks,
    _at,
    _date,
    _Item,
)
from orch.compiler.frontends.dsl_syntax import Attribute, Block, Spec, Value, load
from orch.compiler.grouping import GROUP_BY_CHOICES, validate_group_by


@attrs.frozen(kw_only=True)
class DeclaredPipeline:
    name: str
    schedule: ir.Schedule
    assets: tuple[str, ...]
    sla: ir.Sla | None
    owner: str | None
    tags: tuple[str, ...]
    origin: ir.Location


@attrs.frozen(kw_only=True)
class SpecLowered:
    """What a spec contributes: assets and checks, plus its own pipelines and defaults."""

    name: str
    assets: tuple[ir.Asset, ...]
    checks: tuple[ir.Check, ...]
    diagnostics: tuple[Diagnostic, ...]
    dbt_projects: tuple[ir.DbtProject, ...] = ()
    pipelines: tuple[DeclaredPipeline, ...] = ()
    group_by: str | None = None
    default_schedule: ir.Schedule | None = None
    settings: Settings | None = None


# --- lowering -------------------------------------------------------------------------------------


class _Lowering(ShapeChecks):
    def __init__(self, path: str):
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self.specs = load(path)
        self.base = os.path.dirname(path)

    # --- the whole run
    def run(self) -> SpecLowered:
        items: dict[str, list[_Item]] = {t: [] for t in TOP_LEVEL}
        for spec in self.specs:
            for node in spec.items:
                if isinstance(node, Block) and self.check_shape(spec, node, TOP_LEVEL):
                    items[node.type].append(_Item(spec, node))
                    for child in node.blocks():
                        self.check_nested(spec, child)
        self.defaults = self.lower_defaults(items["defaults"])
        settings = self.lower_settings(items["diagnostics"])
        self.unique_labels(items, ("dbt", "sqlmesh"), "import")
        self.unique_labels(items, ("pipeline",), "pipeline")
        self.unique_labels(items, ("task",), "task")
        for kind in ("pipeline", "task", "dbt", "sqlmesh"):
            items[kind] = [item for item in items[kind] if self.valid_name(item, kind)]
        self.unique_labels(items, ("asset",), "asset block")

        self.assets: dict[str, ir.Asset] = {}
        self.checks: list[ir.Check] = []
        self.dbt_projects: list[ir.DbtProject] = []
        self.import_of: dict[str, str] = {}
        names: list[str] = []
        for item in items["dbt"] + items["sqlmesh"]:
            self.lower_import(item, items["asset"])
            names.append(item.label)
        self.tasks = {item.label: item for item in items["task"]}
        for item in items["task"]:
            self.lower_task(item)
        self.index()
        for item in items["task"]:
            self.wire_task(item)
        self.schedule_set_by: dict[str, _Item] = {}
        for item in items["asset"]:
            self.overlay(item)
        pipelines = self.lower_pipelines(items["pipeline"])
        schedule = self.defaults.get("schedule")
        return SpecLowered(
            name="_".join(dict.fromkeys(names)) or os.path.splitext(os.path.basename(self.path))[0],
            assets=tuple(self.assets[k] for k in sorted(self.assets)),
            checks=tuple(sorted(self.checks, key=lambda c: c.key)),
            diagnostics=tuple(self.diagnostics),
            dbt_projects=tuple(self.dbt_projects),
            pipelines=tuple(pipelines),
            group_by=self.defaults.get("group_by"),
            default_schedule=ir.Schedule(cron=schedule, timezone=self.defaults.get("timezone") or "UTC")
            if schedule else None,
            settings=settings,
        )


    def lower_settings(self, items: list[_Item]) -> Settings | None:
        """`diagnostics { warn = [...] ignore = [...] warn_error = true }`; blocks in included
        files add up, as settings from the command line and pyproject.toml do."""
        if not items:
            return None
        settings = Settings()
        for item in items:
            codes: dict[str, set[Code]] = {"warn": set(), "ignore": set()}
            for attr in item.block.attributes():
                if attr.name == "warn_error":
                    settings = settings.merged(Settings(warn_error=bool(self.plain(attr.value))))
                    continue
                for element in attr.value.value:
                    code, problem = settings_problem(attr.name, str(element.value))
                    if problem:
                        self.report(Code.INVALID_VALUE, f"{attr.name}: {problem}", item.spec, element)
                    else:
                        codes[attr.name].add(code)
            settings = settings.merged(Settings(warn=codes["warn"], ignore=codes["ignore"]))
        return settings

    def lower_defaults(self, items: list[_Item]) -> dict[str, object]:
        out: dict[str, object] = {}
        where: dict[str, _Item] = {}
        for item in items:
            for attr in item.block.attributes():
                if attr.name in out:
                    first = where[attr.name]
                    self.report(Code.DUPLICATE_DEFINITION, f"default {attr.name} is set twice (first at "
                                f"{_at(first.spec, first.block)})", item.spec, attr)
                    continue
                out[attr.name] = self.plain(attr.value)
                where[attr.name] = item
        schedule = out.get("schedule")
        if isinstance(schedule, str):
            attr = self.attr(where["schedule"].block, "schedule")
            if not self.valid_schedule(where["schedule"].spec, attr, schedule, out.get("timezone") or "UTC"):
                del out["schedule"]
        group_by = out.get("group_by")
        if group_by is not None and not validate_group_by(str(group_by)):
            attr = self.attr(where["group_by"].block, "group_by")
            self.unknown("group_by", str(group_by), GROUP_BY_CHOICES, where["group_by"].spec, attr.value,
                         code=Code.INVALID_VALUE)
            del out["group_by"]
        return out

    def valid_schedule(self, spec: Spec, attr: Attribute | None, cron: str, timezone: str) -> bool:
        problem = cron_problem(cron, timezone)
        if problem and attr is not None:
            self.report(Code.INVALID_CRON, problem, spec, attr.value)
        return not problem

    def relative(self, spec: Spec, path: str) -> str:
        """A path written in a spec is relative to that spec's folder."""
        joined = os.path.join(os.path.dirname(spec.path), os.path.expanduser(path))
        return os.path.normpath(joined) if not os.path.isabs(path) else path

    # --- imports
    def lower_import(self, item: _Item, overlays: list[_Item]) -> None:
        values = self.values(item.block)
        if item.block.type == "dbt":
            manifest = self.relative(item.spec, str(values["manifest"]))
            options = dbt.DbtOptions(
                select=values.get("select"), exclude=values.get("exclude"),
                project_dir=self.relative(item.spec, values["project_dir"]) if "project_dir" in values else None,
                profiles_dir=self.relative(item.spec, values["profiles_dir"]) if "profiles_dir" in values else None,
                target=values.get("target"), runner=values.get("runner") or "dbt",
            )
            if options.runner not in dbt.RUNNERS:
                attr = self.attr(item.block, "runner")
                self.unknown("runner", options.runner, dbt.RUNNERS, item.spec, attr.value, code=Code.INVALID_VALUE)
                options = attrs.evolve(options, runner="dbt")
            loaded = dbt.load_manifest(manifest)
            lowered = dbt.lower(loaded, manifest, options)
            runners = self.runner_overlays(item, lowered, overlays)
            if runners:
                lowered = dbt.lower(loaded, manifest, attrs.evolve(options, runners=runners))
        else:
            project = self.relative(item.spec, str(values["project"]))
            lowered = sqlmesh.lower(project, sqlmesh.SqlmeshOptions(gateway=values.get("gateway")))
        self.diagnostics.extend(lowered.diagnostics)
        for asset in lowered.assets:
            first = self.assets.get(asset.key)
            if first is not None and first != asset:
                self.report(Code.DUPLICATE_ASSET, f"{asset.key} is imported twice (also by "
                            f"{self.import_of[asset.key]!r})", item.spec, item.block)
                continue
            self.assets[asset.key] = asset
            self.import_of.setdefault(asset.key, item.label)
        self.checks.extend(lowered.checks)
        self.dbt_projects.extend(lowered.dbt_projects)

    def runner_overlays(self, item: _Item, lowered: dbt.Lowered, overlays: list[_Item]) -> dict[str, str]:
        """unique_id -> runner for this import's models that an asset block gives a runner."""
        out: dict[str, str] = {}
        wanted = [o for o in overlays if self.attr(o.block, "runner") is not None]
        if not wanted:
            return out
        assets = {a.key: a for a in lowered.assets}
        index = AssetIndex(assets, {k: item.label for k in assets})
        for overlay in wanted:
            runner = self.attr(overlay.block, "runner").value.value
            for key in index.select(overlay.label):
                if assets[key].runner is not None:
                    out[key] = runner
        return out

    # --- tasks
    def lower_task(self, item: _Item) -> None:
        values = self.values(item.block)
        spec, block = item.spec, item.block
        name = item.label
        key = f"task.{name}"
        origin = _at(spec, block)
        runner: ir.Runner | None = None
        if ("command" in values) == ("sql" in values):
            self.report(Code.SPEC_UNKNOWN_NAME, f"task {name!r} needs exactly one of command = [...] or sql = "
                        "\"...\"", spec, block)
        elif "command" in values:
            command = values["command"]
            if isinstance(command, str):
                try:
                    argv = tuple(shlex.split(command))
                except ValueError as exc:
                    self.report(Code.INVALID_VALUE, f"command cannot be split into arguments: {exc}", spec,
                                self.attr(block, "command").value)
                    argv = ()
            else:
                argv = tuple(command)
            if argv:
                workdir = values.get("workdir")
                runner = ir.Command(argv=argv, cwd=os.path.relpath(self.relative(spec, workdir))
                                    if workdir else None)
            elif isinstance(command, str):
                self.report(Code.INVALID_VALUE, "command is empty", spec, self.attr(block, "command").value)
        else:
            dialect = values.get("dialect") or self.defaults.get("dialect") or self.only_engine()
            if not dialect:
                self.report(Code.SPEC_UNKNOWN_NAME, f"task {name!r} runs SQL but no dialect is known: set "
                            "dialect = \"duckdb\" (or in defaults)", spec, block)
            else:
                runner = ir.SqlQuery(sql=str(values["sql"]), dialect=str(dialect),
                                     connection=values.get("connection") or self.defaults.get("connection"))
        clash = next((a for a in self.assets.values() if a.name == name), None)
        if clash is not None:
            self.report(Code.DUPLICATE_DEFINITION, f"task {name!r} has the name of {clash.key} "
                        f"(from {self.import_of.get(clash.key)!r}); names must be unique across sources",
                        spec, block.labels[0])
            return
        schedule = None
        if "schedule" in values and self.valid_schedule(spec, self.attr(block, "schedule"), values["schedule"],
                                                        values.get("timezone") or "UTC"):
            schedule = ir.Schedule(cron=values["schedule"], timezone=values.get("timezone") or "UTC")
        self.assets[key] = ir.Asset(
            key=key, name=name, kind=ir.AssetKind.TASK, origin=origin, runner=runner,
            owner=values.get("owner") or self.defaults.get("owner"), tags=tuple(values.get("tags") or ()),
            critical=bool(values.get("critical", False)), description=values.get("description"),
            sla=ir.Sla(complete_within=values["sla"], critical=bool(values.get("critical", False)))
            if "sla" in values else None,
            retries=values.get("retries", self.defaults.get("retries")),
            retry_delay=values.get("retry_delay", self.defaults.get("retry_delay")),
            schedule=schedule, layer="tasks", path=os.path.relpath(spec.path, self.base or "."),
        )
        self.import_of[key] = "tasks"
        for child in block.blocks():
            self.lower_check(spec, child, key, name)

    def only_engine(self) -> str | None:
        engines = {a.relation.engine for a in self.assets.values() if a.relation and a.relation.engine}
        return engines.pop() if len(engines) == 1 else None

    def index(self) -> None:
        self.idx = AssetIndex(self.assets, self.import_of)

    def resolve(self, spec: Spec, value: Value, what: str) -> list[str]:
        """Keys an asset reference or selector names; reports and returns [] when none."""
        text = str(value.value)
        try:
            keys = self.idx.select(text)
        except ValueError as exc:
            self.report(Code.INVALID_VALUE, str(exc), spec, value)
            return []
        if not keys:
            base = text.strip("+")
            if ":" in base or any(ch in base for ch in "*?["):
                self.report(Code.UNKNOWN_ASSET, f"{what} {text!r} matches no asset", spec, value)
            else:
                self.unknown(what, text, self.idx.names(), spec, value, code=Code.UNKNOWN_ASSET)
        return keys

    def wire_task(self, item: _Item) -> None:
        key = f"task.{item.label}"
        if key not in self.assets:
            return
        for name, edge in (("after", "after"), ("before", "before")):
            attr = self.attr(item.block, name)
            if attr is None or attr.value.kind != "list":
                continue
            for element in attr.value.value:
                for other in self.resolve(item.spec, element, f"asset in {edge}"):
                    if other == key:
                        self.report(Code.CYCLE, f"task {item.label!r} cannot run {edge} itself", item.spec, element)
                        continue
                    if edge == "after":
                        asset = self.assets[key]
                        self.assets[key] = attrs.evolve(asset, upstream=tuple(dict.fromkeys((*asset.upstream,
                                                                                              other))))
                    else:
                        asset = self.assets[other]
                        self.assets[other] = attrs.evolve(asset, upstream=tuple(dict.fromkeys((*asset.upstream,
                                                                                                key))))

    # --- overlays and checks
    def overlay(self, item: _Item) -> None:
        spec, block = item.spec, item.block
        keys = self.resolve(spec, block.labels[0], "asset")
        values = self.values(block)
        freshness = next((b for b in block.blocks() if b.type == "freshness"), None)
        partition = next((b for b in block.blocks() if b.type == "partition"), None)
        changes: dict[str, object] = {}
        for name in ("owner", "description", "retries", "retry_delay", "critical"):
            if name in values:
                changes[name] = values[name]
        if "schedule" in values and self.valid_schedule(spec, self.attr(block, "schedule"), values["schedule"],
                                                        values.get("timezone") or "UTC"):
            changes["schedule"] = ir.Schedule(cron=values["schedule"], timezone=values.get("timezone") or "UTC")
        if freshness is not None:
            f = self.values(freshness)
            if "max_age" not in f and "warn_after" not in f:
                self.report(Code.SPEC_UNKNOWN_NAME, "freshness needs max_age = ... or warn_after = ...", spec,
                            freshness)
            else:
                changes["freshness"] = ir.Freshness(timestamp_column=f.get("column"), max_age=f.get("max_age"),
                                                    warn_age=f.get("warn_after"))
        if partition is not None:
            p = self.values(partition)
            granularity = str(p.get("granularity") or "day")
            if granularity in _GRANULARITIES:
                changes["partitioning"] = ir.Partitioning(
                    field=str(p["field"]), data_type=str(p.get("type") or ("timestamp" if granularity == "hour"
                                                                           else "date")),
                    granularity=granularity, start=_date(p.get("start")))
        for key in keys:
            asset = self.assets[key]
            update = dict(changes)
            if "tags" in values:
                update["tags"] = tuple(dict.fromkeys((*asset.tags, *values["tags"])))
            if "sla" in values:
                update["sla"] = ir.Sla(complete_within=values["sla"],
                                       critical=bool(values.get("critical", asset.critical)))
            if "schedule" in update:
                self.schedule_set_by[key] = item
            self.assets[key] = attrs.evolve(asset, **update)
            for child in block.blocks():
                if child.type == "check":
                    self.lower_check(spec, child, key, asset.name)

    def lower_check(self, spec: Spec, block: Block, asset_key: str, asset_name: str) -> None:
        kind = block.labels[0].value
        if kind not in CHECK_KINDS:
            return
        values = self.values(block)
        if any(name not in values for name in _CHECK_REQUIRED[kind]):
            return
        name = block.labels[1].value if len(block.labels) > 1 else f"{kind}_{asset_name}"
        params: ir.CheckParams
        if kind == "freshness":
            params = ir.FreshnessParams(column=str(values["column"]),
                                        max_age_seconds=int(values["max_age"].total_seconds()))
        elif kind == "row_count":
            lookback_days = None
            if "lookback" in values:
                days = values["lookback"].total_seconds() / 86400
                if days != int(days):
                    self.report(Code.INVALID_VALUE, "lookback is counted in whole days (1d, 7d)", spec,
                                self.attr(block, "lookback").value)
                    return
                lookback_days = int(days)
            params = ir.RowCountParams(
                min_rows=int(values["min_rows"]),
                partition_column=str(values["partition_column"]) if "partition_column" in values else None,
                lookback_days=lookback_days)
        else:
            params = ir.CustomSqlParams(sql=str(values["sql"]))
        level = values.get("level", "error")
        key = f"orch.check.{asset_key}.{name}"
        if any(c.key == key for c in self.checks):
            self.report(Code.DUPLICATE_DEFINITION, f"{asset_name} already has a check named {name!r}; name this "
                        f'one: check "{kind}" "another_name" {{ }}', spec, block)
            return
        self.checks.append(ir.Check(
            key=key, name=name, asset=asset_key, origin=_at(spec, block),
            params=params, severity=ir.Severity.WARN if level == "warn" else ir.Severity.ERROR,
            blocking=bool(values.get("blocking", False)),
        ))

    # --- pipelines
    def lower_pipelines(self, items: list[_Item]) -> list[DeclaredPipeline]:
        out = []
        member_of: dict[str, _Item] = {}
        for item in items:
            spec, block = item.spec, item.block
            values = self.values(block)
            selected: dict[str, None] = {}
            for element in self.attr(block, "assets").value.value:
                for key in self.resolve(spec, element, "asset"):
                    selected[key] = None
            exclude = self.attr(block, "exclude")
            if exclude is not None:
                for element in exclude.value.value:
                    for key in self.resolve(spec, element, "asset"):
                        selected.pop(key, None)
            keys = [k for k in selected if self.assets[k].runner is not None]
            for key in keys:
                first = member_of.get(key)
                if first is not None:
                    self.report(Code.DUPLICATE_DEFINITION, f"{self.assets[key].name} is in two pipelines: "
                                f"{first.label!r} ({_at(first.spec, first.block)}) and {item.label!r}",
                                spec, self.attr(block, "assets").value)
            keys = [k for k in keys if k not in member_of]
            if not keys:
                self.report(Code.EMPTY_SELECTION, f"pipeline {item.label!r} holds no asset that runs", spec, block,
                            level="warning")
                continue
            for key in keys:
                member_of[key] = item
            timezone = values.get("timezone") or self.defaults.get("timezone") or "UTC"
            cron = values.get("schedule") or self.defaults.get("schedule") or "@daily"
            if "schedule" in values and not self.valid_schedule(spec, self.attr(block, "schedule"), cron, timezone):
                cron = "@daily"
            schedule = ir.Schedule(cron=cron, timezone=timezone)
            for key in keys:
                asset = self.assets[key]
                setter = self.schedule_set_by.get(key)
                if setter is not None and asset.schedule != schedule:
                    self.report(Code.DUPLICATE_DEFINITION, f"the schedule of {asset.name} is set by the asset block "
                                f"at {_at(setter.spec, setter.block)} and by pipeline {item.label!r}; set it in one "
                                "place", spec, self.attr(block, "schedule") or block)
                self.assets[key] = attrs.evolve(asset, schedule=schedule)
            critical = bool(values.get("critical", False))
            out.append(DeclaredPipeline(
                name=item.label, schedule=schedule, assets=tuple(sorted(keys)),
                sla=ir.Sla(complete_within=values["sla"], critical=critical) if "sla" in values else None,
                owner=values.get("owner") or self.defaults.get("owner"),
                tags=tuple(values.get("tags") or ()) + (("critical",) if critical else ()),
                origin=_at(spec, block),
            ))
        return out


def lower_file(path: str) -> SpecLowered:
    return _Lowering(path).run()
