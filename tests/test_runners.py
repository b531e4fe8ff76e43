"""--runner bigquery|sql: models as their compiled SQL, proved on real Airflow,
by sqlglot's BigQuery parser, and by running the generic SQL on DuckDB."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import duckdb
import pytest
import sqlglot

from tests.conftest import BIN, EXAMPLE, load_dagbag, orch, snapshot_tree

MODELS = ("stg_customers", "stg_orders", "stg_payments", "dim_customers", "fct_orders")


@pytest.fixture(scope="module")
def compiled_example(tmp_path_factory):
    """The example after `dbt seed` and `dbt compile`: the manifest carries compiled SQL."""
    dest = tmp_path_factory.mktemp("compiled") / "jaffle_shop"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", ".user.yml"))
    env = dict(os.environ, ORCH_EXAMPLE_DUCKDB=str(dest / "warehouse.duckdb"))
    for verb in ("seed", "compile"):
        subprocess.run([str(BIN / "dbt"), verb, "--quiet", "--project-dir", str(dest), "--profiles-dir", str(dest)],
                       check=True, env=env, timeout=300)
    return dest


@pytest.fixture(scope="module")
def dagbag_cls():
    return load_dagbag


def _tasks(dagbag_cls, folder):
    bag = dagbag_cls(str(folder))
    assert bag.import_errors == {}
    return {t.task_id: t for dag in bag.dags.values() for t in dag.tasks}


def test_bigquery_runner_builds_real_job_configurations(compiled_example, dagbag_cls, tmp_path):
    result = orch("compile", str(compiled_example / "target" / "manifest.json"), "--target", "airflow",
                  "--out", str(tmp_path), "--runner", "bigquery", "-O", "location=EU", "-O", "gcp_conn_id=bq")
    assert result.returncode == 0, result.stderr
    tasks = _tasks(dagbag_cls, tmp_path / "airflow")
    for name in MODELS:
        task = tasks[name]
        assert type(task).__name__ == "BigQueryInsertJobOperator"
        assert task.location == "EU" and task.gcp_conn_id == "bq"
        query = task.configuration["query"]
        assert query["useLegacySql"] is False
        for statement in sqlglot.parse(query["query"], read="bigquery"):
            assert statement is not None
    # Views replace themselves; tables truncate; the partitioned incremental model merges one partition.
    assert tasks["stg_orders"].configuration["query"]["query"].startswith(
        "CREATE OR REPLACE VIEW `warehouse`.`staging`.`stg_orders` AS")
    dim = tasks["dim_customers"].configuration["query"]
    assert dim["writeDisposition"] == "WRITE_TRUNCATE"
    assert dim["destinationTable"] == {"projectId": "warehouse", "datasetId": "marts", "tableId": "dim_customers"}
    fct = tasks["fct_orders"].configuration["query"]
    assert "MERGE `warehouse`.`marts`.`fct_orders` AS T" in fct["query"]
    assert "ON T.`order_id` = S.`order_id`" in fct["query"]
    assert "WHERE `order_date` = DATE(@orch_partition)" in fct["query"]
    assert fct["queryParameters"][0]["parameterValue"]["value"] == "{{ ds }}"
    # Seeds are not SQL: they stay with dbt (the pipeline's one build, by default).
    assert type(tasks["raw_orders"]).__name__ == "DbtNodeSensor"


def test_sql_runner_statements_rebuild_the_models_on_duckdb(compiled_example, dagbag_cls, tmp_path):
    result = orch("compile", str(compiled_example / "target" / "manifest.json"), "--target", "airflow",
                  "--out", str(tmp_path), "--runner", "sql", "-O", "conn_id=warehouse")
    assert result.returncode == 0, result.stderr
    tasks = _tasks(dagbag_cls, tmp_path / "airflow")
    assert all(type(tasks[m]).__name__ == "SQLExecuteQueryOperator" and tasks[m].conn_id == "warehouse"
               for m in MODELS)
    # Run exactly the statements the tasks would, in lineage order, on the seeded warehouse.
    with duckdb.connect(str(compiled_example / "warehouse.duckdb")) as db:
        for name in MODELS:
            for statement in tasks[name].sql:
                db.execute(statement)
        assert db.sql("select count(*), sum(amount) from marts.fct_orders").fetchone() == (7, 94.0)
        assert db.sql("select count(*) from marts.dim_customers").fetchone() == (5,)
        # The incremental model merges: running it again keeps one row per order.
        for statement in tasks["fct_orders"].sql:
            db.execute(statement)
        assert db.sql("select count(*), count(distinct order_id) from marts.fct_orders").fetchone() == (7, 7)


def test_meta_runner_overrides_the_compile_option(compiled_example, tmp_path):
    manifest = json.loads((compiled_example / "target" / "manifest.json").read_text())
    manifest["nodes"]["model.jaffle_shop.dim_customers"]["config"]["meta"]["runner"] = "dbt"
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    result = orch("ir", str(path), "--runner", "bigquery")
    assert result.returncode == 0, result.stderr
    runners = {a["name"]: a["runner"]["type"] for a in json.loads(result.stdout)["project"]["assets"]
               if "runner" in a}
    assert runners["dim_customers"] == "dbt_build"
    assert runners["fct_orders"] == "sql_query"


def test_sql_runners_without_compiled_sql_name_each_model(example_manifest, tmp_path):
    out = tmp_path / "out"
    result = orch("compile", str(example_manifest), "--target", "airflow", "--out", str(out),
                  "--runner", "bigquery", "--verbose")
    assert result.returncode == 1
    for name in MODELS:
        assert re.search(rf"model\.jaffle_shop\.{name}: error\[E080\]: {name}: the bigquery runner needs the "
                         "model's compiled SQL", result.stderr), name
    assert snapshot_tree(out) == {}


def test_sql_runner_without_a_connection_names_the_model(compiled_example, tmp_path):
    out = tmp_path / "out"
    result = orch("compile", str(compiled_example / "target" / "manifest.json"), "--target", "airflow",
                  "--out", str(out), "--runner", "sql")
    assert result.returncode == 1
    assert "error[E080]" in result.stderr and "needs a connection" in result.stderr
    assert snapshot_tree(out) == {}


def test_unknown_option_is_a_usage_error(example_manifest, tmp_path):
    result = orch("compile", str(example_manifest), "--target", "airflow", "--out", str(tmp_path),
                  "-O", "colour=blue")
    assert result.returncode == 2 and "'colour' is not an option of airflow" in result.stderr


def test_bad_option_values_are_unusable_input(example_manifest, tmp_path):
    result = orch("compile", str(example_manifest), "--target", "airflow", "--out", str(tmp_path),
                  "-O", "retries=many", "-O", "start_date=soon")
    assert result.returncode == 2
    assert "airflow option retries='many' must be a whole number" in result.stderr
    assert "airflow option start_date='soon' must be a date" in result.stderr
    assert snapshot_tree(tmp_path) == {}
