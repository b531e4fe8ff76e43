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

import os
from collections.abc import Mapping
from datetime import date

from orch.backends import ALERTS_MODULE, runtime_files
from orch.backends.airflow.dagfile import DagFile
from orch.backends.airflow.parts import _MAX_ASSET_URI, OPTIONS, SUPPORT_MODULE, outlet_uri, task_ids
from orch.compiler.plugin import (
    Backend,
    Code,
    CompileError,
    OutputFile,
    error,
    format_python,
    ir,
    project_dir_variables,
    sqlgen,
    warning,
)

# Model tasks in one DAG above which starting them costs the triggerer more than
# the build takes (W065): Airflow 3.3 rebuilds the DAG for every task it starts.
LARGE_TRIGGERER_DAG = 500

_HEALTH_KINDS = sqlgen.HEALTH_CHECK_KINDS

def _skipped(where: ir.Location, what: str):
    return warning(Code.UNSUPPORTED_BY_BACKEND, f"airflow backend leaves out {what}", where)

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
            dag_file = DagFile(self, project, pipeline, assets, ids, owner_of, pipelines, source, folders)
            code = dag_file.render()
            files.append(OutputFile(path=f"{pipeline.name}.py", content=format_python(code, dag_file.prebuilt)))
        if project.pipelines:
            files += runtime_files("", os.path.join(os.path.dirname(__file__), f"{SUPPORT_MODULE}.py"), source)
        return files
