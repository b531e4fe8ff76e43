"""The package the Dagster backend writes: a module of multi-assets per layer,
sensors, the `Definitions`, and the runtime beside them."""

from __future__ import annotations

import os
import re
from collections import defaultdict

import attrs

from orch.backends import runtime_files
from orch.backends.dagster.parts import (
    _ASSETS_MODULE_NAMES,
    _INIT_MODULE_NAMES,
    _PARTITIONS,
    SUPPORT_MODULE,
    _kinds,
    _owners,
    _start_date,
    _tags,
    asset_keys,
)
from orch.compiler.plugin import (
    Backend,
    Code,
    CompileError,
    NameScope,
    OutputFile,
    error,
    format_python,
    in_project,
    ir,
    project_dir_lines,
    project_dir_variables,
    pyfmt,
    python_header,
    selection,
    slug,
    sqlgen,
    unique,
    upstream_pipelines,
)


class _Package:
    def __init__(self, backend: Backend, project: ir.Project, source: str):
        self.b = backend
        self.project = project
        self.source = source
        self.assets = project.asset_map()
        self.checks_of = project.checks_by_asset()
        self.keys = asset_keys(project)
        self.owner = project.pipeline_of()
        self.pkg = backend.option("package")
        # Big literals are built as layout nodes and stand in the module source by name.
        self.prebuilt = pyfmt.Prebuilt()
        self.with_timedelta: set[str] = set()
        # project folder -> its environment variable; the module constant is named after it.
        self.folder_variables = project_dir_variables(project)
        # Pipelines that read others' tables run when those are updated, not on their cron alone.
        self.pipelines = {p.name: p for p in project.pipelines}
        self.upstream = {p.name: upstream_pipelines(p, self.assets, self.checks_of, self.owner)
                         for p in project.pipelines}
        self.automated: set[str] = set()
        # Dagster check names are unique per asset; dbt test names need not be.
        self.check_names: dict[str, str] = {}
        taken: dict[str, set[str]] = {}
        for check in sorted(project.checks, key=lambda c: c.key):
            self.check_names[check.key] = unique(_check_name(check.name), taken.setdefault(check.asset, set()))

    def partitions(self, asset: ir.Asset) -> str | None:
        part = asset.partitioning
        if part is None or part.granularity not in _PARTITIONS or asset.runner is None:
            return None
        return f"dg.{_PARTITIONS[part.granularity]}(start_date={_start_date(part)!r})"

    def partitions_node(self, asset: ir.Asset):
        part = asset.partitioning
        return pyfmt.call(f"dg.{_PARTITIONS[part.granularity]}", start_date=pyfmt.lit(_start_date(part)))

    def waits_on(self, key: str) -> ir.Schedule | None:
        """The schedule of an asset's pipeline (for the asset and its checks) when the
        pipeline waits for other pipelines; None when its own schedule runs it."""
        pipeline = self.pipelines.get(self.owner.get(key))
        if pipeline is None or not self.upstream[pipeline.name]:
            return None
        self.automated.add(key)
        return pipeline.schedule

    def after_upstream(self, key: str) -> str | None:
        """The automation condition (source text) of an asset, or a check of it, whose
        pipeline waits for other pipelines; None for a pipeline its schedule runs."""
        schedule = self.waits_on(key)
        return schedule and f"after_upstream({pyfmt.pystr(schedule.cron)}, {pyfmt.pystr(schedule.timezone)})"

    def spec(self, asset: ir.Asset, external: bool = False):
        """The asset's `dg.AssetSpec(...)`, as a layout node."""
        lit = pyfmt.lit
        own = self.keys[asset.key]
        kw = {}
        deps = sorted({tuple(self.keys[u]) for u in asset.upstream if u in self.keys and self.keys[u] != own})
        if deps:
            kw["deps"] = lit([list(d) for d in deps])
        if asset.description:
            kw["description"] = lit(asset.description)
        metadata = {"orch/unique_id": asset.key}
        if asset.path:
            metadata["orch/path"] = asset.path
        if isinstance(asset.runner, ir.DbtBuild):
            metadata["orch/dbt_select"] = asset.runner.select
        kw["metadata"] = lit(metadata)
        if not external:
            kw["skippable"] = "True"
        if asset.layer:
            kw["group_name"] = lit(slug(asset.layer))
        if _owners(asset.owner):
            kw["owners"] = lit(_owners(asset.owner))
        if _tags(asset):
            kw["tags"] = lit(_tags(asset))
        if _kinds(asset):
            kw["kinds"] = lit(set(_kinds(asset)))
        fresh = asset.freshness
        if fresh is not None and (fresh.max_age or fresh.warn_age):
            fail = fresh.max_age or fresh.warn_age
            warn = fresh.warn_age if fresh.max_age and fresh.warn_age and fresh.warn_age < fresh.max_age else None
            windows = {"fail_window": pyfmt.call("timedelta", seconds=str(int(fail.total_seconds())))}
            if warn:
                windows["warn_window"] = pyfmt.call("timedelta", seconds=str(int(warn.total_seconds())))
            kw["freshness_policy"] = pyfmt.call("dg.FreshnessPolicy.time_window", **windows)
            self.with_timedelta.add(asset.key)
        if self.partitions(asset):
            kw["partitions_def"] = self.partitions_node(asset)
        condition = None if external else self.after_upstream(asset.key)
        if condition:
            kw["automation_condition"] = condition
        return pyfmt.call("dg.AssetSpec", lit(own), **kw)

    def check_spec(self, check: ir.Check):
        lit = pyfmt.lit
        metadata = {"orch/unique_id": check.key, "orch/dbt_select": selection.test_selector(check)}
        kw = {"asset": lit(self.keys[check.asset]), "metadata": lit(metadata)}
        also = [self.keys[k] for k in check.also if k in self.keys]
        if also:
            kw["additional_deps"] = lit(also)
        if check.blocking:
            kw["blocking"] = "True"
        condition = self.after_upstream(check.asset)
        if condition:
            kw["automation_condition"] = condition
        return pyfmt.call("dg.AssetCheckSpec", lit(self.check_names[check.key]), **kw)

    def name_of(self, items) -> str:
        """A list of layout nodes, standing in the source by name."""
        return self.prebuilt.name(("seq", "[", "]", tuple(items)))

    def groups(self):
        """(pipeline, partitions, asset keys): one multi_asset each."""
        for pipeline in self.project.pipelines:
            by_partitions: dict[str | None, list[str]] = defaultdict(list)
            own: list[str] = []
            for key in pipeline.assets:
                if isinstance(self.assets[key].runner, ir.DbtBuild):
                    by_partitions[self.partitions(self.assets[key])].append(key)
                else:
                    own.append(key)
            several = sum(p is not None for p in by_partitions) > 1
            for partitions, keys in sorted(by_partitions.items(), key=lambda kv: kv[0] or ""):
                name = pipeline.name if partitions is None else f"{pipeline.name}_partitioned"
                if partitions is not None and several:
                    # A partitions definition is its granularity and start: together they name it.
                    part = self.assets[keys[0]].partitioning
                    name += f"_{part.granularity}_{slug(str(part.start or 'default'))}"
                yield pipeline, partitions, name, keys
            # A command or a SQLMesh model is one process per asset: a multi-asset of its own.
            for key in own:
                yield pipeline, self.partitions(self.assets[key]), f"{pipeline.name}_{slug(self.assets[key].name)}", \
                    [key]

    def multi_asset(self, pipeline: ir.Pipeline, partitions: str | None, name: str, keys: list[str],
                    ident: str) -> str:
        runner = self.assets[keys[0]].runner
        specs = self.name_of(self.spec(self.assets[k]) for k in keys)
        checks = sorted((c for k in keys for c in self.checks_of.get(k, ())
                         if c.kind is ir.CheckKind.DBT_TEST and isinstance(self.assets[k].runner, ir.DbtBuild)),
                        key=lambda c: c.key)
        check_specs = self.name_of(self.check_spec(c) for c in checks)
        partitions_arg = f"    partitions_def={partitions},\n" if partitions else ""
        doc = f"{pipeline.name}: {len(keys)} assets, scheduled {pipeline.schedule.cron}."
        if isinstance(runner, ir.DbtBuild):
            # A run of the whole multi-asset names it with a few folder selectors:
            # dbt's selection time grows with the number of selectors.
            own = {k: self.assets[k].runner.select for k in keys}
            own.update((c.key, selection.test_selector(c)) for c in checks)
            whole = selection.cover(self.project.dbt_project(runner.project_dir), own, cautious=False)
            profiles = runner.profiles_dir and in_project(runner.profiles_dir, runner.project_dir)
            body = (f"    yield from run_dbt(context, dbt=DBT, project_dir={self.folder(runner.project_dir)}, "
                    f"profiles_dir={profiles!r}, target={runner.target!r}, "
                    f"whole=({len(set(own.values()))}, {whole!r}))")
        elif len(keys) == 1 and isinstance(runner, ir.Command):
            cwd = os.path.abspath(runner.cwd) if runner.cwd else None
            body = f"    yield from run_command(context, {list(runner.argv)!r}, cwd={cwd!r})"
        elif len(keys) == 1 and isinstance(runner, ir.SqlmeshRun):
            body = (f"    yield from run_command(context, ['sqlmesh', 'run', '--select-model', {runner.model!r}, '--no-auto-upstream'], "
                    f"cwd={self.folder(runner.project_dir)})")
        else:
            raise CompileError(error(Code.UNSUPPORTED_BY_BACKEND,
                                     f"dagster backend runs one command or SQLMesh asset per multi-asset; "
                                     f"pipeline {pipeline.name} mixes runners", self.assets[keys[0]].origin))
        return (
            f"@dg.multi_asset(\n    name={name!r},\n    specs={specs},\n"
            + (f"    check_specs={check_specs},\n" if checks else "")
            + f"{partitions_arg}    can_subset=True,\n    description={doc!r},\n)\n"
            f"def {ident}(context: dg.AssetExecutionContext):\n{body}\n"
        )

    def folder(self, project_dir: str) -> str:
        """The module constant holding where a project folder is on the machine
        that runs the definitions (see `asset_modules`)."""
        return self.folder_variables[os.path.abspath(project_dir)].removeprefix("ORCH_")

    def health_checks(self, keys: list[str]) -> list[tuple[str, object]]:
        """(warehouse, check) of each SQL health check of these assets, as layout nodes."""
        out = []
        for key in keys:
            asset = self.assets[key]
            engine = asset.relation.engine if asset.relation else None
            if engine not in ("duckdb", "bigquery"):
                continue
            for check, sql, blocking in sqlgen.health_queries(asset, self.checks_of.get(key, ()), engine):
                name = f"{asset.name}_freshness" if check is None else self.check_names[check.key]
                check_id = f"{key}#freshness" if check is None else check.key
                check = {"asset": self.keys[key], "name": _check_name(name), "sql": sql, "blocking": bool(blocking),
                         "id": check_id}
                schedule = self.waits_on(key)
                if schedule is not None:
                    check["after_upstream"] = [schedule.cron, schedule.timezone]
                out.append((engine, pyfmt.lit(check)))
        return out

    def files(self) -> list[OutputFile]:
        header = python_header(self.source)
        layers = self.layers()
        schedules, automation = self.schedules(layers.scheduled)
        files, modules = self.asset_modules(header, layers)
        files.append(self.init_module(header, modules, layers, schedules, automation))
        files.append(self.sensors_module(header))
        files += runtime_files(f"{self.pkg}/", os.path.join(os.path.dirname(__file__), f"{SUPPORT_MODULE}.py"),
                               self.source)
        files.append(OutputFile(path="pyproject.toml", content=(
            f"{header}[project]\nname = {_toml(self.pkg.replace('_', '-'))}\nversion = \"0\"\n"
            f"requires-python = \">=3.11\"\n\n[tool.dagster]\nmodule_name = {_toml(self.pkg)}\n"
            f"code_location_name = {_toml(slug(self.project.name))}\n"
        )))
        return files

    def layers(self) -> _Layers:
        """Every multi-asset, by the layer whose module holds it."""
        # Each module's names: what it imports or defines, whether used or not, is never a function's.
        constants = {self.folder(f) for f in self.folder_variables}
        out = _Layers(scopes=defaultdict(lambda: NameScope((*_ASSETS_MODULE_NAMES, *constants), "a_")))
        for pipeline, partitions, name, keys in self.groups():
            layer = slug(self.assets[keys[0]].layer or "assets")
            ident = out.scopes[layer](name)
            out.code[layer].append((ident, self.multi_asset(pipeline, partitions, name, keys, ident)))
            out.checks[layer].extend(self.health_checks(keys))
            out.keys[layer].extend(keys)
            out.engines |= {self.assets[k].relation.engine for k in keys if self.assets[k].relation}
            entry = out.scheduled.setdefault((pipeline.name, partitions), (pipeline, name, []))
            entry[2].extend(keys)
        return out

    def schedules(self, scheduled) -> tuple[list[str], list[str]]:
        """(schedules, automation sensors): one per pipeline and partitioning, whatever
        multi-assets run it; a pipeline that reads others' tables runs after them instead."""
        schedules: list[str] = []
        automation: list[str] = []
        lit = pyfmt.lit
        for (_, partitions), (pipeline, name, keys) in scheduled.items():
            selection = pyfmt.call("dg.AssetSelection.assets", ("star", "*", lit([self.keys[k] for k in keys])))
            # Runs carry their pipeline's name, as Airflow's runs carry their DAG's.
            tags = lit({"orch/pipeline": pipeline.name})
            if self.upstream[pipeline.name]:
                # Its runs wait for the pipelines it reads, as its Airflow DAG's sensors do:
                # the assets' automation conditions (after_upstream) say when.
                automation.append(self.prebuilt.name(pyfmt.call(
                    "dg.AutomationConditionSensorDefinition", lit(name + "_after_upstream"), target=selection,
                    run_tags=tags)))
                continue
            if partitions:
                schedule = pyfmt.call("partitioned_schedule", name=lit(name + "_schedule"),
                                      cron_schedule=lit(pipeline.schedule.cron),
                                      execution_timezone=lit(pipeline.schedule.timezone), target=selection,
                                      partitions_def=self.partitions_node(self.assets[keys[0]]),
                                      tags=tags)
            else:
                schedule = pyfmt.call("dg.ScheduleDefinition", name=lit(name + "_schedule"),
                                      cron_schedule=lit(pipeline.schedule.cron),
                                      execution_timezone=lit(pipeline.schedule.timezone), target=selection,
                                      tags=tags)
            schedules.append(self.prebuilt.name(schedule))
        return schedules, automation

    def asset_modules(self, header: str, layers: _Layers) -> tuple[list[OutputFile], list[str]]:
        """`<layer>_assets.py` for each layer: its multi-assets and its SQL health checks."""
        files = []
        modules = []
        package = NameScope(_INIT_MODULE_NAMES)
        for layer in sorted(layers.code):
            module = package(f"{layer}_assets")
            modules.append(module)
            checks = []  # (variable, statement): one multi-asset check per warehouse
            for engine in sorted({e for e, _ in layers.checks[layer]}):
                name = f"{layer}_{engine}_health_checks"
                var = layers.scopes[layer](name)
                node = pyfmt.call("sql_checks", name=pyfmt.lit(name), resource=pyfmt.lit(engine),
                                  checks=("seq", "[", "]", tuple(c for e, c in layers.checks[layer] if e == engine)))
                checks.append((var, f"{var} = {self.prebuilt.name(node)}"))
            everything = "\n".join(code for _, code in layers.code[layer])
            timed = any(k in self.with_timedelta for k in layers.keys[layer])
            folders = sorted((self.folder(f), v, f) for f, v in self.folder_variables.items()
                             if re.search(rf"\b{self.folder(f)}\b", everything))
            imports = ["import os", *(["from datetime import timedelta"] if timed else []), ""] if folders or timed \
                else []
            imports.append("import dagster as dg")
            helpers = [h for h in ("run_command", "run_dbt") if f"{h}(" in everything]
            helpers += ["after_upstream"] if any(k in self.automated for k in layers.keys[layer]) else []
            helpers += ["sql_checks"] if checks else []
            imports += ["", f"from .{SUPPORT_MODULE} import {', '.join(sorted(helpers))}"]
            code = "\n".join([
                header.rstrip("\n"),
                f'"""Assets of the {layer} layer."""',
                "",
                # No `from __future__ import annotations`: Dagster inspects the
                # context annotation at definition time and needs the real class.
                *imports,
                "",
                f"DBT = {self.b.option('dbt_executable')!r}",
                *(["", *project_dir_lines("these assets", folders)] if folders else []),
                "",
                *(code for _, code in layers.code[layer]),
                *(code for _, code in checks),
                *([""] if checks else []),
                f"assets = [{', '.join(fn for fn, _ in layers.code[layer])}]",
                f"asset_checks = [{', '.join(fn for fn, _ in checks)}]",
                "",
            ])
            files.append(OutputFile(path=f"{self.pkg}/{module}.py", content=format_python(code, self.prebuilt)))
        return files, modules

    def init_module(self, header: str, modules: list[str], layers: _Layers, schedules: list[str],
                    automation: list[str]) -> OutputFile:
        """`__init__.py`: the external assets and the one `Definitions`."""
        built = {tuple(self.keys[a.key]) for a in self.project.assets if a.runner is not None}
        external, seen = [], set()
        for asset in self.project.assets:
            path = tuple(self.keys[asset.key])
            if asset.runner is None and path not in built and path not in seen:
                seen.add(path)
                external.append(asset)
        externals = self.name_of(self.spec(a, external=True) for a in external)
        engines = layers.engines
        resources = []
        if "duckdb" in engines:
            resources.append(f"'duckdb': DuckDBResource(database=dg.EnvVar({self.b.option('duckdb_env')!r}))")
        if "bigquery" in engines:
            resources.append("'bigquery': BigQueryResource()")
        init = "\n".join([
            header.rstrip("\n"),
            f'"""Dagster definitions for {self.project.name}, generated by orch."""',
            "",
            "from __future__ import annotations",
            "",
            *(["from datetime import timedelta", ""] if any(a.key in self.with_timedelta for a in external) else []),
            "import dagster as dg",
            *(["from dagster_duckdb import DuckDBResource"] if "duckdb" in engines else []),
            *(["from dagster_gcp import BigQueryResource"] if "bigquery" in engines else []),
            "",
            f"from . import {', '.join(sorted([*modules, 'sensors']))}",
            *([f"from .{SUPPORT_MODULE} import partitioned_schedule"] if any(
                partitions and not self.upstream[name] for name, partitions in layers.scheduled) else []),
            "",
            "# Sources, exposures and unselected models: read or fed by these pipelines, built elsewhere.",
            f"external_assets = {externals}",
            "",
            f"schedules = [{', '.join(schedules)}]",
            "# Pipelines that read other pipelines' tables: run once those are updated.",
            f"automation = [{', '.join(automation)}]",
            "",
            "defs = dg.Definitions(",
            f"    assets=[*external_assets{''.join(f', *{m}.assets' for m in sorted(modules))}],",
            f"    asset_checks=[{', '.join(f'*{m}.asset_checks' for m in sorted(modules))}],",
            "    schedules=schedules,",
            "    sensors=[*sensors.sensors, *automation],",
            f"    resources={{{', '.join(resources)}}},",
            ")",
            "",
        ])
        return OutputFile(path=f"{self.pkg}/__init__.py", content=format_python(init, self.prebuilt))

    def sensors_module(self, header: str) -> OutputFile:
        """`sensors.py`: run failure alerts, and the SLA monitor of pipelines that have one."""
        slas = []
        for pipeline in self.project.pipelines:
            if pipeline.sla is not None and pipeline.sla.complete_within.total_seconds() > 0:
                slas.append({
                    "pipeline": pipeline.name,
                    "cron": pipeline.schedule.cron,
                    "timezone": pipeline.schedule.timezone,
                    "within_seconds": int(pipeline.sla.complete_within.total_seconds()),
                    "asset_keys": [self.keys[k] for k in pipeline.assets],
                })
        sensors = "\n".join([
            header.rstrip("\n"),
            '"""SLA and failure monitoring for the generated pipelines."""',
            "",
            "from __future__ import annotations",
            "",
            f"from .{SUPPORT_MODULE} import failure_sensor, sla_sensor",
            "",
            f"SLAS = {slas!r}",
            "",
            "sensors = [",
            "    failure_sensor('orch_run_failure_alerts'),",
            *([f"    sla_sensor('orch_sla_monitor', SLAS, minimum_interval_seconds={self.b.option('sla_sensor_seconds')}),"]
              if slas else []),
            "]",
            "",
        ])
        return OutputFile(path=f"{self.pkg}/sensors.py", content=format_python(sensors, self.prebuilt))


@attrs.define
class _Layers:
    """What the multi-assets of a package are, by layer, as `_Package.layers` collects them."""

    scopes: dict[str, NameScope]
    #: layer -> (function name, its code), in the order the groups come
    code: dict[str, list[tuple[str, str]]] = attrs.Factory(lambda: defaultdict(list))
    #: layer -> (warehouse, the check's layout node) of each SQL health check
    checks: dict[str, list[tuple[str, object]]] = attrs.Factory(lambda: defaultdict(list))
    keys: dict[str, list[str]] = attrs.Factory(lambda: defaultdict(list))
    engines: set = attrs.Factory(set)
    #: (pipeline, partitioning) -> (the pipeline, the name of its first group, every asset key)
    scheduled: dict[tuple[str, str | None], tuple[ir.Pipeline, str, list[str]]] = attrs.Factory(dict)


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)
