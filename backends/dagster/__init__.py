"""The `dagster` backend: a static Dagster 1.13 code location.

Writes a folder `dagster dev` can be pointed at: `pyproject.toml` (with the
`[tool.dagster]` entry) and a package holding one `Definitions` in
`__init__.py`, the assets of each layer in `<layer>_assets.py`, and
`sensors.py`. Loading it reads no manifest: every asset is an `AssetSpec`
literal. Each pipeline is one `@multi_asset` (one per partitioning within
it), so a run invokes dbt once for the selected subset, and dbt's results are
streamed into one materialization per model and one check result per test.

Schedules: one `ScheduleDefinition` per pipeline over its assets, or a
schedule built from the partitioned job for partitioned ones. A pipeline that
reads another pipeline's tables waits for them instead, through automation
conditions on its assets and a sensor that evaluates them. SLAs are watched
by a sensor; run failures alert through another.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Mapping

from orch.backends import runtime_files
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
    warning,
)

SUPPORT_MODULE = "orch_dagster_support"
OPTIONS = {
    "package": "orch_definitions",
    "dbt_executable": "dbt",
    "duckdb_env": "ORCH_DUCKDB_DATABASE",
    "sla_sensor_seconds": "300",
}
_PARTITIONS = {
    "hour": "HourlyPartitionsDefinition",
    "day": "DailyPartitionsDefinition",
    "month": "MonthlyPartitionsDefinition",
}
_HEALTH_KINDS = sqlgen.HEALTH_CHECK_KINDS
_TAG = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _key_part(text: str) -> str:
    # Dagster key parts are [A-Za-z0-9_]+.
    return re.sub(r"[^A-Za-z0-9_]", "_", text, flags=re.ASCII) or "_"


def asset_key(asset: ir.Asset) -> list[str]:
    """The asset key path: the relation's schema and name (e.g. marts/fct_orders)."""
    if asset.relation is not None:
        return [_key_part(p) for p in (asset.relation.schema, asset.relation.name) if p]
    return [asset.kind.value, _key_part(asset.name)]


def asset_keys(project: ir.Project) -> dict[str, list[str]]:
    """IR key -> Dagster key path.

    Assets naming the same table are one Dagster asset: a dbt source that
    reads the table a seed writes takes the seed's key, so the lineage runs
    through it. Two assets that both build one key path are told apart by
    their database, then by their name.
    """
    paths = {a.key: asset_key(a) for a in project.assets}
    builders: dict[tuple, list[ir.Asset]] = defaultdict(list)
    for asset in project.assets:
        if asset.runner is not None:
            builders[tuple(paths[asset.key])].append(asset)
    for path, clashing in builders.items():
        if len(clashing) < 2:
            continue
        for asset in clashing:
            relation = asset.relation
            prefix = [_key_part(relation.database)] if relation is not None and relation.database else []
            paths[asset.key] = [*prefix, *path]
        if len({tuple(paths[a.key]) for a in clashing}) < len(clashing):
            for asset in clashing:
                paths[asset.key] = [*paths[asset.key], _key_part(asset.name)]
    # Names that differ only in characters a key part cannot hold ("a-b",
    # "a.b", "a b") still clash: number them in key order, so the same project
    # always gets the same keys. An unbuilt asset over a table something builds
    # shares the builder's key (that is the lineage); unbuilt assets over
    # different tables do not share.
    owners: dict[tuple[str, ...], tuple] = {}
    for asset in sorted(project.assets, key=lambda a: (a.runner is None, a.key)):
        path = tuple(paths[asset.key])
        if asset.runner is not None:
            identity: tuple = ("built", asset.key)
        elif asset.relation is not None:
            identity = ("table", (asset.relation.schema or "").lower(), asset.relation.name.lower())
        else:
            identity = ("asset", asset.key)
        owner = owners.get(path)
        if owner is None or owner == identity or (asset.runner is None and owner[0] == "built"):
            owners.setdefault(path, identity)
            continue
        n = 2
        while (*path[:-1], f"{path[-1]}_{n}") in owners:
            n += 1
        path = (*path[:-1], f"{path[-1]}_{n}")
        paths[asset.key] = list(path)
        owners[path] = identity
    return paths


def _owners(owner: str | None) -> list[str]:
    if not owner:
        return []
    return [owner] if _EMAIL.match(owner) else [f"team:{slug(owner)}"]


def _tags(asset: ir.Asset) -> dict[str, str]:
    return {t: "" for t in asset.tags if _TAG.match(t)}


def _kinds(asset: ir.Asset) -> set[str]:
    kinds = set()
    if isinstance(asset.runner, ir.DbtBuild) or (asset.runner is None and asset.kind is not ir.AssetKind.TASK):
        kinds.add("dbt")
    if isinstance(asset.runner, ir.SqlmeshRun):
        kinds.add("sqlmesh")
    if asset.relation is not None and asset.relation.engine:
        kinds.add(asset.relation.engine)
    return kinds


def _start_date(part: ir.Partitioning) -> str:
    start = part.start.isoformat() if part.start else "2025-01-01"
    # Hourly partitions want the hour too, and refuse a plain date.
    return f"{start}-00:00" if part.granularity == "hour" else start


#: What an assets module imports or defines under fixed names (see `files`).
_ASSETS_MODULE_NAMES = ("os", "timedelta", "dg", "run_command", "run_dbt", "after_upstream", "sql_checks", "DBT",
                        "assets", "asset_checks")
#: The same for the package's __init__.py, whose module names are imported into it.
_INIT_MODULE_NAMES = ("timedelta", "dg", "DuckDBResource", "BigQueryResource", "sensors", "partitioned_schedule",
                      "external_assets", "schedules", "automation", "defs", SUPPORT_MODULE)


class DagsterBackend(Backend):
    name = "dagster"
    description = "a Dagster 1.13 code location: Definitions, <layer>_assets.py, sensors.py, pyproject.toml"
    SUPPORTS_PARTITIONS = True
    SUPPORTS_SLA = True
    SUPPORTS_FRESHNESS = True
    SUPPORTS_CHECKS = True
    SUPPORTS_CROSS_PIPELINE = True
    RUNNERS = (ir.DbtBuild, ir.SqlmeshRun, ir.Command)
    OPTIONS = OPTIONS

    def __init__(self, options: Mapping[str, str] | None = None):
        super().__init__(options)
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.option("package")):
            raise CompileError(error(Code.UNSUPPORTED_BY_BACKEND,
                                     f"dagster option package={self.option('package')!r} must be a Python "
                                     "module name", ir.Location(path="--option")))
        if not self.option("sla_sensor_seconds").isdigit():
            raise CompileError(error(Code.UNSUPPORTED_BY_BACKEND,
                                     "dagster option sla_sensor_seconds must be a whole number",
                                     ir.Location(path="--option")))

    READS_BACK = True

    @classmethod
    def read_back(cls, folder: str) -> dict:
        # Imported here: loading the output imports the platform, which compiling never needs.
        from orch.backends.dagster.readback import read_dagster

        return read_dagster(folder)

    def unsupported(self, project: ir.Project) -> list:
        found = [d for d in super().unsupported(project) if d.is_error]
        assets = project.asset_map()
        for check in project.checks:
            asset = assets[check.asset]
            engine = asset.relation.engine if asset.relation else None
            if check.kind is ir.CheckKind.DBT_TEST and not isinstance(asset.runner, ir.DbtBuild):
                if asset.runner is not None or asset.kind is not ir.AssetKind.SOURCE:
                    found.append(warning(Code.UNSUPPORTED_BY_BACKEND,
                                         f"dagster backend leaves out the dbt test {check.name}: "
                                         f"{asset.name} is not built by dbt here", check.origin))
                else:
                    found.append(warning(Code.UNSUPPORTED_BY_BACKEND,
                                         f"dagster backend leaves out the source test {check.name}",
                                         check.origin))
            elif check.kind in _HEALTH_KINDS and engine not in ("duckdb", "bigquery"):
                found.append(warning(Code.UNSUPPORTED_BY_BACKEND,
                                     f"dagster backend runs SQL checks on duckdb and bigquery only; "
                                     f"{check.name} is left out", check.origin))
        for asset in project.assets:
            if asset.partitioning is not None and asset.runner is not None and \
                    asset.partitioning.granularity not in _PARTITIONS:
                found.append(warning(Code.UNSUPPORTED_BY_BACKEND,
                                     f"dagster backend has no {asset.partitioning.granularity!r} partitions; "
                                     f"{asset.name} is scheduled unpartitioned", asset.origin))
        return found

    def emit(self, project: ir.Project, source: str) -> list[OutputFile]:
        return _Package(self, project, source).files()


class _Package:
    def __init__(self, backend: DagsterBackend, project: ir.Project, source: str):
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
        that runs the definitions (see `files`)."""
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
        layers: dict[str, list[tuple[str, str]]] = defaultdict(list)
        layer_checks: dict[str, list[tuple[str, object]]] = defaultdict(list)
        layer_keys: dict[str, list[str]] = defaultdict(list)
        schedules: list[str] = []
        automation: list[str] = []
        engines = set()
        # One schedule per pipeline and partitioning, whatever multi-assets run it.
        scheduled: dict[tuple[str, str | None], tuple[ir.Pipeline, str, list[str]]] = {}
        # Each module's names: what it imports or defines, whether used or not, is never a function's.
        constants = {self.folder(f) for f in self.folder_variables}
        scopes: dict[str, NameScope] = defaultdict(lambda: NameScope((*_ASSETS_MODULE_NAMES, *constants), "a_"))
        for pipeline, partitions, name, keys in self.groups():
            layer = slug(self.assets[keys[0]].layer or "assets")
            ident = scopes[layer](name)
            layers[layer].append((ident, self.multi_asset(pipeline, partitions, name, keys, ident)))
            layer_checks[layer].extend(self.health_checks(keys))
            layer_keys[layer].extend(keys)
            engines |= {self.assets[k].relation.engine for k in keys if self.assets[k].relation}
            entry = scheduled.setdefault((pipeline.name, partitions), (pipeline, name, []))
            entry[2].extend(keys)
        for (_, partitions), (pipeline, name, keys) in scheduled.items():
            lit = pyfmt.lit
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
        files = []
        modules = []
        package = NameScope(_INIT_MODULE_NAMES)
        for layer in sorted(layers):
            module = package(f"{layer}_assets")
            modules.append(module)
            checks = []  # (variable, statement): one multi-asset check per warehouse
            for engine in sorted({e for e, _ in layer_checks[layer]}):
                name = f"{layer}_{engine}_health_checks"
                var = scopes[layer](name)
                node = pyfmt.call("sql_checks", name=pyfmt.lit(name), resource=pyfmt.lit(engine),
                                  checks=("seq", "[", "]", tuple(c for e, c in layer_checks[layer] if e == engine)))
                checks.append((var, f"{var} = {self.prebuilt.name(node)}"))
            everything = "\n".join(code for _, code in layers[layer])
            timed = any(k in self.with_timedelta for k in layer_keys[layer])
            folders = sorted((self.folder(f), v, f) for f, v in self.folder_variables.items()
                             if re.search(rf"\b{self.folder(f)}\b", everything))
            imports = ["import os", *(["from datetime import timedelta"] if timed else []), ""] if folders or timed \
                else []
            imports.append("import dagster as dg")
            helpers = [h for h in ("run_command", "run_dbt") if f"{h}(" in everything]
            helpers += ["after_upstream"] if any(k in self.automated for k in layer_keys[layer]) else []
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
                *(code for _, code in layers[layer]),
                *(code for _, code in checks),
                *([""] if checks else []),
                f"assets = [{', '.join(fn for fn, _ in layers[layer])}]",
                f"asset_checks = [{', '.join(fn for fn, _ in checks)}]",
                "",
            ])
            files.append(OutputFile(path=f"{self.pkg}/{module}.py", content=format_python(code, self.prebuilt)))

        built = {tuple(self.keys[a.key]) for a in self.project.assets if a.runner is not None}
        external, seen = [], set()
        for asset in self.project.assets:
            path = tuple(self.keys[asset.key])
            if asset.runner is None and path not in built and path not in seen:
                seen.add(path)
                external.append(asset)
        externals = self.name_of(self.spec(a, external=True) for a in external)
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
                partitions and not self.upstream[name] for name, partitions in scheduled) else []),
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
        files.append(OutputFile(path=f"{self.pkg}/__init__.py", content=format_python(init, self.prebuilt)))

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
        files.append(OutputFile(path=f"{self.pkg}/sensors.py", content=format_python(sensors, self.prebuilt)))

        files += runtime_files(f"{self.pkg}/", os.path.join(os.path.dirname(__file__), f"{SUPPORT_MODULE}.py"),
                               self.source)
        files.append(OutputFile(path="pyproject.toml", content=(
            f"{header}[project]\nname = {_toml(self.pkg.replace('_', '-'))}\nversion = \"0\"\n"
            f"requires-python = \">=3.11\"\n\n[tool.dagster]\nmodule_name = {_toml(self.pkg)}\n"
            f"code_location_name = {_toml(slug(self.project.name))}\n"
        )))
        return files


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)
