"""dbt_invocation=pipeline: one `dbt build` per pipeline run, every model still its own task.

Run on the shipped example against real dbt-duckdb, both by `airflow dags
test` (which runs the model tasks on its in-process worker) and by a real
deployment, where the model tasks start and end in the triggerer.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import duckdb
import psutil
import pytest

from orch.backends.airflow import task_ids
from orch.compiler.frontends import dbt, dbt_select
from tests.airflow_deployment import Deployment
from tests.conftest import BIN, EXAMPLE, orch
from tests.manifest_edit import add_model
from tests.monitor_support import http_server
from tests.test_airflow import SUPPORTED, _compile

DAGS = ("dbt_seeds_daily", "dbt_staging_daily", "dbt_marts_daily")
DAY = "2026-11-28"


def _compiled_example(home: Path, mode: str = "pipeline", edit=None, options=()) -> tuple[dict, Path]:
    """The example copied to `home` (and changed by `edit(project)`), compiled into
    home/dags (in `mode`), with a dbt that writes one line per invocation to home/dbt-calls."""
    project = home / "jaffle_shop"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", ".user.yml"))
    if edit is not None:
        edit(project)
    calls = home / "dbt-calls"
    dbt = home / "dbt"
    dbt.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {BIN / "dbt"} "$@"\n')
    dbt.chmod(0o755)
    env = dict(os.environ, ORCH_EXAMPLE_DUCKDB=str(home / "warehouse.duckdb"))
    subprocess.run([str(BIN / "dbt"), "parse", "--quiet", "--project-dir", str(project), "--profiles-dir",
                    str(project)], env=env, check=True, timeout=300)
    result = orch(
        "compile", str(project / "target" / "manifest.json"), "--target", "airflow", "--out", str(home / "build"),
        "--profiles-dir", str(project), "-O", f"dbt_executable={dbt}", "-O", f"dbt_invocation={mode}",
        "-O", "retries=0", "-O", "critical_retries=0", "-O", "sensor_timeout_seconds=60",
        "-O", "sensor_poke_seconds=3", "-O", "dbt_stale_seconds=10", *options,
        env={"ORCH_CACHE_DIR": str(home / "cache")},
    )
    assert result.returncode == 0, result.stderr
    (home / "build" / "airflow").rename(home / "dags")
    return env, calls


def _dbt_calls(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


# The tables each DAG's models build, as their Airflow Assets (the profile names the
# DuckDB file warehouse.duckdb).
BUILT = {
    "dbt_seeds_daily": {"duckdb://warehouse/raw/raw_customers", "duckdb://warehouse/raw/raw_orders",
                        "duckdb://warehouse/raw/raw_payments"},
    "dbt_staging_daily": {"duckdb://warehouse/staging/stg_customers", "duckdb://warehouse/staging/stg_orders",
                          "duckdb://warehouse/staging/stg_payments"},
    "dbt_marts_daily": {"duckdb://warehouse/marts/dim_customers", "duckdb://warehouse/marts/fct_orders"},
}


def _asset_events(home: Path, dag_id: str, run_id: str | None = None) -> list[tuple[str, str]]:
    """(task that emitted it, asset URI) of each asset event of the DAG's run (of all its runs if None),
    from the metadata database of the Airflow in `home`."""
    with sqlite3.connect(home / "airflow.db") as db:
        return sorted(db.execute(
            "SELECT e.source_task_id, a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE e.source_dag_id = ? AND (? IS NULL OR e.source_run_id = ?)", (dag_id, run_id, run_id)).fetchall())


def _assert_example_tables(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as db:
        assert db.sql("select count(*) from staging.stg_orders").fetchone() == (7,)
        assert db.sql("select count(*) from marts.fct_orders").fetchone() == (7,)
        assert db.sql("select count(*) from marts.dim_customers").fetchone() == (5,)
        assert db.sql("select sum(amount) from marts.fct_orders").fetchone() == (94.0,)


def test_the_dag_has_one_producer_and_a_task_per_model(tmp_path):
    _compiled_example(tmp_path)
    marts = (tmp_path / "dags" / "dbt_marts_daily.py").read_text()
    assert marts.count("DbtBuildOperator(") == 1
    # dim_customers reads no partition, fct_orders does: one build still serves both.
    assert "jaffle_shop.marts.dim_customers" in marts and "jaffle_shop.marts.fct_orders" in marts
    assert marts.count("DbtNodeSensor(") == 3  # two models and the test that reads both
    assert "deadline=DeadlineAlert(" in marts  # its completion SLA, by default
    assert "BashOperator" not in marts
    assert "wait_for_dbt_staging_daily >> dbt_build" in marts


@pytest.mark.parametrize("manifest", SUPPORTED, ids=lambda p: p.name.removesuffix(".json.gz"))
def test_corpus_dags_take_every_dbt_result_from_one_build(manifest, tmp_path):
    from airflow.dag_processing.dagbag import BundleDagBag

    project, _ = _compile(manifest, tmp_path, dbt_invocation="pipeline")
    # As the dag-processor loads them: the DAGs folder on the import path, so the
    # DAG files import the support module written beside them.
    bag = BundleDagBag(dag_folder=str(tmp_path), bundle_path=tmp_path, bundle_name="dags-folder")
    assert bag.import_errors == {}
    assets = project.asset_map()
    graph = dbt.selection_graph(dbt.load_manifest(str(manifest)))

    def built_by(producer) -> set[str]:
        # By folder where that selects the same nodes (compiler/selection.py), so read as dbt would.
        argv = producer.argv
        return dbt_select.select(graph, " ".join(argv[argv.index("--select") + 1:argv.index("--project-dir")]))

    for pipeline in project.pipelines:
        tasks = bag.dags[pipeline.name].task_dict
        ids = task_ids(pipeline, assets)
        producers = {t.task_id: t for t in tasks.values() if type(t).__name__ == "DbtBuildOperator"}
        builds = {task_id: built_by(producer) for task_id, producer in producers.items()}
        for key in pipeline.assets:
            if assets[key].runner is None or type(assets[key].runner).__name__ != "DbtBuild":
                continue
            task = tasks[ids[key]]
            assert type(task).__name__ == "DbtNodeSensor" and task.nodes[0] == key, key
            assert task.start_from_trigger, key
            # Its producer builds it, in the same run, after every upstream pipeline.
            producer = producers[task.producer]
            assert key in builds[task.producer], key
            assert not any(key in built for task_id, built in builds.items() if task_id != task.producer), key
            # (Each model task's own upstream is its lineage: test_airflow checks that exactly.)
            assert {t for t in tasks if t.startswith("wait_for_")} <= producer.upstream_task_ids
        # One build per pipeline unless partitions of two granularities need two.
        assert len(producers) <= 1 + len({assets[k].partitioning.granularity for k in pipeline.assets
                                          if assets[k].partitioning}), pipeline.name


def test_a_dag_too_large_for_the_triggerer_is_a_warning(example_manifest, tmp_path):
    """Above 500 model tasks in one DAG the triggerer's cost dominates a run (W065); split, it goes."""
    from orch.backends.airflow import LARGE_TRIGGERER_DAG

    manifest = json.loads(example_manifest.read_text(encoding="utf-8"))
    for i in range(LARGE_TRIGGERER_DAG):
        add_model(manifest, f"wide_{i}", ("model.jaffle_shop.stg_orders",), folder=f"models/wide_{i % 2}",
                  config={"materialized": "view"})
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    one = orch("compile", str(path), "--target", "airflow", "--out", str(tmp_path / "one"), "--group-by", "none")
    assert one.returncode == 0, one.stderr
    warned = re.findall(r"warning\[W065\]: DAG (\w+) has (\d+) model tasks", one.stderr)
    # The example's own models and seeds, and the 500 added.
    assert [(dag, int(count) > LARGE_TRIGGERER_DAG) for dag, count in warned] == [("dbt_daily", True)], one.stderr
    # The same models in a DAG per folder: each under the limit.
    split = orch("compile", str(path), "--target", "airflow", "--out", str(tmp_path / "split"), "--group-by", "folder")
    assert split.returncode == 0, split.stderr
    assert "W065" not in split.stderr
    # The per-model mode starts nothing in the triggerer.
    per_model = orch("compile", str(path), "--target", "airflow", "--out", str(tmp_path / "model"), "--group-by",
                     "none", "-O", "dbt_invocation=model")
    assert per_model.returncode == 0 and "W065" not in per_model.stderr, per_model.stderr


def test_a_blocking_check_inside_one_build_is_a_warning(example_manifest, tmp_path):
    """fct_orders is critical, so its freshness check blocks its dependents; one
    build makes a dependent in the same pipeline regardless, and orch says so."""
    manifest = json.loads(example_manifest.read_text(encoding="utf-8"))
    add_model(manifest, "fct_orders_by_day", ("model.jaffle_shop.fct_orders",), folder="models/marts",
              config={"materialized": "table"})
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    args = ("compile", str(path), "--target", "airflow", "-O", "conn_id=warehouse")
    pipeline = orch(*args, "--out", str(tmp_path / "pipeline"))
    assert pipeline.returncode == 0, pipeline.stderr
    assert re.search(r"warning\[W062\]: .*blocking check of fct_orders has on fct_orders_by_day", pipeline.stderr)
    per_model = orch(*args, "--out", str(tmp_path / "model"), "-O", "dbt_invocation=model")
    assert per_model.returncode == 0 and "blocking check" not in per_model.stderr
    # On DuckDB a check waits for the build to let go of the file.
    marts = (tmp_path / "pipeline" / "airflow" / "dbt_marts_daily.py").read_text()
    assert "dbt_build >> check_fct_orders_freshness" in marts


@pytest.mark.parametrize("options, message", [
    (("-O", "dbt_invocation=task"), "dbt_invocation='task' must be model or pipeline"),
    (("-O", "dbt_invocation=pipeline", "-O", "dbt_command=run"), "it needs dbt_command=build"),
    (("-O", "dbt_invocation=pipeline", "-O", "dbt_results_dir=relative/dir"), "must be an absolute path"),
    (("-O", "deadlines=no"), "deadlines='no' must be true or false"),
])
def test_bad_pipeline_options_are_refused_and_write_nothing(example_manifest, tmp_path, options, message):
    result = orch("compile", str(example_manifest), "--target", "airflow", "--out", str(tmp_path / "out"), *options)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_pipeline_mode_runs_under_airflow_dags_test(tmp_path):
    """Where no triggerer runs them, the model tasks poke the producer's results instead.

    Compiled with deadlines=false, which `airflow dags test` 3.3.2 needs: it ends
    with a traceback for a DAG with a deadline (apache/airflow#73428).
    """
    env, calls = _compiled_example(tmp_path, options=("-O", "deadlines=false"))
    assert not [p.name for p in (tmp_path / "dags").glob("*.py") if "deadline=DeadlineAlert(" in p.read_text()]
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__DAGS_FOLDER=str(tmp_path / "dags"),
               AIRFLOW__CORE__LOAD_EXAMPLES="False")
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    for dag_id in DAGS:
        run = subprocess.run([str(BIN / "airflow"), "dags", "test", dag_id, DAY], check=False, env=env,
                             capture_output=True, text=True, timeout=600)
        with sqlite3.connect(tmp_path / "airflow.db") as db:
            states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (dag_id,)))
        events = _asset_events(tmp_path, dag_id)
        assert states and set(states.values()) == {"success"}, (dag_id, states, run.stdout[-3000:])
        assert run.returncode == 0 and "Traceback" not in run.stderr, (dag_id, run.stderr[-3000:])
        # Every model's table updated, once, by the build that made it.
        assert events == sorted(("dbt_build", uri) for uri in BUILT[dag_id]), (dag_id, events)
    invocations = _dbt_calls(calls)
    assert len(invocations) == len(DAGS), invocations
    assert all(line.startswith("build --select ") for line in invocations)
    assert '--vars {"orch_partition": "2026-11-28"}' in invocations[-1]
    _assert_example_tables(tmp_path / "warehouse.duckdb")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """The example in pipeline mode on a real deployment; alerts go to a local
    HTTP server standing in for Slack, whose received bodies come third."""
    home = tmp_path_factory.mktemp("airflow-deployment")
    env, calls = _compiled_example(home)
    with http_server(lambda *_: (200, {"ok": True})) as (url, alerts):
        airflow = Deployment(home, home / "dags", {"ORCH_EXAMPLE_DUCKDB": env["ORCH_EXAMPLE_DUCKDB"],
                                                   "ORCH_SLACK_WEBHOOK_URL": f"{url}/hook"})
        try:
            airflow.start()
            airflow.wait_for_dags((*DAGS, "dbt_snapshots_daily"))
            yield airflow, calls, alerts
        finally:
            airflow.stop()


def test_pipeline_mode_on_a_real_scheduler_holds_no_worker_per_model(deployment):
    airflow, calls, _ = deployment
    runs = {}
    for dag_id in DAGS:
        run_id = airflow.trigger(dag_id, f"{DAY}T00:00:00Z")
        state, tasks = airflow.wait(dag_id, run_id)
        runs[dag_id] = run_id, tasks
        assert state == "success" and set(tasks.values()) == {"success"}, (dag_id, tasks, airflow.logs())
        # The model tasks ended in the triggerer, which emits no asset events for
        # them: the build emitted one per model, downstream schedules see each table.
        events = _asset_events(airflow.home, dag_id, run_id)
        assert events == sorted(("dbt_build", uri) for uri in BUILT[dag_id]), (dag_id, events)

    # One dbt invocation per pipeline run, none per model.
    invocations = _dbt_calls(calls)
    assert len(invocations) == len(DAGS), invocations
    assert all(line.startswith("build --select ") for line in invocations)
    _assert_example_tables(airflow.home / "warehouse.duckdb")

    # Only the producer (and the sensors) went to a worker: a model task was never
    # queued, and its log holds only what the triggerer wrote.
    for dag_id, (run_id, tasks) in runs.items():
        queued = {task for (task,) in airflow.db(
            "SELECT task_id FROM task_instance WHERE dag_id = ? AND run_id = ? AND queued_dttm IS NOT NULL",
            dag_id, run_id)}
        assert queued == {t for t in tasks if t == "dbt_build" or t.startswith("wait_for_")}, (dag_id, queued)
    run_id = runs["dbt_marts_daily"][0]
    task_logs = airflow.home / "logs" / "dag_id=dbt_marts_daily" / f"run_id={run_id}" / "task_id=dim_customers"
    names = sorted(p.name for p in task_logs.iterdir())
    assert names and all(".log.trigger." in name for name in names), names
    # The model's own dbt lines reach its task's log.
    text = "".join(p.read_text() for p in task_logs.iterdir())
    assert "OK created sql table model marts.dim_customers" in text
    assert "PASS unique_dim_customers_customer_id" in text


# -- fault cases, on the same deployment -----------------------------------------

RELATIONSHIPS = "test_relationships_fct_orders_customer_id__customer_id__ref_dim_customers_"


@contextlib.contextmanager
def _model_sql(project: Path, model: str, sql):
    """The model's SQL replaced (sql: old text -> new text) for the duration."""
    path = project / "models" / model
    good = path.read_text()
    path.write_text(sql(good))
    try:
        yield
    finally:
        path.write_text(good)


def _upstream_of_marts(airflow, day: str) -> None:
    for dag_id in DAGS[:2]:
        state, tasks = airflow.run(dag_id, f"{day}T00:00:00Z")
        assert state == "success", (dag_id, tasks)


def _results_file(airflow, dag_id: str, run_id: str) -> Path:
    """Where the run's dbt build writes its node results (the default dbt_results_dir)."""
    return (airflow.home / "jaffle_shop" / "target" / "orch_runs" / dag_id / quote(run_id, safe="")
            / "dbt_build.jsonl")


def _results(airflow, dag_id: str, run_id: str) -> list[dict]:
    return [json.loads(line) for line in _results_file(airflow, dag_id, run_id).read_text().splitlines()]


def _trigger_log(airflow, dag_id: str, run_id: str, task_id: str) -> str:
    folder = airflow.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return "".join(p.read_text() for p in sorted(folder.glob("*.trigger.*")))


def test_a_failing_model_fails_its_task_and_a_clear_rebuilds_it_alone(deployment):
    airflow, calls, alerts = deployment
    project = airflow.home / "jaffle_shop"
    day = "2026-11-29"
    _upstream_of_marts(airflow, day)
    before = len(_dbt_calls(calls))
    with _model_sql(project, "marts/fct_orders.sql", lambda _: "select * from a_table_that_is_not_there"):
        run_id = airflow.trigger("dbt_marts_daily", f"{day}T00:00:00Z")
        state, tasks = airflow.wait("dbt_marts_daily", run_id)
    assert state == "failed"
    assert tasks == {"wait_for_dbt_staging_daily": "success", "dbt_build": "success", "dim_customers": "success",
                     "fct_orders": "failed", RELATIONSHIPS: "upstream_failed"}
    assert len(_dbt_calls(calls)) == before + 1
    # Only the table that was built is announced.
    assert _asset_events(airflow.home, "dbt_marts_daily", run_id) == [
        ("dbt_build", "duckdb://warehouse/marts/dim_customers")]
    assert "a_table_that_is_not_there does not exist" in _trigger_log(airflow, "dbt_marts_daily", run_id,
                                                                      "fct_orders")
    # fct_orders is critical: its failure, ended in the triggerer, still alerts.
    deadline = time.monotonic() + 60
    while not any("dbt_marts_daily.fct_orders failed" in json.dumps(a["body"]) for a in alerts):
        assert time.monotonic() < deadline, (alerts, airflow.logs())
        time.sleep(1)

    # Mended, then cleared with what follows it: each cleared task is rebuilt
    # alone, by a dbt of its own on a worker; the model that succeeded is not.
    with duckdb.connect(str(airflow.home / "warehouse.duckdb"), read_only=True) as db:
        built_before = db.sql("select count(*), sum(amount) from marts.fct_orders").fetchone()
    airflow.clear("dbt_marts_daily", run_id, ["fct_orders"])
    state, tasks = airflow.wait("dbt_marts_daily", run_id)
    assert state == "success" and set(tasks.values()) == {"success"}, (tasks, airflow.logs())
    rebuilt = _dbt_calls(calls)[before + 1:]
    assert sorted(line.split()[:3] for line in rebuilt) == [
        ["build", "--select", "jaffle_shop.marts.fct_orders"],
        ["test", "--select", "jaffle_shop.marts.relationships_fct_orders_customer_id__customer_id__ref_dim_customers_"],
    ], rebuilt
    assert '--vars {"orch_partition": "2026-11-29"}' in next(line for line in rebuilt if line.startswith("build"))
    # The model rebuilt alone on a worker announces its table itself.
    assert _asset_events(airflow.home, "dbt_marts_daily", run_id) == [
        ("dbt_build", "duckdb://warehouse/marts/dim_customers"), ("fct_orders", "duckdb://warehouse/marts/fct_orders")]
    with duckdb.connect(str(airflow.home / "warehouse.duckdb"), read_only=True) as db:
        assert db.sql("select count(*), sum(amount) from marts.fct_orders").fetchone() == built_before == (7, 94.0)


def test_a_missed_deadline_alerts_from_the_real_scheduler(deployment):
    """`airflow dags test` 3.3.2 cannot run a DAG with a deadline (apache/airflow#73428);
    the scheduler evaluates it and its executor runs the callback."""
    airflow, _, alerts = deployment
    day = "2026-12-05"
    _upstream_of_marts(airflow, day)
    run_id = airflow.trigger("dbt_marts_daily", f"{day}T00:00:00Z")
    state, tasks = airflow.wait("dbt_marts_daily", run_id)
    assert state == "success", tasks

    # The deadline is the SLA after the logical date, days ago: missed as the run began.
    def missed() -> list[str]:
        texts = [json.dumps(a["body"]) for a in alerts]
        return [t for t in texts if "SLA missed: dbt_marts_daily" in t and f"(run {run_id})" in t]

    deadline = time.monotonic() + 60
    while not missed():
        assert time.monotonic() < deadline, (alerts, airflow.logs())
        time.sleep(1)
    time.sleep(5)
    [text] = missed()  # once per run, however often the scheduler loops
    assert "did not complete within 4h of its start" in text, text


def test_a_failing_test_fails_its_models_task(deployment):
    airflow, calls, _ = deployment
    project = airflow.home / "jaffle_shop"
    day = "2026-11-30"
    _upstream_of_marts(airflow, day)
    before = len(_dbt_calls(calls))
    # Every customer twice: the model builds, its unique test fails.
    with _model_sql(project, "marts/dim_customers.sql",
                    lambda good: f"with once as (\n{good}\n)\nselect * from once union all select * from once"):
        run_id = airflow.trigger("dbt_marts_daily", f"{day}T00:00:00Z")
        state, tasks = airflow.wait("dbt_marts_daily", run_id)
    assert state == "failed"
    assert tasks == {"wait_for_dbt_staging_daily": "success", "dbt_build": "success", "dim_customers": "failed",
                     "fct_orders": "success", RELATIONSHIPS: "upstream_failed"}
    assert len(_dbt_calls(calls)) == before + 1
    log = _trigger_log(airflow, "dbt_marts_daily", run_id, "dim_customers")
    assert "dbt tests failed: test.jaffle_shop.unique_dim_customers_customer_id" in log
    assert re.search(r"FAIL \d+ unique_dim_customers_customer_id", log), log[-3000:]


def test_a_failing_test_of_several_models_fails_its_own_task(deployment):
    airflow, _, _ = deployment
    project = airflow.home / "jaffle_shop"
    day = "2026-12-03"
    _upstream_of_marts(airflow, day)
    # Customer 1 left out of dim_customers: fct_orders' orders of that customer
    # point nowhere, and the relationships test between the two fails.
    with _model_sql(project, "marts/dim_customers.sql",
                    lambda good: f"select * from (\n{good}\n) as c where customer_id <> 1"):
        run_id = airflow.trigger("dbt_marts_daily", f"{day}T00:00:00Z")
        state, tasks = airflow.wait("dbt_marts_daily", run_id)
    assert state == "failed"
    assert tasks == {"wait_for_dbt_staging_daily": "success", "dbt_build": "success", "dim_customers": "success",
                     "fct_orders": "success", RELATIONSHIPS: "failed"}
    assert "dbt fail on test.jaffle_shop.relationships_fct_orders" in _trigger_log(
        airflow, "dbt_marts_daily", run_id, RELATIONSHIPS)


def test_a_killed_producer_never_passes_a_model_it_did_not_report(deployment):
    airflow, _, _ = deployment
    project = airflow.home / "jaffle_shop"
    day = "2026-12-01"
    state, tasks = airflow.run("dbt_seeds_daily", f"{day}T00:00:00Z")
    assert state == "success", tasks
    # Two staging models made slow at build time, so the build is surely mid-run
    # when the first result arrives, whichever model dbt takes first.
    slow = '{{ config(pre_hook="select count(*) from range(20000000000) where range % 7 = 3") }}\n'
    with _model_sql(project, "staging/stg_payments.sql", lambda good: slow + good), \
            _model_sql(project, "staging/stg_customers.sql", lambda good: slow + good):
        run_id = airflow.trigger("dbt_staging_daily", f"{day}T00:00:00Z")
        results = _results_file(airflow, "dbt_staging_daily", run_id)
        deadline = time.monotonic() + 180
        while not (results.exists() and '"event":"node"' in results.read_text()):
            assert time.monotonic() < deadline, airflow.logs()
            time.sleep(0.2)
        # The producer's task process and its dbt, as a lost worker would leave them.
        dbt = next(p for p in psutil.process_iter(["cmdline"])
                   if "--log-format" in (p.info["cmdline"] or []) and "jaffle_shop.staging.stg_orders" in p.info["cmdline"])
        task_process = dbt.parent()
        for process in (task_process, dbt):
            os.kill(process.pid, signal.SIGKILL)
        state, tasks = airflow.wait("dbt_staging_daily", run_id, timeout=300)
    records = _results(airflow, "dbt_staging_daily", run_id)
    reported = {record["unique_id"] for record in records if record["event"] == "node"}
    assert not [record for record in records if record["event"] == "end"]
    assert state == "failed"
    assert tasks["dbt_build"] == "failed"
    models = {"stg_customers": "model.jaffle_shop.stg_customers", "stg_orders": "model.jaffle_shop.stg_orders",
              "stg_payments": "model.jaffle_shop.stg_payments"}
    unreported = [task for task, node in models.items() if node not in reported]
    assert unreported, reported
    for task in unreported:
        assert tasks[task] == "failed", tasks
        assert "stopped reporting" in _trigger_log(airflow, "dbt_staging_daily", run_id, task)


def test_a_dbt_that_cannot_start_fails_every_model_at_once(deployment):
    airflow, calls, _ = deployment
    dbt = airflow.home / "dbt"
    before = len(_dbt_calls(calls))
    dbt.chmod(0o644)
    try:
        run_id = airflow.trigger("dbt_seeds_daily", "2026-12-06T00:00:00Z")
        state, tasks = airflow.wait("dbt_seeds_daily", run_id)
    finally:
        dbt.chmod(0o755)
    assert state == "failed" and tasks["dbt_build"] == "failed", tasks
    seeds = [task for task in tasks if task != "dbt_build"]
    assert seeds and all(tasks[task] == "failed" for task in seeds), tasks
    assert len(_dbt_calls(calls)) == before
    # Failed on the producer's own word, not once its file went stale.
    for task in seeds:
        assert "dbt could not start ([Errno 13] Permission denied" in _trigger_log(
            airflow, "dbt_seeds_daily", run_id, task), task




def test_two_pipelines_take_turns_on_one_duckdb_file(deployment):
    """marts and snapshots both wait for staging, then build at once: DuckDB takes
    one writer, so their builds take turns instead of failing on its lock."""
    airflow, _, _ = deployment
    project = airflow.home / "jaffle_shop"
    day = "2026-12-02"
    _upstream_of_marts(airflow, day)
    slow = '{{ config(pre_hook="select count(*) from range(6000000000) where range % 7 = 3") }}\n'
    with _model_sql(project, "marts/dim_customers.sql", lambda good: slow + good):
        runs = {dag_id: airflow.trigger(dag_id, f"{day}T00:00:00Z") for dag_id in ("dbt_marts_daily",
                                                                                   "dbt_snapshots_daily")}
        for dag_id, run_id in runs.items():
            state, tasks = airflow.wait(dag_id, run_id)
            assert state == "success" and set(tasks.values()) == {"success"}, (dag_id, tasks, airflow.logs())
    # The two producers were on workers at the same time ...
    spans = {dag_id: airflow.db("SELECT start_date, end_date FROM task_instance WHERE dag_id = ? AND run_id = ?"
                                " AND task_id = 'dbt_build'", dag_id, run_id)[0] for dag_id, run_id in runs.items()}
    (a_start, a_end), (b_start, b_end) = spans.values()
    assert a_start < b_end and b_start < a_end, spans
    # ... and their dbt never ran at once.
    builds = sorted((records[0]["at"], records[-1]["at"]) for records in
                    (_results(airflow, dag_id, run_id) for dag_id, run_id in runs.items()))
    assert builds[0][1] <= builds[1][0], builds


# Tests of marts models against staging models, which another pipeline builds:
# orders' customers are all staged customers (passes), every customer has an
# order (passes), order ids 6 and 7 name no customer (fails).
ACROSS = {
    "test_relationships_fct_orders_customer_id__customer_id__ref_stg_customers_": ("fct_orders", "customer_id",
                                                                                   "stg_customers", "customer_id"),
    "test_relationships_dim_customers_customer_id__customer_id__ref_stg_orders_": ("dim_customers", "customer_id",
                                                                                  "stg_orders", "customer_id"),
    "test_relationships_fct_orders_order_id__customer_id__ref_stg_customers_": ("fct_orders", "order_id",
                                                                                "stg_customers", "customer_id"),
}


def _tests_across_pipelines(project: Path) -> None:
    """ACROSS's tests written into the marts' schema file, under their columns."""
    path = project / "models" / "marts" / "_marts.yml"
    text = path.read_text()
    for model, column, to, field in ACROSS.values():
        section = text.index(f"  - name: {model}\n")
        entry = text.index(f"      - name: {column}\n", section) + len(f"      - name: {column}\n")
        tests = re.compile(r"        data_tests: \[(.*)\]\n|        data_tests:\n").match(text, entry)
        listed = "".join(f"          - {name.strip()}\n" for name in (tests.group(1) or "").split(",") if name.strip())
        text = (text[:entry] + "        data_tests:\n" + listed + "          - relationships:\n"
                f"              arguments:\n                to: ref('{to}')\n                field: {field}\n"
                + text[tests.end():])
    path.write_text(text)


def test_tests_across_pipelines_run_in_one_dbt_test_after_their_models(tmp_path):
    """The tests that read models of other pipelines run in one `dbt test` once
    every model they read is done (taking the builds' DuckDB lock), each with
    its own task; a test whose model failed is left out of it, upstream_failed."""
    from tests.conftest import load_dagbag

    env, calls = _compiled_example(tmp_path, edit=_tests_across_pipelines)
    marts = load_dagbag(str(tmp_path / "dags")).dags["dbt_marts_daily"].task_dict
    producer = marts["dbt_test"]
    assert type(producer).__name__ == "DbtTestsOperator" and producer.trigger_rule == "all_done"
    assert producer.lock and producer.lock == marts["dbt_build"].lock
    assert producer.upstream_task_ids == {"fct_orders", "dim_customers", "wait_for_dbt_staging_daily"}
    for task_id, (model, *_) in ACROSS.items():
        assert type(marts[task_id]).__name__ == "DbtNodeSensor" and marts[task_id].producer == "dbt_test"
        assert marts[task_id].upstream_task_ids == {model, "wait_for_dbt_staging_daily"}

    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__DAGS_FOLDER=str(tmp_path / "dags"),
               AIRFLOW__CORE__LOAD_EXAMPLES="False")
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)

    def run(dag_id: str, day: str) -> dict[str, str]:
        subprocess.run([str(BIN / "airflow"), "dags", "test", dag_id, day], check=False, env=env,
                       capture_output=True, text=True, timeout=600)
        with sqlite3.connect(tmp_path / "airflow.db") as db:
            return dict(db.execute("SELECT t.task_id, t.state FROM task_instance t JOIN dag_run r ON "
                                   "r.dag_id = t.dag_id AND r.run_id = t.run_id WHERE t.dag_id = ? "
                                   "AND date(r.logical_date) = ?", (dag_id, day)))

    for dag_id in DAGS[:2]:
        assert set(run(dag_id, DAY).values()) == {"success"}, dag_id
    before = len(_dbt_calls(calls))
    tasks = run("dbt_marts_daily", DAY)
    fails = "test_relationships_fct_orders_order_id__customer_id__ref_stg_customers_"
    assert {task: tasks[task] for task in ACROSS} == {task: "failed" if task == fails else "success"
                                                      for task in ACROSS}, tasks
    assert tasks["dbt_test"] == "success" and tasks["fct_orders"] == "success", tasks
    builds, tests = _dbt_calls(calls)[before:]
    assert builds.startswith("build ") and tests.startswith("test --select ")
    assert all(f"jaffle_shop.marts.{task.removeprefix('test_')}" in tests for task in ACROSS), tests

    # fct_orders fails: its two tests are not run and end upstream_failed; the
    # test of dim_customers, whose models are all built, still runs.
    day = "2026-11-29"
    for dag_id in DAGS[:2]:
        assert set(run(dag_id, day).values()) == {"success"}, dag_id
    before = len(_dbt_calls(calls))
    with _model_sql(tmp_path / "jaffle_shop", "marts/fct_orders.sql", lambda _: "select * from not_a_table"):
        tasks = run("dbt_marts_daily", day)
    assert tasks["fct_orders"] == "failed" and tasks["dbt_test"] == "success", tasks
    assert {task: tasks[task] for task in ACROSS} == {
        task: "success" if model == "dim_customers" else "upstream_failed" for task, (model, *_) in ACROSS.items()}
    builds, tests = _dbt_calls(calls)[before:]
    assert tests.split(" --project-dir")[0] == (
        "test --select jaffle_shop.marts.relationships_dim_customers_customer_id__customer_id__ref_stg_orders_")


def test_per_model_tasks_on_duckdb_share_a_pool_of_one_slot(tmp_path):
    """dbt_invocation=model: every dbt task on the DuckDB file names one pool; with
    it created at one slot, the staging models (independent of each other) run
    one after another on a real scheduler instead of failing on DuckDB's lock."""
    env, calls = _compiled_example(tmp_path, mode="model")
    staging = (tmp_path / "dags" / "dbt_staging_daily.py").read_text()
    assert staging.count('pool="orch_duckdb_warehouse"') == 3
    airflow = Deployment(tmp_path, tmp_path / "dags", {"ORCH_EXAMPLE_DUCKDB": env["ORCH_EXAMPLE_DUCKDB"]})
    try:
        airflow.migrate()
        subprocess.run([str(BIN / "airflow"), "pools", "set", "orch_duckdb_warehouse", "1", "one DuckDB writer"],
                       env=airflow.env, check=True, capture_output=True, timeout=120)
        airflow.start()
        airflow.wait_for_dags(DAGS[:2])
        for dag_id in DAGS[:2]:
            run_id = airflow.trigger(dag_id, f"{DAY}T00:00:00Z")
            state, tasks = airflow.wait(dag_id, run_id)
            assert state == "success" and set(tasks.values()) == {"success"}, (dag_id, tasks, airflow.logs())
        spans = sorted(airflow.db("SELECT start_date, end_date FROM task_instance WHERE pool = ?"
                                  " AND task_id NOT LIKE 'wait_for_%'", "orch_duckdb_warehouse"))
        assert len(spans) == 6, spans
        assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans)), spans
        assert len(_dbt_calls(calls)) == 6
    finally:
        airflow.stop()
