"""The tasks of dbt assets in a DAG file: one `dbt build` per pipeline run whose
results the model tasks take in the triggerer (dbt_invocation=pipeline, the
default), or a dbt per model (dbt_invocation=model)."""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from urllib.parse import quote

import attrs

from orch.backends.airflow.parts import (
    _BASH_EXT,
    OPTIONS,
    PARTITION_VALUE_TEMPLATES,
    _not_a_template_path,
    jinja_literal,
)
from orch.compiler.plugin import Code, CompileError, error, in_project, ir, pyfmt, selection, sqlgen


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


class DbtTasks:
    """The dbt part of `DagFile` (dagfile.py), which holds the state these methods share."""

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
        node = pyfmt.call("BashOperator", task_id=pyfmt.lit(task_id), bash_command=pyfmt.lit(command),
                          cwd=self.folder(runner.project_dir),
                          doc_md=pyfmt.lit(f"dbt test {check.name} reads several assets; it runs once all are built."),
                          **self.pool(self.assets[check.asset]))
        return f"{var} = {self.prebuilt.name(node)}"
