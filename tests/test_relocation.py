"""Output compiled in one folder runs from another: CI compiles, the DAGs and the
dbt project are copied to where the workers see them (Cloud Composer's dags and
data folders), under other absolute paths.

The example is compiled in folder A, A is moved to B (so nothing is left at the
paths orch saw), and the output runs from B with the project's variable set:
under `airflow dags test`, and as a Dagster materialization.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import duckdb

from orch.compiler.codegen import project_dir_variables
from tests.conftest import BIN, EXAMPLE, orch
from tests.test_airflow_pipeline_mode import DAGS, DAY, _assert_example_tables
from tests.test_dagster import _MATERIALIZE

VARIABLE = "ORCH_PROJECT_DIR_JAFFLE_SHOP"


def test_project_dir_variables_are_named_after_the_folder_and_never_shared():
    from orch.compiler import ir

    def asset(key, runner):
        return ir.Asset(key=key, name=key, kind=ir.AssetKind.MODEL, origin=ir.Location(), runner=runner)

    project = ir.Project(name="p", assets=(
        asset("a", ir.DbtBuild(select="a", project_dir="/x/jaffle-shop")),
        asset("b", ir.DbtBuild(select="b", project_dir="/y/jaffle_shop")),
        asset("c", ir.SqlmeshRun(model="c", project_dir="/z/metrics")),
        asset("d", ir.Command(argv=("true",))),
    ))
    assert project_dir_variables(project) == {
        "/x/jaffle-shop": "ORCH_PROJECT_DIR_JAFFLE_SHOP",
        "/y/jaffle_shop": "ORCH_PROJECT_DIR_JAFFLE_SHOP_2",
        "/z/metrics": "ORCH_PROJECT_DIR_METRICS",
    }


def test_output_compiled_in_one_folder_runs_from_another(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(EXAMPLE, a / "jaffle_shop",
                    ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", ".user.yml"))
    subprocess.run([str(BIN / "dbt"), "parse", "--quiet", "--project-dir", str(a / "jaffle_shop"), "--profiles-dir",
                    str(a / "jaffle_shop")],
                   env=dict(os.environ, ORCH_EXAMPLE_DUCKDB=str(tmp_path / "warehouse.duckdb")), check=True,
                   timeout=300)
    # The profile sits in the project (--profiles-dir inside it): it moves with it.
    result = orch("compile", str(a / "jaffle_shop" / "target" / "manifest.json"), "--target", "airflow",
                  "--target", "dagster", "--out", str(a / "build"), "--profiles-dir", str(a / "jaffle_shop"),
                  "-O", f"dbt_executable={BIN / 'dbt'}", "-O", "deadlines=false", "-O", "retries=0",
                  "-O", "critical_retries=0", "-O", "sensor_timeout_seconds=60", "-O", "sensor_poke_seconds=3",
                  env={"ORCH_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    generated = [*(a / "build" / "airflow").glob("dbt_*.py"), *(a / "build" / "dagster").rglob("*_assets.py")]
    assert generated and all(VARIABLE in p.read_text() for p in generated)
    a.rename(b)
    assert not a.exists()
    project = b / "jaffle_shop"

    # Airflow: every task of every DAG succeeds, dbt runs in B and publishes its results there.
    # A warehouse per platform, of the name the manifest was parsed with (its tables' database).
    warehouse = tmp_path / "airflow" / "warehouse.duckdb"
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "airflow"),
               AIRFLOW__CORE__DAGS_FOLDER=str(b / "build" / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               ORCH_EXAMPLE_DUCKDB=str(warehouse), **{VARIABLE: str(project)})
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    for dag_id in DAGS:
        run = subprocess.run([str(BIN / "airflow"), "dags", "test", dag_id, DAY], check=False, env=env,
                             capture_output=True, text=True, timeout=600)
        with sqlite3.connect(tmp_path / "airflow" / "airflow.db") as db:
            states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (dag_id,)))
        assert states and set(states.values()) == {"success"}, (dag_id, states, run.stdout[-3000:])
        assert run.returncode == 0, (dag_id, run.stderr[-3000:])
    _assert_example_tables(warehouse)
    assert len(list((project / "target" / "orch_runs").rglob("dbt_build.jsonl"))) == len(DAGS)
    assert not a.exists()

    # Dagster: the same definitions, loaded from B, materialize into a warehouse of their own.
    warehouse = tmp_path / "dagster" / "warehouse.duckdb"
    (tmp_path / "dagster" / "home").mkdir(parents=True)
    env = dict(os.environ, ORCH_EXAMPLE_DUCKDB=str(warehouse), ORCH_DUCKDB_DATABASE=str(warehouse),
               DAGSTER_HOME=str(tmp_path / "dagster" / "home"), **{VARIABLE: str(project)})
    run = subprocess.run([sys.executable, "-c", _MATERIALIZE, str(b / "build" / "dagster")], check=False, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["unpartitioned"]["success"] and out["partition"]["success"], run.stderr[-4000:]
    assert "marts/dim_customers" in out["unpartitioned"]["materialized"]
    assert out["partition"]["materialized"] == ["marts/fct_orders"]
    assert out["partition"]["checks"] and all(out["partition"]["checks"].values())
    with duckdb.connect(str(warehouse), read_only=True) as db:
        assert db.sql("select count(*), sum(amount) from marts.fct_orders").fetchone() == (7, 94.0)
    assert not a.exists()
