"""One DAG file: the tasks of a pipeline's assets, their edges, the waits for
other pipelines, the health checks, and the DAG's own arguments."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from datetime import date

import attrs

from orch.backends.airflow.dbt_tasks import DbtTasks, _Producer
from orch.backends.airflow.parts import (
    _BASH_EXT,
    _DEFINED,
    _FAILURE_CALLBACK,
    _IMPORTABLE,
    _LATEST_RUN_FN,
    SUPPORT_MODULE,
    _duration,
    _edge,
    _import_block,
    _not_a_template_path,
    jinja_literal,
    outlet_uri,
)
from orch.backends.airflow.sql_tasks import SqlTasks
from orch.compiler.plugin import (
    Code,
    CompileError,
    NameScope,
    error,
    format_duration,
    ir,
    project_dir_lines,
    pyfmt,
    python_header,
    schedule_label,
    tests_of_several,
    unique,
    upstream_pipelines,
)


class DagFile(DbtTasks, SqlTasks):
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
                node = pyfmt.call("BashOperator", task_id=pyfmt.lit(test_id), bash_command=pyfmt.lit(command),
                                  cwd=self.folder(runner.project_dir), **self.pool(asset))
                self.lines.append(f"{test_var} = {self.prebuilt.name(node)}")
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

    def unique_task_id(self, base: str) -> str:
        return unique(base, self.used_task_ids, str.lower)

    def sensor(self, upstream: ir.Pipeline, keys: Sequence[str]) -> tuple[str, str]:
        self.need("ExternalTaskSensor")
        self.need("timedelta")
        sensor_id = self.unique_task_id(f"wait_for_{upstream.name}")
        var = self.names(sensor_id)
        task_ids_ = sorted({self.ids[upstream.name][k] for k in keys})
        lit = pyfmt.lit
        kw: dict[str, object] = {"task_id": lit(sensor_id), "external_dag_id": lit(upstream.name),
                                 "external_task_ids": lit(task_ids_)}
        if upstream.schedule != self.p.schedule:
            fn_name = self.names(f"latest_{upstream.name}_run")
            self.need("datetime")
            self.lines.insert(0, _LATEST_RUN_FN.format(
                fn=fn_name, cron=upstream.schedule.cron, tz=upstream.schedule.timezone, dag=upstream.name))
            kw["execution_date_fn"] = fn_name
        kw.update(mode=lit("reschedule"), poke_interval=lit(self.b.int_option("sensor_poke_seconds")),
                  timeout=_duration(self.b.int_option("sensor_timeout_seconds")), failed_states=lit(["failed"]),
                  doc_md=lit(f"Waits for the tables this DAG reads from {upstream.name}."))
        return f"{var} = {self.prebuilt.name(pyfmt.call('ExternalTaskSensor', **kw))}", var


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
        body: list[str] = []
        first, last = self.asset_tasks(body)
        sensors = self.upstream_sensors(body)
        edges = self.graph_edges(body, first, last, sensors)
        self.health_checks_and_gate(body, edges, first, last)
        return self.text(body, edges)

    def asset_tasks(self, body: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Every asset's task(s) into `body`; (asset -> its first task, asset -> its last)."""
        first: dict[str, str] = {}
        last: dict[str, str] = {}
        for key in self.p.assets:
            start = len(self.lines)
            last[key], first[key] = self.task(key)
            body.extend(self.lines[start:])
            del self.lines[start:]
        return first, last

    def upstream_sensors(self, body: list[str]) -> dict[str, str]:
        """A sensor per pipeline whose tables this one reads: pipeline -> its sensor."""
        by_upstream_pipeline = upstream_pipelines(self.p, self.assets, self.checks_of, self.owner_of)
        sensors: dict[str, str] = {}
        for name in sorted(by_upstream_pipeline):
            line, var = self.sensor(self.pipelines[name], by_upstream_pipeline[name])
            body.append(line)
            sensors[name] = var
        return sensors

    def graph_edges(self, body: list[str], first: Mapping[str, str], last: Mapping[str, str],
                    sensors: Mapping[str, str]) -> list[str]:
        """The dbt invocations and the tests of several assets into `body`; every edge of the lineage."""
        p = self.p
        members = set(p.assets)
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
        for check in tests_of_several(p, self.assets, self.checks_of):
            var, ups = self.multi_asset_check(check, last, sensors)
            body.append(self.lines.pop())
            edges.append(_edge(ups, var))
        for producer in self.tests_producers:
            body.append(self.tests_producer_task(producer))
            edges.append(_edge(sorted({u for ups in producer.needs.values() for u in ups}), producer.var))
        return edges

    def health_checks_and_gate(self, body: list[str], edges: list[str], first: Mapping[str, str],
                               last: Mapping[str, str]) -> None:
        """A task per SQL health check after its asset, and one task that passes when all did."""
        p = self.p
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
        if not health:
            return
        self.need("EmptyOperator")
        gate = self.names(self.unique_task_id("check_pipeline_health"))
        node = pyfmt.call("EmptyOperator", task_id=pyfmt.lit("check_pipeline_health"),
                          doc_md=pyfmt.lit("Succeeds only when every health check of this run passed."))
        body.append(f"{gate} = {self.prebuilt.name(node)}")
        if len(health) == 1:
            edges.append(_edge(health, gate))
        else:
            # A named list: one edge, and a statement short enough to read.
            checks_var = self.names("health_checks")
            body.append(f"{checks_var} = [{', '.join(sorted(health))}]")
            edges.append(f"{checks_var} >> {gate}")

    def text(self, body: list[str], edges: list[str]) -> str:
        """The file: header, imports, project folders, helpers, the DAG and its lineage."""
        p = self.p
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
