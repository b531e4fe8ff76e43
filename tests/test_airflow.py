"""The Airflow backend against real Airflow 3: DagBag import, lineage, and runs."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from orch.backends.airflow import AirflowBackend, task_ids
from orch.backends.airflow.parts import jinja_literal
from orch.compiler import codegen
from orch.compiler.driver import BuildOptions, build
from tests.conftest import (
    BIN,
    CORPUS_FILES,
    EXAMPLE,
    corpus,
    load_dagbag,
    load_json,
    orch,
    snapshot_tree,
)
from tests.test_dbt_corpus import _expected as expected_from_manifest

SUPPORTED = [p for p in CORPUS_FILES
             if re.search(r"/v(\d+)\.json", str(load_json(p).get("metadata", {}).get("dbt_schema_version", "")))
             and int(re.search(r"/v(\d+)\.json", load_json(p)["metadata"]["dbt_schema_version"]).group(1)) >= 7]


def _compile(manifest: Path, out: Path, group_by: str = "layer", **options) -> tuple:
    project, diagnostics = build([str(manifest)], BuildOptions(dbt_project_dir="/opt/dbt/project", group_by=group_by))
    assert not [d for d in diagnostics if d.is_error], diagnostics
    files = AirflowBackend(options).emit(project, manifest.name)
    codegen.write_tree(str(out), files)
    return project, files


@pytest.fixture(scope="module")
def dagbag_cls():
    return load_dagbag


@pytest.fixture(scope="module")
def generated_root(tmp_path_factory):
    return tmp_path_factory.mktemp("airflow-corpus")


@pytest.mark.parametrize("manifest", SUPPORTED, ids=lambda p: p.name.removesuffix(".json.gz"))
def test_corpus_dags_import_with_exact_lineage(manifest, dagbag_cls, generated_root):
    out = generated_root / manifest.name.removesuffix(".json.gz")
    project, _ = _compile(manifest, out)
    bag = dagbag_cls(str(out))
    assert bag.import_errors == {}
    assert set(bag.dags) == {p.name for p in project.pipelines}

    # Lineage straight from the raw manifest (through ephemeral models), not from orch's IR.
    _, _, lineage = expected_from_manifest(load_json(manifest))
    assets = project.asset_map()
    owner = project.pipeline_of()
    ids = {p.name: task_ids(p, assets) for p in project.pipelines}
    for pipeline in project.pipelines:
        dag = bag.dags[pipeline.name]
        tasks = dag.task_dict
        for key in pipeline.assets:
            task = tasks[ids[pipeline.name][key]]
            expected = {ids[pipeline.name][u] for u in lineage[key] if owner.get(u) == pipeline.name}
            expected |= {f"wait_for_{owner[u]}" for u in lineage[key] if owner.get(u) not in (None, pipeline.name)}
            assert task.upstream_task_ids == expected, key
        # Every task is an asset's, a cross-DAG wait, or a test that reads several assets.
        extra = set(tasks) - set(ids[pipeline.name].values())
        # ... or the pipeline's one dbt build, and its one dbt test of the tests across pipelines.
        assert all(t.startswith(("wait_for_", "test_", "check_", "dbt_build", "dbt_test")) for t in extra), extra


def test_generated_files_pass_ruff_with_default_rules(generated_root, example_manifest, tmp_path):
    # The corpus outputs from the test above plus the example; ruff's defaults, not our config.
    _compile(example_manifest, tmp_path / "example")
    result = subprocess.run([str(BIN / "ruff"), "check", "--isolated", "--no-cache", str(generated_root),
                             str(tmp_path / "example")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    for path in [*generated_root.rglob("*.py"), *(tmp_path / "example").rglob("*.py")]:
        compile(path.read_text(), str(path), "exec")


class PythonSnapshot(SingleFileSnapshotExtension):
    file_extension = "py"
    _write_mode = WriteMode.TEXT


@pytest.mark.parametrize(
    "name",
    ["dbt_seeds_daily.py", "dbt_staging_daily.py", "dbt_marts_daily.py", "dbt_snapshots_daily.py"],
)
def test_example_dag_snapshots(name, example_manifest, tmp_path, snapshot):
    project, diagnostics = build(
        [str(example_manifest)],
        BuildOptions(dbt_project_dir="/opt/dbt/jaffle_shop", profiles_dir="/opt/dbt/profiles"),
    )
    backend = AirflowBackend({"conn_id": "warehouse"})
    files = {f.path: f.content for f in backend.emit(project, "specs/jaffle_shop/target/manifest.json")}
    assert files[name] == snapshot(extension_class=PythonSnapshot)


# -- end to end: real dbt-duckdb runs driven by `airflow dags test` -------------


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    """An Airflow home with the example compiled into its DAGs folder.

    The project is a copy of its own: the runs rewrite its target/ folder.
    """
    home = tmp_path_factory.mktemp("airflow-home")
    example_project = home / "jaffle_shop"
    shutil.copytree(EXAMPLE, example_project,
                    ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", ".user.yml"))
    dags = home / "dags"
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        ORCH_EXAMPLE_DUCKDB=str(home / "warehouse.duckdb"),
    )
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=600)
    subprocess.run([str(BIN / "dbt"), "parse", "--quiet", "--project-dir", str(example_project),
                    "--profiles-dir", str(example_project)], env=env, check=True, timeout=300)
    manifest = example_project / "target" / "manifest.json"
    result = orch(
        "compile", str(manifest), "--target", "airflow", "--out", str(home / "build"),
        "--profiles-dir", str(example_project),
        "-O", f"dbt_executable={BIN / 'dbt'}", "-O", "retries=0", "-O", "critical_retries=0",
        "-O", "sensor_timeout_seconds=15", "-O", "sensor_poke_seconds=3",
        env={"ORCH_CACHE_DIR": str(home / "cache")},
    )
    assert result.returncode == 0, result.stderr
    (home / "build" / "airflow").rename(dags)
    return env, home


def _dags_test(env, dag_id: str, day: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "airflow"), "dags", "test", dag_id, day], env=env,
                          capture_output=True, text=True, timeout=900)


def _task_states(home: Path, dag_id: str, day: str) -> dict[str, str]:
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT ti.task_id, ti.state FROM task_instance ti JOIN dag_run dr"
            " ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id"
            " WHERE ti.dag_id = ? AND dr.logical_date LIKE ? ORDER BY dr.id",
            (dag_id, f"{day}%"),
        ).fetchall()
    return dict(rows)


@pytest.fixture(scope="module")
def example_runs(airflow_env):
    """Every example DAG run once by `airflow dags test` for 2026-11-28, in lineage order."""
    env, _ = airflow_env
    # The seeds DAG plays the loader that fills the sources the staging DAG reads.
    return {
        dag_id: _dags_test(env, dag_id, "2026-11-28")
        for dag_id in ("dbt_seeds_daily", "dbt_staging_daily", "dbt_marts_daily", "dbt_snapshots_daily")
    }


def test_example_runs_end_to_end_in_airflow(airflow_env, example_runs):
    import duckdb

    env, home = airflow_env
    for dag_id, run in example_runs.items():
        states = _task_states(home, dag_id, "2026-11-28")
        assert states and set(states.values()) == {"success"}, (dag_id, states, run.stdout[-3000:])
        # `airflow dags test` 3.3.2 exits 1 after a successful run of a DAG with a
        # deadline (apache/airflow#73428), so success is read from the task states.
        if dag_id != "dbt_marts_daily":
            assert run.returncode == 0, run.stdout[-3000:]

    marts_log = example_runs["dbt_marts_daily"].stdout + example_runs["dbt_marts_daily"].stderr
    assert "PASS not_null_fct_orders_order_id" in marts_log
    assert "PASS unique_dim_customers_customer_id" in marts_log
    assert re.search(r"PASS relationships_fct_orders_customer_id", marts_log)
    with duckdb.connect(env["ORCH_EXAMPLE_DUCKDB"], read_only=True) as db:
        assert db.sql("select count(*) from marts.fct_orders").fetchone() == (7,)
        assert db.sql("select count(*) from marts.dim_customers").fetchone() == (5,)
        assert db.sql("select sum(amount) from marts.fct_orders").fetchone() == (94.0,)
        assert db.sql("select count(*) from snapshots.customers_snapshot").fetchone() == (5,)


def test_downstream_dag_waits_for_upstream_interval(airflow_env, example_runs):
    env, home = airflow_env
    day = "2026-11-29"
    # No staging run for this day yet: the snapshot DAG waits, times out, builds nothing.
    _dags_test(env, "dbt_snapshots_daily", day)
    assert _task_states(home, "dbt_snapshots_daily", day) == {
        "wait_for_dbt_staging_daily": "failed",
        "dbt_build": "upstream_failed",
        "customers_snapshot": "upstream_failed",
    }
    # Once the seeds (which load the tables staging reads) and staging have run for
    # the day, the same DAG goes through.
    assert _dags_test(env, "dbt_seeds_daily", day).returncode == 0
    assert _dags_test(env, "dbt_staging_daily", day).returncode == 0
    run = _dags_test(env, "dbt_snapshots_daily", day)
    assert run.returncode == 0, run.stdout[-3000:]
    states = _task_states(home, "dbt_snapshots_daily", day)
    assert states == {"wait_for_dbt_staging_daily": "success", "dbt_build": "success", "customers_snapshot": "success"}


def test_compile_writes_nothing_new_when_unchanged(example_manifest, tmp_path):
    args = ("compile", str(example_manifest), "--target", "airflow", "--out", str(tmp_path))
    assert orch(*args).returncode == 0
    before = snapshot_tree(tmp_path / "airflow")
    again = orch(*args)
    assert again.returncode == 0 and "0 written, 0 removed, 6 unchanged" in again.stderr
    assert snapshot_tree(tmp_path / "airflow") == before


def test_health_checks_follow_their_asset_and_run_on_duckdb(airflow_env, example_runs, dagbag_cls, tmp_path):
    """The freshness check's SQL, as the task would run it, against the warehouse the run built."""
    import duckdb

    env, home = airflow_env
    _compile(home / "jaffle_shop" / "target" / "manifest.json", tmp_path, conn_id="warehouse")
    dag = dagbag_cls(str(tmp_path)).dags["dbt_marts_daily"]
    check = dag.task_dict["check_fct_orders_freshness"]
    assert type(check).__name__ == "SQLCheckOperator" and check.conn_id == "warehouse"
    # After its asset, and on DuckDB (one process at a time) after the build lets go of the file.
    assert check.upstream_task_ids == {"fct_orders", "dbt_build"}
    assert dag.task_dict["check_pipeline_health"].upstream_task_ids == {"check_fct_orders_freshness"}
    stale = home / "stale.duckdb"
    shutil.copy(env["ORCH_EXAMPLE_DUCKDB"], stale)
    # The SQL names its catalog (the warehouse file's name); attach each file under it.
    with duckdb.connect() as db:
        db.execute(f"ATTACH '{env['ORCH_EXAMPLE_DUCKDB']}' AS warehouse (READ_ONLY)")
        assert db.sql(check.sql).fetchone() == (True,)  # just built: fresh
    with duckdb.connect() as db:
        db.execute(f"ATTACH '{stale}' AS warehouse")
        db.execute("update warehouse.marts.fct_orders set updated_at = updated_at - interval 3 day")
        assert db.sql(check.sql).fetchone() == (False,)  # older than freshness_hours: 26


def test_bigquery_health_checks_use_the_bigquery_operator(dagbag_cls, tmp_path):
    import json

    import sqlglot

    manifest = load_json(corpus("dbt-artifacts-parser_v11_jaffle_shop"))
    assert manifest["metadata"]["adapter_type"] == "bigquery"
    for name in ("stg_orders", "orders"):
        manifest["nodes"][f"model.jaffle_shop.{name}"]["config"]["meta"] = {"schedule": "hourly"}
    manifest["nodes"]["model.jaffle_shop.stg_orders"]["config"]["meta"].update(
        freshness_hours=6, freshness_column="order_date", critical=True
    )
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    _compile(path, tmp_path / "out", group_by="none", gcp_conn_id="bq")
    dag = dagbag_cls(str(tmp_path / "out")).dags["dbt_hourly"]
    check = dag.task_dict["check_stg_orders_freshness"]
    assert type(check).__name__ == "BigQueryCheckOperator" and check.gcp_conn_id == "bq"
    assert check.use_legacy_sql is False
    parsed = sqlglot.parse_one(check.sql, read="bigquery")
    assert parsed.find(sqlglot.exp.Table).name == "stg_orders"
    # Blocking: the critical model's dependents in the DAG wait for its check.
    assert {"stg_orders", "check_stg_orders_freshness"} <= dag.task_dict["orders"].upstream_task_ids


def test_meta_retries_reach_the_task(small_manifest, write_manifest, dagbag_cls, tmp_path):
    from datetime import timedelta

    from tests.manifest_edit import add_model

    add_model(small_manifest, "flaky", meta={"retries": 5, "retry_delay_minutes": 2})
    add_model(small_manifest, "vital", meta={"critical": True})
    _compile(write_manifest(small_manifest), tmp_path / "out")
    tasks = {t.task_id: t for d in dagbag_cls(str(tmp_path / "out")).dags.values() for t in d.tasks}
    assert tasks["flaky"].retries == 5 and tasks["flaky"].retry_delay == timedelta(minutes=2)
    assert tasks["vital"].retries == 3 and tasks["vital"].on_failure_callback
    assert tasks["my_model"].retries == 1 and tasks["my_model"].retry_delay == timedelta(minutes=5)


def test_deadline_and_failure_callbacks_alert_through_the_written_modules(example_manifest, tmp_path,
                                                                          monkeypatch, webhook):
    """The callbacks the DAGs name, imported from the DAGs folder as Airflow would, post to a webhook."""
    import importlib

    assert orch("compile", str(example_manifest), "--target", "airflow", "--out", str(tmp_path)).returncode == 0
    monkeypatch.syspath_prepend(str(tmp_path / "airflow"))
    support = importlib.import_module("orch_airflow_support")
    support.deadline_missed(pipeline="dbt_marts_daily", sla="4h", critical=True,
                            context={"dag_run": {"dag_id": "dbt_marts_daily", "dag_run_id": "r1"}, "deadline": {}})

    class TaskInstance:
        dag_id, task_id, try_number = "dbt_marts_daily", "fct_orders", 2

    support.task_failed({"ti": TaskInstance(), "exception": RuntimeError("dbt exited 1")})
    assert [m["text"].splitlines()[0] for m in webhook] == [
        "*[CRITICAL] SLA missed: dbt_marts_daily*",
        "*[CRITICAL] dbt_marts_daily.fct_orders failed*",
    ]
    assert "dbt_marts_daily (run r1) did not complete within 4h" in webhook[0]["text"] and "dbt exited 1" in webhook[1]["text"]


def test_sla_tracker_reads_real_dag_runs_from_the_airflow_api(airflow_env, example_runs, tmp_path):
    """`orch sla` against a real `airflow api-server` serving the runs the e2e test made."""
    import json
    import socket
    import time
    import urllib.request

    env, home = airflow_env
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (home / "passwords.json").write_text(json.dumps({"monitor": "s3cret-pw"}))
    server_env = dict(env, AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="monitor:viewer",
                      AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
                      AIRFLOW__API_AUTH__JWT_SECRET="orch-test-jwt-secret")
    server = subprocess.Popen([str(BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1", "--apps", "core"],
                              env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the api-server did not start"
                time.sleep(1)
        compiled = orch("compile", str(home / "jaffle_shop" / "target" / "manifest.json"), "--target", "sla",
                        "--out", str(tmp_path), "-O", f"duckdb_path={env['ORCH_EXAMPLE_DUCKDB']}",
                        "-O", f"airflow_url={url}")
        assert compiled.returncode == 0, compiled.stderr
        config = json.loads((tmp_path / "sla" / "sla-config.json").read_text())
        assert config["airflow"] == {"url": url}
        # Every example DAG, with a target no run can meet: `airflow dags test` starts
        # its runs at the logical date's midnight.
        config["pipelines"] = [{"name": dag, "completion_time_sla": {"target_duration_minutes": 5}}
                               for dag in example_runs]
        config["tables"] = []
        config["history"] = {"path": "history.sqlite"}
        (tmp_path / "sla.json").write_text(json.dumps(config))
        creds = {"ORCH_AIRFLOW_USERNAME": "monitor", "ORCH_AIRFLOW_PASSWORD": "s3cret-pw"}
        proc = orch("sla", "--config", str(tmp_path / "sla.json"), "--no-alerts",
                    "--output", str(tmp_path / "out.json"), env=creds)
        wrong = orch("sla", "--config", str(tmp_path / "sla.json"), "--no-alerts",
                     "--output", str(tmp_path / "wrong.json"), env={**creds, "ORCH_AIRFLOW_PASSWORD": "nope"})
    finally:
        server.terminate()
        server.wait(30)
    assert proc.returncode == 1, proc.stderr
    with sqlite3.connect(home / "airflow.db") as db:
        runs = db.execute("SELECT dag_id, run_id, state, start_date, end_date FROM dag_run").fetchall()
    with sqlite3.connect(tmp_path / "history.sqlite") as db:
        stored = {run: (status, message, json.loads(observed)) for run, status, message, observed in db.execute(
            "SELECT pipeline_run, status, message, observed FROM results WHERE pipeline_run IS NOT NULL")}
    assert {dag for dag, *_ in runs} == set(example_runs)
    now = datetime.now(timezone.utc)
    for dag, run_id, state, start, end in runs:
        key = f"airflow:{dag}:{run_id}"
        # What the API said is what the tracker judged: the run, its state and its duration.
        started = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
        if state == "running":  # apache/airflow#73428 leaves the deadline DAG's test run running
            assert (key in stored) == (now - started > timedelta(minutes=5)), (key, stored.get(key))
            assert key not in stored or stored[key][:1] == ("fail",) and "still running" in stored[key][1]
        elif state == "failed":
            assert stored[key][0] == "fail" and "failed" in stored[key][1]
        else:
            minutes = (datetime.fromisoformat(end).replace(tzinfo=timezone.utc) - started).total_seconds() / 60
            assert stored[key][2] == pytest.approx(minutes, abs=0.1), key
            assert stored[key][0] == ("fail" if minutes > 5 else "pass"), (key, stored[key])
    assert wrong.returncode == 2
    refused = json.loads((tmp_path / "wrong.json").read_text())["results"]
    assert refused and all("HTTP 401" in r["message"] for r in refused)


@settings(max_examples=500, deadline=None)
@given(st.text() | st.lists(st.sampled_from(["{{", "{%", "{#", "}}", "%}", "#}", "'", '"', "\r", "\n", "\\", "x",
                                              " raw ", "endraw", "conn.x"])).map("".join))
def test_jinja_literal_renders_as_itself_in_airflows_template_env(text):
    from airflow.sdk import DAG

    env = DAG(dag_id="render", schedule=None).get_template_env()
    assert env.from_string(jinja_literal(text)).render() == text
