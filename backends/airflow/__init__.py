"""The `airflow` backend: one static DAG file per pipeline, for Airflow 3.1+.

The files are plain Airflow code: no manifest is read when Airflow parses
them, so they import as fast as hand-written DAGs. Strings from the inputs
reach the code only as Python literals (repr) and shell arguments only through
shlex.quote.

Cross-pipeline dependencies: every task that produces a table declares it as
an outlet `Asset`, so Airflow's lineage views show the data flow. A pipeline
that reads another pipeline's tables keeps its own cron schedule and starts
with an `ExternalTaskSensor` per upstream pipeline, waiting (in reschedule
mode, holding no worker slot) for the producing tasks' run of the same
logical date, or, when the upstream runs on another schedule, its latest run
at or before this run's logical date. Asset-triggered schedules are not used
for this: they would replace the downstream's own cadence with the upstream's,
and `AssetOrTimeSchedule` runs on either trigger, not after both.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from datetime import date
from urllib.parse import quote

import attrs

from orch.backends import ALERTS_MODULE, runtime_files
from orch.compiler.plugin import (
    Backend,
    Code,
    CompileError,
    NameScope,
    OutputFile,
    error,
    format_duration,
    format_python,
    in_project,
    ir,
    project_dir_lines,
    project_dir_variables,
    pyfmt,
    python_header,
    schedule_label,
    selection,
    sqlgen,
    tests_of_several,
    unique,
    upstream_pipelines,
    warning,
)

SUPPORT_MODULE = "orch_airflow_support"

#: Jinja templates for the partition a run rebuilds, by granularity.
PARTITION_VALUE_TEMPLATES = {
    "hour": "{{ logical_date.strftime('%Y-%m-%d %H:00:00') }}",
    "day": "{{ ds }}",
    "month": "{{ logical_date.strftime('%Y-%m-01') }}",
    "year": "{{ logical_date.strftime('%Y-01-01') }}",
}
#: BigQuery partition decorators (`table$20261128`) for the same partitions.
PARTITION_DECORATOR_TEMPLATES = {
    "hour": "{{ logical_date.strftime('%Y%m%d%H') }}",
    "day": "{{ ds_nodash }}",
    "month": "{{ logical_date.strftime('%Y%m') }}",
    "year": "{{ logical_date.strftime('%Y') }}",
}
# Model tasks in one DAG above which starting them costs the triggerer more than
# the build takes (W065): Airflow 3.3 rebuilds the DAG for every task it starts.
LARGE_TRIGGERER_DAG = 500

OPTIONS = {
    "dbt_executable": "dbt",
    "dbt_command": "build",
    "dbt_invocation": "pipeline",
    "dbt_results_dir": "",
    "dbt_stale_seconds": "120",
    "start_date": "2025-01-01",
    "catchup": "false",
    "deadlines": "true",
    "max_active_runs": "1",
    "retries": "1",
    "critical_retries": "3",
    "retry_delay_minutes": "5",
    "sensor_timeout_seconds": "43200",
    "sensor_poke_seconds": "300",
    "conn_id": "",
    "gcp_conn_id": "google_cloud_default",
    "location": "US",
}


def task_ids(pipeline: ir.Pipeline, assets: Mapping[str, ir.Asset]) -> dict[str, str]:
    """Asset key -> task id: the asset's name made valid, unique in its DAG."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for key in sorted(pipeline.assets):
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", assets[key].name)[:200] or "task"
        out[key] = unique(base, used, str.lower)
    return out


def asset_uri(relation: ir.Relation) -> str:
    parts = [relation.database, relation.schema, relation.name]
    path = "/".join(quote(p, safe="") for p in parts if p)
    return f"{(relation.engine or 'warehouse').lower()}://{path}"


_JINJA_START = re.compile(r"\{[{%#]|\r")


def jinja_literal(text: str) -> str:
    """`text` as it must stand in a templated operator field (bash_command, cwd,
    sql, a BigQuery configuration) to render as itself.

    Airflow renders those fields with Jinja at run time, so a model named
    `{{ conn.warehouse.password }}` would otherwise put a secret on a command
    line. Each opening delimiter becomes an expression printing it, and so do
    carriage returns and a final newline (Jinja turns "\\r\\n" into "\\n" and
    drops one trailing newline).
    """
    out = _JINJA_START.sub(lambda m: "{{ '\\r' }}" if m.group(0) == "\r" else "{{ '" + m.group(0) + "' }}", text)
    return out[:-1] + "{{ '\\n' }}" if out.endswith("\n") else out


def _not_a_template_path(text: str, extensions: tuple[str, ...]) -> str:
    # Airflow reads a templated string ending in one of the operator's template
    # extensions as the path of a template file; a space keeps it a command.
    return f"{text} " if text.endswith(extensions) else text


_BASH_EXT = (".sh", ".bash")
_SQL_EXT = (".sql", ".json")


# Airflow refuses to import a DAG holding an Asset whose URI is longer.
_MAX_ASSET_URI = 1500


def outlet_uri(asset: ir.Asset) -> str | None:
    """The URI of the Airflow Asset a task updates, None when Airflow cannot hold one."""
    if asset.relation is None:
        return None
    uri = asset_uri(asset.relation)
    return uri if len(uri) <= _MAX_ASSET_URI else None


_HEALTH_KINDS = sqlgen.HEALTH_CHECK_KINDS


def _skipped(where: ir.Location, what: str):
    return warning(Code.UNSUPPORTED_BY_BACKEND, f"airflow backend leaves out {what}", where)


_SQL_OPERATORS = "airflow.providers.common.sql.operators.sql"
_BIGQUERY_OPERATORS = "airflow.providers.google.cloud.operators.bigquery"

#: Every name a DAG file can import, and its module (None: `import name`). A task
#: variable never takes one of them, whether the file imports it or not.
_IMPORTABLE: dict[str, str | None] = {
    "os": None,
    "pendulum": None,
    "datetime": "datetime",
    "timedelta": "datetime",
    "DAG": "airflow.sdk",
    "Asset": "airflow.sdk",
    "DeadlineAlert": "airflow.sdk",
    "DeadlineReference": "airflow.sdk",
    "SyncCallback": "airflow.sdk",
    "BashOperator": "airflow.providers.standard.operators.bash",
    "EmptyOperator": "airflow.providers.standard.operators.empty",
    "ExternalTaskSensor": "airflow.providers.standard.sensors.external_task",
    "SQLExecuteQueryOperator": _SQL_OPERATORS,
    "SQLCheckOperator": _SQL_OPERATORS,
    "BigQueryInsertJobOperator": _BIGQUERY_OPERATORS,
    "BigQueryCheckOperator": _BIGQUERY_OPERATORS,
    "DbtNodeSensor": SUPPORT_MODULE,
    "DbtBuildOperator": SUPPORT_MODULE,
    "DbtTestsOperator": SUPPORT_MODULE,
}
#: What a DAG file defines at module level under fixed names.
_DEFINED = ("dag", "on_critical_failure", "ORCH_LINEAGE")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("hours", 3600), ("minutes", 60)):
        if seconds and seconds % size == 0:
            return f"timedelta({unit}={seconds // size})"
    return f"timedelta(seconds={seconds})"


class AirflowBackend(Backend):
    name = "airflow"
    description = "Airflow 3 DAG files, one per pipeline (<pipeline>.py)"
    SUPPORTS_PARTITIONS = True
    SUPPORTS_SLA = True
    SUPPORTS_FRESHNESS = True
    SUPPORTS_CHECKS = True
    SUPPORTS_CROSS_PIPELINE = True
    RUNNERS = (ir.DbtBuild, ir.SqlmeshRun, ir.SqlQuery, ir.Command)
    OPTIONS = OPTIONS

    _INTEGER_OPTIONS = ("max_active_runs", "retries", "critical_retries", "retry_delay_minutes",
                        "sensor_timeout_seconds", "sensor_poke_seconds", "dbt_stale_seconds")

    def __init__(self, options: Mapping[str, str] | None = None):
        super().__init__(options)
        problems = []
        for key in self._INTEGER_OPTIONS:
            if not self.option(key).isdigit():
                problems.append(f"{key}={self.option(key)!r} must be a whole number")
        if self.option("dbt_command") not in ("build", "run"):
            problems.append(f"dbt_command={self.option('dbt_command')!r} must be build or run")
        if self.option("dbt_invocation") not in ("model", "pipeline"):
            problems.append(f"dbt_invocation={self.option('dbt_invocation')!r} must be model or pipeline")
        elif self.option("dbt_invocation") == "pipeline" and self.option("dbt_command") != "build":
            problems.append("dbt_invocation=pipeline runs one `dbt build`: it needs dbt_command=build")
        if self.option("dbt_results_dir") and not os.path.isabs(self.option("dbt_results_dir")):
            problems.append(f"dbt_results_dir={self.option('dbt_results_dir')!r} must be an absolute path, "
                            "as the workers and the triggerer see it")
        for key in ("catchup", "deadlines"):
            if self.option(key).lower() not in ("true", "false"):
                problems.append(f"{key}={self.option(key)!r} must be true or false")
        try:
            date.fromisoformat(self.option("start_date"))
        except ValueError:
            problems.append(f"start_date={self.option('start_date')!r} must be a date, YYYY-MM-DD")
        if problems:
            raise CompileError(
                [error(Code.UNSUPPORTED_BY_BACKEND, f"airflow option {p}", ir.Location(path="--option"))
                 for p in problems]
            )

    def int_option(self, key: str) -> int:
        return int(self.option(key))

    def check_connection(self, asset: ir.Asset) -> tuple[str, str] | None:
        """("bigquery", gcp_conn_id) or ("sql", conn_id) to run SQL checks of `asset` on, if any."""
        engine = asset.relation.engine if asset.relation else None
        if engine == "bigquery":
            return "bigquery", self.option("gcp_conn_id")
        conn_id = self.option("conn_id")
        return ("sql", conn_id) if conn_id else None

    READS_BACK = True

    @classmethod
    def read_back(cls, folder: str) -> dict:
        # Imported here: loading the output imports the platform, which compiling never needs.
        from orch.backends.airflow.readback import read_airflow

        return read_airflow(folder)

    def unsupported(self, project: ir.Project) -> list:
        found = []
        assets = project.asset_map()
        for pipeline in project.pipelines:
            # A DAG file is <pipeline>.py beside the modules it imports at run time.
            if pipeline.name in (SUPPORT_MODULE, ALERTS_MODULE):
                where = pipeline.origin or assets[pipeline.assets[0]].origin
                found.append(error(Code.OUTPUT_CONFLICT, f"pipeline {pipeline.name}'s DAG file would replace "
                                   f"{pipeline.name}.py, the module the DAGs import at run time; rename the "
                                   "pipeline", where))
        for asset in project.assets:
            if asset.runner is None:
                continue
            if asset.relation is not None and outlet_uri(asset) is None:
                found.append(_skipped(asset.origin, f"the Airflow Asset (lineage outlet) of {asset.name[:80]}: its "
                                                    f"URI is longer than Airflow's {_MAX_ASSET_URI} characters"))
            if asset.freshness is not None:
                if not asset.freshness.timestamp_column:
                    found.append(_skipped(asset.origin, f"the freshness target of {asset.name} names no "
                                                        "freshness_column to measure"))
                elif self.check_connection(asset) is None:
                    found.append(_skipped(asset.origin, f"the freshness check of {asset.name}, which needs a "
                                                        "connection to the warehouse: pass --option conn_id=NAME"))
        for check in project.checks:
            asset = assets[check.asset]
            if asset.runner is None:
                found.append(_skipped(check.origin, f"the check {check.name}: {asset.name} is not built by any "
                                                    "pipeline, so no task precedes it"))
            elif check.kind is ir.CheckKind.DBT_TEST:
                if not isinstance(asset.runner, ir.DbtBuild):
                    found.append(_skipped(check.origin, f"the dbt test {check.name}: only dbt runs dbt tests, and "
                                                        f"{asset.name} does not run through dbt"))
            elif check.kind is ir.CheckKind.SQLMESH_AUDIT:
                if not isinstance(asset.runner, ir.SqlmeshRun):
                    found.append(_skipped(check.origin, f"the SQLMesh audit {check.name}: {asset.name} does not "
                                                        "run through SQLMesh"))
            elif check.kind not in _HEALTH_KINDS:
                found.append(_skipped(check.origin, f"the {check.kind.value} check {check.name}"))
            elif self.check_connection(asset) is None:
                found.append(_skipped(check.origin, f"the check {check.name}, which needs a connection to the "
                                                    "warehouse: pass --option conn_id=NAME"))
        if self.option("dbt_invocation") == "pipeline":
            found += self._unblockable_checks(project)
            found += self._large_triggerer_dags(project)
        return found + [d for d in super().unsupported(project) if d.is_error]

    def _large_triggerer_dags(self, project: ir.Project) -> list:
        """Pipelines whose model tasks, all started in the triggerer, cost it quadratic time."""
        assets = project.asset_map()
        found = []
        for pipeline in project.pipelines:
            dbt_assets = [k for k in pipeline.assets if isinstance(assets[k].runner, ir.DbtBuild)]
            if len(dbt_assets) > LARGE_TRIGGERER_DAG:
                found.append(warning(
                    Code.LARGE_TRIGGERER_DAG,
                    f"DAG {pipeline.name} has {len(dbt_assets)} model tasks that start in the triggerer, which "
                    f"rebuilds the whole DAG for each: split the pipeline (--group-by) below "
                    f"{LARGE_TRIGGERER_DAG} (docs/backends.md, \"Large pipelines\")",
                    pipeline.origin or assets[dbt_assets[0]].origin))
        return found

    def _unblockable_checks(self, project: ir.Project) -> list:
        """Blocking checks between two dbt models of one pipeline: one build makes both."""
        assets = project.asset_map()
        owner = project.pipeline_of()
        checks_of = project.checks_by_asset()
        found = []
        for down in project.assets:
            if not isinstance(down.runner, ir.DbtBuild):
                continue
            for key in down.upstream:
                up = assets.get(key)
                if up is None or not isinstance(up.runner, ir.DbtBuild) or owner.get(key) != owner.get(down.key):
                    continue
                if self.check_connection(up) is None or up.relation is None:
                    continue
                if any(blocking for _, _, blocking in sqlgen.health_queries(up, checks_of.get(key, ()), "ansi")):
                    found.append(_skipped(up.origin, f"the hold that a blocking check of {up.name} has on "
                                                     f"{down.name}: one dbt build makes both, so the check fails "
                                                     f"{down.name}'s task after dbt built it (use a dbt test, or "
                                                     "--option dbt_invocation=model)"))
        return found

    def emit(self, project: ir.Project, source: str) -> list[OutputFile]:
        assets = project.asset_map()
        ids = {p.name: task_ids(p, assets) for p in project.pipelines}
        owner_of = project.pipeline_of()
        pipelines = {p.name: p for p in project.pipelines}
        folders = project_dir_variables(project)
        files = []
        for pipeline in project.pipelines:
            dag_file = _DagFile(self, project, pipeline, assets, ids, owner_of, pipelines, source, folders)
            code = dag_file.render()
            files.append(OutputFile(path=f"{pipeline.name}.py", content=format_python(code, dag_file.prebuilt)))
        if project.pipelines:
            files += runtime_files("", os.path.join(os.path.dirname(__file__), f"{SUPPORT_MODULE}.py"), source)
        return files


@attrs.define
class _Producer:
    """One `dbt build` of a pipeline (dbt_invocation=pipeline) and the assets it builds."""

    task_id: str
    var: str
    runner: ir.DbtBuild
    variables: str | None
    #: asset key -> the selector that names it alone
    selects: dict[str, str] = attrs.Factory(dict)
    assets: set[str] = attrs.Factory(set)
    lock: dict[str, object] = attrs.Factory(dict)
    #: a tests producer's: selector -> the tasks whose success it needs
    needs: dict[str, list[str]] = attrs.Factory(dict)


class _DagFile:
    def __init__(self, backend, project, pipeline, assets, ids, owner_of, pipelines, source, folders):
        self.b = backend
        self.project = project
        self.p: ir.Pipeline = pipeline
        self.assets: Mapping[str, ir.Asset] = assets
        self.checks_of = project.checks_by_asset()
        self.ids = ids
        self.owner_of = owner_of
        self.pipelines = pipelines
        self.source = source
        self.imports: set[str] = set()
        self.need("pendulum", "DAG")
        self.names = NameScope((*_IMPORTABLE, *_DEFINED))
        self.used_task_ids = {t.lower() for t in ids[pipeline.name].values()}
        self.lines: list[str] = []
        self.need_failure_callback = False
        self.prebuilt = pyfmt.Prebuilt()
        # check id -> task that runs it; an asset's own freshness target is "<key>#freshness".
        self.check_tasks: dict[str, str] = {}
        self.test_task: dict[str, str] = {}
        # check id -> the assets of other pipelines it reads, each waited for by a sensor.
        self.check_reads_outside: dict[str, list[str]] = {}
        # dbt_invocation=pipeline: one producer per dbt invocation the pipeline needs.
        self.producers: list[_Producer] = []
        # ... and one `dbt test` of the tests that read other pipelines' models.
        self.tests_producers: list[_Producer] = []
        # project folder -> its environment variable; and -> its name in this file.
        self.folder_variables: Mapping[str, str] = folders
        self.folders: dict[str, str] = {}

    # -- pieces --------------------------------------------------------------

    def need(self, *names: str) -> None:
        for name in names:
            module = _IMPORTABLE[name]
            self.imports.add(f"import {name}" if module is None else f"from {module} import {name}")

    def folder(self, project_dir: str) -> str:
        """The name under which this file holds where a project folder is, on the
        machine that runs it (see `render`): tasks run there, and every path of
        theirs inside the project is relative to it."""
        project_dir = os.path.abspath(project_dir)
        name = self.folders.get(project_dir)
        if name is None:
            self.need("os")
            name = self.folders[project_dir] = self.names(os.path.basename(project_dir) + "_dir")
        return name

    def outlets(self, asset: ir.Asset) -> dict[str, object]:
        """The task's `outlets=` (its table as an Airflow Asset) as a layout node; none without a table."""
        uri = outlet_uri(asset)
        if uri is None:
            return {}
        self.need("Asset")
        return {"outlets": ("seq", "[", "]", (pyfmt.call("Asset", pyfmt.lit(uri)),))}

    @staticmethod
    def asset_kwarg(asset: ir.Asset) -> dict[str, object]:
        uri = outlet_uri(asset)
        return {} if uri is None else {"asset": pyfmt.lit(uri)}

    def common_task_kwargs(self, asset: ir.Asset) -> dict[str, object]:
        """The task arguments every runner's task takes, as layout nodes."""
        lit = pyfmt.lit
        kw: dict[str, object] = {}
        if asset.description:
            kw["doc_md"] = lit(asset.description)
        if asset.owner and asset.owner != self.p.owner:
            kw["owner"] = lit(asset.owner)
        if asset.retries is not None:
            kw["retries"] = lit(asset.retries)
        elif asset.critical:
            kw["retries"] = lit(self.b.int_option("critical_retries"))
        if asset.retry_delay is not None:
            kw["retry_delay"] = _duration(asset.retry_delay.total_seconds())
        if asset.critical:
            self.need_failure_callback = True
            kw["on_failure_callback"] = "on_critical_failure"
        return kw

    def task_args(self, asset: ir.Asset, outlets: dict[str, object]) -> str:
        """`outlets` and the common arguments as source text, for the statements built as text."""
        return "".join(f"{k}={pyfmt.flat(v)}," for k, v in {**outlets, **self.common_task_kwargs(asset)}.items())

    def dbt_argv(self, verb: str, runner: ir.DbtBuild, selects: Sequence[str]) -> list[str]:
        # Every dbt task runs in its project folder (`cwd`), which may not be where
        # orch compiled it: the project is "." to dbt.
        argv = [self.b.option("dbt_executable"), verb, "--select", *selects, "--project-dir", "."]
        if runner.profiles_dir:
            argv += ["--profiles-dir", in_project(runner.profiles_dir, runner.project_dir)]
        if runner.target:
            argv += ["--target", runner.target]
        if verb in ("build", "test"):
            # Tests that read several models run in their own task once all of
            # them are built (see multi_asset_check); eager selection would run
            # them with whichever parent happens to build first.
            argv += ["--indirect-selection", "cautious"]
        return argv

    @staticmethod
    def dbt_vars(verb: str, asset: ir.Asset) -> str | None:
        """The `--vars` of a run of `asset` as a Jinja template (the partition of the run), if it has any."""
        part = asset.partitioning
        if part is not None and part.granularity in PARTITION_VALUE_TEMPLATES and verb in ("build", "run"):
            return json.dumps({sqlgen.PARTITION_PARAMETER: PARTITION_VALUE_TEMPLATES[part.granularity]})
        return None

    def dbt_command(self, verb: str, runner: ir.DbtBuild, asset: ir.Asset) -> str:
        command = jinja_literal(" ".join(shlex.quote(a) for a in self.dbt_argv(verb, runner, [runner.select])))
        variables = self.dbt_vars(verb, asset)
        if variables:
            # Jinja renders the template at run time; the JSON braces stay literal.
            command += " --vars " + shlex.quote(variables)
        return _not_a_template_path(command, _BASH_EXT)

    def bash(self, var: str, task_id: str, command: str, asset: ir.Asset, cwd: object | None,
             outlets: dict[str, object]) -> str:
        # Most tasks are this one statement; built as a layout node it is never
        # parsed back or handed to black (seconds at 10,000 models).
        self.need("BashOperator")
        lit = pyfmt.lit
        kw: dict[str, object] = {"task_id": lit(task_id), "bash_command": lit(command)}
        if cwd:
            kw["cwd"] = cwd
        kw.update(outlets)
        kw.update(self.common_task_kwargs(asset))
        if isinstance(asset.runner, ir.DbtBuild):
            kw.update(self.pool(asset))
        return f"{var} = {self.prebuilt.name(pyfmt.call('BashOperator', **kw))}"

    def sql_task(self, var: str, task_id: str, runner: ir.SqlQuery, asset: ir.Asset,
                 outlets: dict[str, object]) -> str:
        def unavailable(why: str) -> CompileError:
            return CompileError(error(Code.RUNNER_UNAVAILABLE, f"{asset.name}: {why}", asset.origin))

        part = asset.partitioning
        if part is not None and part.granularity not in PARTITION_VALUE_TEMPLATES:
            part = None
        if runner.write_mode == "merge" and runner.dialect == "bigquery" and not asset.columns:
            raise unavailable("a MERGE on BigQuery updates named columns; document the model's columns, "
                              "or use the dbt runner for it")
        if runner.dialect != "bigquery":
            conn_id = runner.connection or self.b.option("conn_id")
            if not conn_id:
                raise unavailable("the SQL runner needs a connection: pass --option conn_id=NAME, "
                                  "or set meta.conn_id on the model")
            self.need("SQLExecuteQueryOperator")
            statements = [_not_a_template_path(jinja_literal(q), _SQL_EXT)
                          for q in sqlgen.write_statements(runner, asset.columns)]
            return (
                f"{var} = SQLExecuteQueryOperator(task_id={task_id!r}, conn_id={conn_id!r}, "
                f"sql={statements!r}, "
                f"{self.task_args(asset, outlets)})"
            )

        self.need("BigQueryInsertJobOperator")
        query: dict = {"useLegacySql": False}
        if runner.destination is None:
            query["query"] = runner.sql
        elif runner.write_mode == "view":
            query["query"] = sqlgen.create_view(runner)
        elif runner.write_mode == "merge":
            source = attrs.evolve(runner, sql=sqlgen.only_partition(runner.sql, part)) if part else runner
            query["query"] = ";\n".join(sqlgen.merge(source, asset.columns, part))
        else:
            dest = runner.destination
            table_id = jinja_literal(dest.name)
            query["query"] = runner.sql
            query["writeDisposition"] = "WRITE_APPEND" if runner.write_mode == "append" else "WRITE_TRUNCATE"
            if part is not None:
                query["timePartitioning"] = {"type": part.granularity.upper(), "field": part.field}
                if runner.write_mode == "append":
                    # An incremental run replaces exactly its own partition, so a
                    # backfill of any logical date rebuilds the right one.
                    query["query"] = sqlgen.only_partition(runner.sql, part)
                    table_id = f"{table_id}${PARTITION_DECORATOR_TEMPLATES[part.granularity]}"
                    query["writeDisposition"] = "WRITE_TRUNCATE"
            query["destinationTable"] = {"projectId": dest.database and jinja_literal(dest.database),
                                         "datasetId": dest.schema and jinja_literal(dest.schema), "tableId": table_id}
            query["createDisposition"] = "CREATE_IF_NEEDED"
        query["query"] = jinja_literal(query["query"])
        if part is not None and runner.write_mode in ("append", "merge"):
            query["queryParameters"] = [{
                "name": sqlgen.PARTITION_PARAMETER,
                "parameterType": {"type": "STRING"},
                "parameterValue": {"value": PARTITION_VALUE_TEMPLATES[part.granularity]},
            }]
        gcp_conn_id = runner.connection or self.b.option("gcp_conn_id")
        return (
            f"{var} = BigQueryInsertJobOperator(task_id={task_id!r}, configuration={{'query': {query!r}}}, "
            f"location={self.b.option('location')!r}, gcp_conn_id={gcp_conn_id!r}, "
            f"{self.task_args(asset, outlets)})"
        )

    def task(self, key: str) -> tuple[str, str | None]:
        """Lines for the asset's task; returns (variable of its last task, variable of its first)."""
        asset = self.assets[key]
        task_id = self.ids[self.p.name][key]
        var = self.names(task_id)
        runner = asset.runner
        if isinstance(runner, ir.DbtBuild):
            # A relative project dir means "as seen from where orch ran"; workers
            # need it absolute (pass --dbt-project-dir as the workers see it).
            runner = attrs.evolve(runner, project_dir=os.path.abspath(runner.project_dir))
            if self.b.option("dbt_invocation") == "pipeline":
                self.lines.append(self.dbt_node_task(var, task_id, runner, asset))
                return var, var
        outlets = self.outlets(asset)
        if isinstance(runner, ir.DbtBuild):
            mode = self.b.option("dbt_command")
            if mode == "run" and asset.kind is ir.AssetKind.MODEL:
                self.lines.append(self.bash(var, task_id, self.dbt_command("run", runner, asset), asset,
                                            self.folder(runner.project_dir), outlets))
                test_id = self.unique_task_id(f"test_{task_id}")
                self.test_task[asset.key] = test_id
                test_var = self.names(test_id)
                command = self.dbt_command("test", runner, asset)
                self.need("BashOperator")
                self.lines.append(
                    f"{test_var} = BashOperator(task_id={test_id!r}, bash_command={command!r}, "
                    f"cwd={self.folder(runner.project_dir)}{_flat_kwargs(self.pool(asset))})"
                )
                self.lines.append(f"{var} >> {test_var}")
                return test_var, var
            else:
                verb = "build" if mode == "build" else {"seed": "seed", "snapshot": "snapshot"}.get(
                    asset.kind.value, "run")
                self.lines.append(self.bash(var, task_id, self.dbt_command(verb, runner, asset), asset,
                                            self.folder(runner.project_dir), outlets))
        elif isinstance(runner, ir.SqlmeshRun):
            command = _not_a_template_path(jinja_literal(" ".join(shlex.quote(a) for a in (
                "sqlmesh", "run", "--select-model", runner.model, "--no-auto-upstream"))), _BASH_EXT)
            self.lines.append(self.bash(var, task_id, command, asset, self.folder(runner.project_dir), outlets))
        elif isinstance(runner, ir.Command):
            command = _not_a_template_path(jinja_literal(" ".join(shlex.quote(a) for a in runner.argv)),
                                           _BASH_EXT)
            cwd = pyfmt.lit(jinja_literal(os.path.abspath(runner.cwd))) if runner.cwd else None
            self.lines.append(self.bash(var, task_id, command, asset, cwd, outlets))
        elif isinstance(runner, ir.SqlQuery):
            self.lines.append(self.sql_task(var, task_id, runner, asset, outlets))
        else:  # the IR's runner set is closed; a new variant must be handled here
            raise CompileError(
                error(Code.UNSUPPORTED_BY_BACKEND, f"{asset.name}: unsupported runner {type(runner).__name__}",
                      asset.origin)
            )
        return var, var

    # -- dbt_invocation=pipeline ----------------------------------------------

    def dbt_node_task(self, var: str, task_id: str, runner: ir.DbtBuild, asset: ir.Asset) -> str:
        """The asset's task when one `dbt build` runs the pipeline: it waits for its
        node's result (and its tests') from the producer, and rebuilds alone on a retry.

        Its table's Asset is named, not an outlet: a task that a trigger ends emits
        no asset events, so the producer emits them (orch_airflow_support.py)."""
        variables = self.dbt_vars("build", asset)
        producer = self.producer_for(runner, variables)
        producer.selects[asset.key] = runner.select
        producer.assets.add(asset.key)
        lock = self.lock(runner, asset)
        producer.lock = producer.lock or lock
        tests = sorted(c.key for c in self.checks_of.get(asset.key, ())
                       if c.kind is ir.CheckKind.DBT_TEST and not c.also)
        return self.node_sensor(var, task_id, producer, [asset.key, *tests],
                                self.dbt_argv("build", runner, [runner.select]), variables,
                                {**lock, **self.asset_kwarg(asset), **self.common_task_kwargs(asset)})

    def producer_for(self, runner: ir.DbtBuild, variables: str | None) -> _Producer:
        # Assets of another project, profile or target cannot share one invocation,
        # nor can partitions of another granularity (one --vars per invocation);
        # models that read no partition ignore the variable, so they join any.
        for producer in self.producers:
            same = (producer.runner.project_dir, producer.runner.profiles_dir, producer.runner.target) == (
                runner.project_dir, runner.profiles_dir, runner.target)
            if same and (variables is None or producer.variables in (None, variables)):
                producer.variables = producer.variables or variables
                return producer
        task_id = self.unique_task_id("dbt_build")
        producer = _Producer(task_id=task_id, var=self.names(task_id), runner=runner, variables=variables)
        self.producers.append(producer)
        return producer

    @staticmethod
    def single_writer(asset: ir.Asset) -> str | None:
        """The database of an asset in a warehouse that admits one writer at a time (DuckDB)."""
        relation = asset.relation
        return (relation.database or "main") if relation is not None and relation.engine == "duckdb" else None

    def pool(self, asset: ir.Asset) -> dict[str, object]:
        """dbt_invocation=model: the Airflow pool (of one slot) its DuckDB file's writers share.

        The default mode names none, as a pool that nobody created holds its tasks forever.
        """
        database = self.single_writer(asset)
        if database is None or self.b.option("dbt_invocation") != "model":
            return {}
        return {"pool": pyfmt.lit("orch_duckdb_" + re.sub(r"[^A-Za-z0-9_.-]", "_", database)[:200])}

    def lock(self, runner: ir.DbtBuild, asset: ir.Asset) -> dict[str, object]:
        """dbt_invocation=pipeline: the lock file its DuckDB file's builds take turns on."""
        database = self.single_writer(asset)
        if database is None:
            return {}
        return {"lock": pyfmt.lit(os.path.join(self.results_dir(runner), f"{quote(database, safe='')}.duckdb.lock"))}

    def results_dir(self, runner: ir.DbtBuild) -> str:
        """Where a build publishes its node results: relative paths are inside the project."""
        return self.b.option("dbt_results_dir") or os.path.join("target", "orch_runs")

    def node_sensor(self, var: str, task_id: str, producer: _Producer, nodes: list[str], rebuild: list[str],
                    variables: str | None, extra: dict[str, object]) -> str:
        self.need("DbtNodeSensor")
        lit = pyfmt.lit
        kw: dict[str, object] = {
            "task_id": lit(task_id),
            "producer": lit(producer.task_id),
            "nodes": lit(nodes),
            "results_dir": lit(self.results_dir(producer.runner)),
            "rebuild": lit(rebuild),
            "cwd": self.folder(producer.runner.project_dir),
        }
        if variables:
            kw["dbt_vars"] = lit(variables)
        kw.update(self.stale_kwarg())
        kw.update(extra)
        return f"{var} = {self.prebuilt.name(pyfmt.call('DbtNodeSensor', **kw))}"

    def producer_task(self, producer: _Producer, verb: str = "build", operator: str = "DbtBuildOperator",
                      extra: Mapping[str, object] | None = None, doc: str | None = None) -> str:
        """The task of one dbt invocation whose node results other tasks take: the
        pipeline's `dbt build`, or its `dbt test` of the tests across pipelines."""
        self.need(operator)
        lit = pyfmt.lit
        kw: dict[str, object] = {
            "task_id": lit(producer.task_id),
            "argv": lit(self.dbt_argv(verb, producer.runner, selection.cover(
                self.project.dbt_project(producer.runner.project_dir), producer.selects, cautious=True))),
            **(extra or {}),
            "cwd": self.folder(producer.runner.project_dir),
            "results_dir": lit(self.results_dir(producer.runner)),
        }
        if producer.variables:
            kw["dbt_vars"] = lit(producer.variables)
        kw.update(self.stale_kwarg())
        kw.update(producer.lock)
        # A retry would run every node again under tasks that already ended.
        kw["retries"] = lit(0)
        kw["doc_md"] = lit(doc or f"One `dbt build` of the {len(producer.assets)} dbt assets of this pipeline; "
                                  "each asset's task takes its result from it.")
        return f"{producer.var} = {self.prebuilt.name(pyfmt.call(operator, **kw))}"

    def stale_kwarg(self) -> dict[str, object]:
        stale = self.b.int_option("dbt_stale_seconds")
        return {} if stale == int(OPTIONS["dbt_stale_seconds"]) else {"stale_seconds": pyfmt.lit(stale)}

    def producer_upstream(self, producer: _Producer, members: set[str], last: Mapping[str, str]) -> list[str]:
        """Tasks of this pipeline that the producer's build reads from and does not run itself.

        The build waits for them; one that itself waits for an asset of the
        same build can never start, which is refused here.
        """
        outside = sorted({u for key in producer.assets for u in self.assets[key].upstream
                          if u in members and u not in producer.assets})
        for key in outside:
            seen, stack = set(), [key]
            while stack:
                node = stack.pop()
                for up in self.assets[node].upstream:
                    if up in producer.assets:
                        asset = self.assets[key]
                        raise CompileError(error(
                            Code.UNSUPPORTED_BY_BACKEND,
                            f"{asset.name} runs outside dbt between two models of one dbt build "
                            f"({self.assets[up].name} before it): dbt_invocation=pipeline cannot wait for it; "
                            "use --option dbt_invocation=model, or put it in a pipeline of its own",
                            asset.origin))
                    if up in members and up not in seen:
                        seen.add(up)
                        stack.append(up)
        return sorted({last[key] for key in outside})

    def producer_of(self, key: str) -> _Producer | None:
        return next((p for p in self.producers if key in p.assets), None)

    def health_checks(self, key: str) -> list[tuple[str, str, bool, str]]:
        """(task id suffix, SQL, blocking, check id) of each SQL health check that follows the asset."""
        asset = self.assets[key]
        connection = self.b.check_connection(asset)
        if connection is None or asset.relation is None:
            return []
        dialect = "bigquery" if connection[0] == "bigquery" else (asset.relation.engine or "ansi")
        return [
            ("freshness" if check is None else re.sub(r"[^A-Za-z0-9_.-]", "_", check.name), sql, blocking,
             freshness_check_id(key) if check is None else check.key)
            for check, sql, blocking in sqlgen.health_queries(asset, self.checks_of.get(key, ()), dialect)
        ]

    def health_task(self, task_id: str, sql: str, asset: ir.Asset, check: str) -> tuple[str, str]:
        sql = _not_a_template_path(jinja_literal(sql), _SQL_EXT)
        check_id = self.unique_task_id(f"check_{task_id}")
        self.check_tasks[check] = check_id
        var = self.names(check_id)
        kind, conn = self.b.check_connection(asset)
        if kind == "bigquery":
            self.need("BigQueryCheckOperator")
            line = (f"{var} = BigQueryCheckOperator(task_id={check_id!r}, sql={sql!r}, use_legacy_sql=False, "
                    f"gcp_conn_id={conn!r}, location={self.b.option('location')!r})")
        else:
            self.need("SQLCheckOperator")
            line = f"{var} = SQLCheckOperator(task_id={check_id!r}, conn_id={conn!r}, sql={sql!r})"
        return var, line

    def unique_task_id(self, base: str) -> str:
        return unique(base, self.used_task_ids, str.lower)

    def multi_asset_check(self, check: ir.Check, last: Mapping[str, str], sensors: Mapping[str, str]):
        """A dbt test that reads several assets: its own task, after all of them."""
        runner = self.assets[check.asset].runner
        runner = attrs.evolve(runner, project_dir=os.path.abspath(runner.project_dir))
        select = selection.test_selector(check)
        task_id = self.unique_task_id("test_" + re.sub(r"[^A-Za-z0-9_.-]", "_", check.name)[:195])
        self.check_tasks[check.key] = task_id
        var = self.names(task_id)
        producer = self.producer_of(check.asset)
        tests = None
        if producer is not None and all(key in producer.assets for key in check.also):
            # Every model it reads is in the same build, which runs the test too
            # (cautious selection takes a test once all its parents are selected).
            self.lines.append(self.node_sensor(
                var, task_id, producer, [check.key], self.dbt_argv("test", runner, [select]), None,
                {**producer.lock, "doc_md": pyfmt.lit(f"dbt test {check.name} reads several assets; its result comes "
                                     "from the pipeline's dbt build once all are built.")}))
        elif producer is not None:
            # It reads models of other pipelines: one `dbt test` of all such tests of
            # this pipeline, after every model they read, rather than a dbt each.
            tests = self.tests_producer_for(runner, producer.lock)
            tests.selects[check.key] = select
            self.lines.append(self.node_sensor(
                var, task_id, tests, [check.key], self.dbt_argv("test", runner, [select]), None,
                {**producer.lock, "doc_md": pyfmt.lit(f"dbt test {check.name} reads assets of several pipelines; "
                                                      f"its result comes from {tests.task_id} once all are built.")}))
        else:
            self.lines.append(self.dbt_test_task(var, task_id, check, runner, select))
        ups = []
        for key in (check.asset, *check.also):
            if key in last:
                ups.append(last[key])
            elif self.owner_of.get(key) in sensors:
                ups.append(sensors[self.owner_of[key]])
                self.check_reads_outside.setdefault(check.key, []).append(key)
        ups = sorted(set(ups))
        if tests is not None:
            tests.needs[select] = ups
        return var, ups

    def tests_producer_for(self, runner: ir.DbtBuild, lock: dict[str, object]) -> _Producer:
        for producer in self.tests_producers:
            if (producer.runner.project_dir, producer.runner.profiles_dir, producer.runner.target,
                    producer.lock) == (runner.project_dir, runner.profiles_dir, runner.target, lock):
                return producer
        task_id = self.unique_task_id("dbt_test")
        producer = _Producer(task_id=task_id, var=self.names(task_id), runner=runner, variables=None, lock=lock)
        self.tests_producers.append(producer)
        return producer

    def tests_producer_task(self, producer: _Producer) -> str:
        return self.producer_task(
            producer, "test", "DbtTestsOperator", {"tests": pyfmt.lit(producer.needs)},
            f"One `dbt test` of the {len(producer.selects)} tests of this pipeline that read "
            "assets of other pipelines; each test's task takes its result from it.")

    def dbt_test_task(self, var: str, task_id: str, check: ir.Check, runner: ir.DbtBuild, select: str) -> str:
        command = self.dbt_command("test", attrs.evolve(runner, select=select), self.assets[check.asset])
        self.need("BashOperator")
        return (
            f"{var} = BashOperator(task_id={task_id!r}, bash_command={command!r}, "
            f"cwd={self.folder(runner.project_dir)}, "
            f"doc_md={'dbt test ' + check.name + ' reads several assets; it runs once all are built.'!r}"
            f"{_flat_kwargs(self.pool(self.assets[check.asset]))})"
        )

    def sensor(self, upstream: ir.Pipeline, keys: Sequence[str]) -> tuple[str, str]:
        self.need("ExternalTaskSensor")
        self.need("timedelta")
        sensor_id = self.unique_task_id(f"wait_for_{upstream.name}")
        var = self.names(sensor_id)
        task_ids_ = sorted({self.ids[upstream.name][k] for k in keys})
        fn = ""
        if upstream.schedule != self.p.schedule:
            fn_name = self.names(f"latest_{upstream.name}_run")
            self.need("datetime")
            self.lines.insert(0, _LATEST_RUN_FN.format(
                fn=fn_name, cron=upstream.schedule.cron, tz=upstream.schedule.timezone, dag=upstream.name))
            fn = f"execution_date_fn={fn_name},"
        return (
            f"{var} = ExternalTaskSensor(task_id={sensor_id!r}, "
            f"external_dag_id={upstream.name!r}, external_task_ids={task_ids_!r}, {fn}"
            f"mode='reschedule', poke_interval={self.b.int_option('sensor_poke_seconds')}, "
            f"timeout={_duration(self.b.int_option('sensor_timeout_seconds'))}, "
            f"failed_states=['failed'], doc_md={'Waits for the tables this DAG reads from ' + upstream.name + '.'!r})"
        ), var

    # -- the file ------------------------------------------------------------

    def dag_args(self) -> str:
        p = self.p
        start = self.b.option("start_date")
        starts = [self.assets[k].partitioning.start for k in p.assets
                  if self.assets[k].partitioning and self.assets[k].partitioning.start]
        start_date = min(starts) if starts else date.fromisoformat(start)
        label = schedule_label(p.schedule)
        tags = sorted({*p.tags, label})
        default_args = {
            "owner": p.owner or "airflow",
            "retries": self.b.int_option("retries"),
        }
        self.need("timedelta")
        args = [
            f"dag_id={p.name!r}",
            f"schedule={p.schedule.cron!r}",
            f"start_date=pendulum.datetime({start_date.year}, {start_date.month}, {start_date.day}, "
            f"tz={p.schedule.timezone!r})",
            f"catchup={self.b.option('catchup').lower() == 'true'}",
            f"max_active_runs={self.b.int_option('max_active_runs')}",
            f"tags={tags!r}",
            "default_args={"
            + ", ".join(f"{k!r}: {v!r}" for k, v in default_args.items())
            + f", 'retry_delay': {_duration(self.b.int_option('retry_delay_minutes') * 60)}}}",
            f"doc_md={self.doc()!r}",
        ]
        # deadlines=false: `airflow dags test` 3.3.2 cannot run a DAG with a deadline
        # (apache/airflow#73428); the scheduler can.
        if (p.sla is not None and p.sla.complete_within.total_seconds() > 0
                and self.b.option("deadlines").lower() == "true"):
            self.need("DeadlineAlert", "DeadlineReference", "SyncCallback")
            sla = format_duration(p.sla.complete_within, "hm")
            kwargs = {"pipeline": p.name, "sla": sla, "critical": p.sla.critical}
            args.append(
                "deadline=DeadlineAlert(reference=DeadlineReference.DAGRUN_LOGICAL_DATE, "
                f"interval={_duration(p.sla.complete_within.total_seconds())}, "
                f"callback=SyncCallback({SUPPORT_MODULE + '.deadline_missed'!r}, kwargs={kwargs!r}))"
            )
        return ",\n    ".join(args)

    def doc(self) -> str:
        p = self.p
        lines = [f"### {p.name}", "", f"Generated by orch from `{self.source}`; schedule `{p.schedule.cron}`"
                 f" ({p.schedule.timezone})."]
        if p.sla is not None:
            lines.append(f"Completion SLA: {format_duration(p.sla.complete_within, 'hm')} after the scheduled start.")
        lines.append("")
        lines.append(f"{len(p.assets)} assets: " + ", ".join(self.assets[k].name for k in p.assets[:20])
                     + (" ..." if len(p.assets) > 20 else ""))
        return "\n".join(lines)

    def render(self) -> str:
        p = self.p
        body: list[str] = []
        first: dict[str, str] = {}
        last: dict[str, str] = {}
        for key in p.assets:
            start = len(self.lines)
            last[key], first[key] = self.task(key)
            body.extend(self.lines[start:])
            del self.lines[start:]

        members = set(p.assets)
        multi = tests_of_several(p, self.assets, self.checks_of)
        by_upstream_pipeline = upstream_pipelines(p, self.assets, self.checks_of, self.owner_of)
        sensors: dict[str, str] = {}
        for name in sorted(by_upstream_pipeline):
            line, var = self.sensor(self.pipelines[name], by_upstream_pipeline[name])
            body.append(line)
            sensors[name] = var

        edges = []
        for producer in self.producers:
            # The build waits for every upstream pipeline; each model's task keeps
            # its own lineage and learns from the results file, or from the
            # producer's state, when the build did not run.
            body.append(self.producer_task(producer))
            ups = [*self.producer_upstream(producer, members, last), *sorted(sensors.values())]
            if ups:
                edges.append(_edge(ups, producer.var))
        for key in p.assets:
            ups = sorted({last[u] for u in self.assets[key].upstream if u in members})
            ups += sorted({sensors[self.owner_of[u]] for u in self.assets[key].upstream
                           if u not in members and self.owner_of.get(u) in sensors})
            if ups:
                edges.append(_edge(ups, first[key]))
        for check in multi:
            var, ups = self.multi_asset_check(check, last, sensors)
            body.append(self.lines.pop())
            edges.append(_edge(ups, var))
        for producer in self.tests_producers:
            body.append(self.tests_producer_task(producer))
            edges.append(_edge(sorted({u for ups in producer.needs.values() for u in ups}), producer.var))
        downstream: dict[str, list[str]] = {}
        for down in p.assets:
            for up in self.assets[down].upstream:
                downstream.setdefault(up, []).append(down)
        health: list[str] = []
        for key in p.assets:
            producer = self.producer_of(key)
            for suffix, sql, blocking, check_id in self.health_checks(key):
                var, line = self.health_task(f"{self.ids[p.name][key]}_{suffix}", sql, self.assets[key], check_id)
                body.append(line)
                edges.append(_edge([last[key]], var))
                if producer is not None and self.single_writer(self.assets[key]) is not None:
                    # DuckDB lets one process open the file while dbt writes it: the
                    # check waits until the build is over.
                    edges.append(_edge([producer.var], var))
                health.append(var)
                if blocking:
                    # A failed blocking check stops everything downstream of its asset.
                    edges.extend(_edge([var], first[down]) for down in downstream.get(key, ()))
        if health:
            self.need("EmptyOperator")
            gate = self.names(self.unique_task_id("check_pipeline_health"))
            body.append(
                f"{gate} = EmptyOperator(task_id='check_pipeline_health', doc_md="
                f"{'Succeeds only when every health check of this run passed.'!r})"
            )
            if len(health) == 1:
                edges.append(_edge(health, gate))
            else:
                # A named list: one edge, and a statement short enough to read.
                checks_var = self.names("health_checks")
                body.append(f"{checks_var} = [{', '.join(sorted(health))}]")
                edges.append(f"{checks_var} >> {gate}")
        if self.need_failure_callback:
            self.lines.append(_FAILURE_CALLBACK)
        helpers = "\n\n".join(self.lines)
        dag_args = self.dag_args()
        code = [
            python_header(self.source).rstrip("\n"),
            f'"""{p.name}: {len(p.assets)} assets, scheduled {p.schedule.cron}."""',
            "",
            "from __future__ import annotations",
            "",
            *_import_block(self.imports),
            "",
        ]
        if self.folders:
            code += [*project_dir_lines("this DAG", [(name, self.folder_variables[folder], folder) for folder, name
                                                     in sorted(self.folders.items(), key=lambda kv: kv[1])]), ""]
        if helpers:
            code += [helpers, ""]
        code += [f"with DAG(\n    {dag_args},\n) as dag:"]
        code += ["    " + line for line in body]
        code += ["    " + line for line in edges]
        code += ["", "# The asset each task builds and the task that runs each check, for tools that read",
                 "# DAGs back (`orch diff`); plain data, so it costs the parse nothing to speak of.",
                 f"ORCH_LINEAGE = {self.prebuilt.name(pyfmt.lit(self.lineage()))}"]
        return "\n".join(code) + "\n"

    def lineage(self) -> dict:
        p = self.p
        checks = dict(self.check_tasks)
        for key in p.assets:
            asset = self.assets[key]
            if not isinstance(asset.runner, ir.DbtBuild):
                continue
            # dbt tests of one model run in that model's dbt task (or its test task in run mode).
            runs_tests = self.test_task.get(key) or (self.ids[p.name][key]
                                                     if self.b.option("dbt_command") == "build" else None)
            for check in self.checks_of.get(key, ()):
                if check.kind is ir.CheckKind.DBT_TEST and not check.also and runs_tests:
                    checks.setdefault(check.key, runs_tests)
        lineage = {"pipeline": p.name, "assets": {self.ids[p.name][k]: k for k in p.assets},
                   "checks": dict(sorted(checks.items()))}
        if self.producers:
            lineage["builds"] = sorted(producer.task_id for producer in self.producers)
        if self.check_reads_outside:
            # A sensor waits for every table its DAG reads from one upstream DAG;
            # a check after it reads only these of them.
            lineage["reads_outside"] = {k: sorted(v) for k, v in sorted(self.check_reads_outside.items())}
        return lineage


def freshness_check_id(key: str) -> str:
    """The id of the check an asset's own freshness target becomes (it has no IR check)."""
    return f"{key}#freshness"


def _import_block(imports: set[str]) -> list[str]:
    """Standard library, then third party, in the order isort and ruff expect."""
    stdlib = [i for i in imports if i.startswith(("from datetime", "import datetime", "import os"))]
    third = [i for i in imports if i not in stdlib]
    out = _sorted_imports(stdlib)
    if out:
        out.append("")
    return out + _sorted_imports(third)


def _sorted_imports(lines) -> list[str]:
    plain = sorted(line for line in lines if line.startswith("import "))
    merged: dict[str, set[str]] = {}
    for line in lines:
        if line.startswith("from "):
            module, names = line[len("from "):].split(" import ")
            merged.setdefault(module, set()).update(n.strip() for n in names.split(","))

    def by_type(name: str) -> tuple[int, str]:
        # isort's order-by-type: CONSTANTS, then Classes, then functions.
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    return plain + [
        f"from {m} import {', '.join(sorted(names, key=by_type))}" for m, names in sorted(merged.items())
    ]


def _flat_kwargs(kwargs: Mapping[str, object]) -> str:
    """Keyword arguments (layout nodes) to append to a call built as text."""
    return "".join(f", {k}={pyfmt.flat(v)}" for k, v in kwargs.items())


def _edge(upstream: Sequence[str], task: str) -> str:
    return f"[{', '.join(upstream)}] >> {task}" if len(upstream) > 1 else f"{upstream[0]} >> {task}"


_FAILURE_CALLBACK = f'''def on_critical_failure(context):
    """Alert on a critical task's failure (see {SUPPORT_MODULE}.py beside this file).

    Imported when called, so parsing this DAG never depends on the support module.
    """
    from {SUPPORT_MODULE} import task_failed

    task_failed(context)'''

_LATEST_RUN_FN = '''def {fn}(logical_date, **_):
    """The latest {dag} run ({cron}, {tz}) at or before this run's logical date."""
    from croniter import croniter

    local = logical_date.in_timezone({tz!r})
    if croniter.match({cron!r}, local):
        return logical_date
    return pendulum.instance(croniter({cron!r}, local).get_prev(datetime))'''
