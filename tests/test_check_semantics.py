"""One check, one meaning: the same seeded DuckDB tables judged by the Airflow check
task's SQL, by the Dagster asset checks and by `orch health` give the same verdicts,
for every kind of health check."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import load_dagbag, orch
from tests.manifest_edit import add_model

#: name -> (kind, attributes, verdict). The table has 100 rows on each of the two whole
#: days before today (UTC), one every 14 minutes, none three days ago, and 5 today so far.
_DAY = {"partition_column": '"created_at"'}
CHECKS = {
    "yesterday_has_10": ("row_count", {"min_rows": 10, **_DAY}, True),
    "two_days_have_10": ("row_count", {"min_rows": 10, **_DAY, "lookback": "2d"}, True),
    "a_missing_day_is_zero": ("row_count", {"min_rows": 10, **_DAY, "lookback": "3d"}, False),
    "yesterday_has_150": ("row_count", {"min_rows": 150, **_DAY}, False),
    "table_has_200": ("row_count", {"min_rows": 200}, True),
    "table_has_300": ("row_count", {"min_rows": 300}, False),
    "fresh_within_1h": ("freshness", {"column": '"created_at"', "max_age": "1h"}, True),
    "fresh_within_5m": ("freshness", {"column": '"created_at"', "max_age": "5m"}, False),
    "no_future_rows": ("sql", {"sql": '"SELECT COUNT(*) = 0 FROM main.events WHERE created_at > now()::timestamp"'},
                       True),
    "no_rows_today": ("sql", {"sql": '"SELECT COUNT(*) = 0 FROM main.events WHERE created_at >= current_date"'},
                      False),
}


def _block(name: str) -> str:
    kind, attributes, _ = CHECKS[name]
    body = "".join(f"    {key} = {value}\n" for key, value in attributes.items())
    return f'  check "{kind}" "{name}" {{\n{body}  }}\n'


def _seed(database: Path) -> dt.datetime:
    """The table, relative to the warehouse's clock; returns that clock's now (UTC)."""
    import duckdb

    with duckdb.connect(str(database)) as db:
        db.execute("SET TimeZone = 'UTC'")
        now = db.sql("SELECT now()::timestamp").fetchone()[0]
        today = dt.datetime.combine(now.date(), dt.time())
        rows = [today - dt.timedelta(days=day) + dt.timedelta(minutes=14 * i) for day in (1, 2) for i in range(100)]
        rows += [now - dt.timedelta(minutes=10 + i) for i in range(5)]
        db.execute("CREATE TABLE main.events (id INTEGER, created_at TIMESTAMP)")
        db.executemany("INSERT INTO main.events VALUES (?, ?)", list(enumerate(rows)))
    return now.replace(tzinfo=dt.UTC)


def _project(small_manifest, folder: Path) -> Path:
    small_manifest["metadata"]["adapter_type"] = "duckdb"
    uid = add_model(small_manifest, "events", folder="models/marts", config={"materialized": "table"})
    small_manifest["nodes"][uid].update(database=None, schema="main")
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps(small_manifest), encoding="utf-8")
    blocks = "\n".join(_block(name) for name in CHECKS)
    spec = folder / "events.orch"
    spec.write_text(f'dbt "shop" {{\n  manifest = "{manifest}"\n}}\n\nasset "events" {{\n{blocks}}}\n',
                    encoding="utf-8")
    return spec


def _first_row_holds(database: Path, sql: str) -> bool:
    """The contract of Airflow's SQLCheckOperator: the first row, every value true."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as db:
        row = db.sql(sql).fetchone()
    return row is not None and all(row)


_DAGSTER_CHECKS = textwrap.dedent(
    """
    import importlib, json, sys, tomllib
    import dagster as dg

    folder = sys.argv[1]
    sys.path.insert(0, folder)
    with open(folder + "/pyproject.toml", "rb") as fh:
        defs = importlib.import_module(tomllib.load(fh)["tool"]["dagster"]["module_name"]).defs
    # Only the checks run: the asset itself is not built again.
    result = dg.materialize([*defs.assets, *defs.asset_checks], selection=dg.AssetSelection.all_asset_checks(),
                            resources=defs.resources, raise_on_error=False)
    print(json.dumps({e.check_name: e.passed for e in result.get_asset_check_evaluations()}))
    """
)


def _verdicts(small_manifest, folder: Path) -> tuple[dt.datetime, dict[str, dict[str, bool]]]:
    """Seed, compile, and judge every check on each platform: (the warehouse's now, platform -> verdicts)."""
    database = folder / "warehouse.duckdb"
    folder.mkdir()
    now = _seed(database)
    spec = _project(small_manifest, folder / "project")
    out = folder / "out"
    compiled = orch("compile", str(spec), "-t", "airflow", "-t", "dagster", "-t", "health", "-o", str(out),
                    "-O", "conn_id=warehouse", "-O", f"duckdb_path={database}", "--ignore", "W062")
    assert compiled.returncode == 0, compiled.stderr
    verdicts = {}

    dag = next(iter(load_dagbag(out / "airflow").dags.values()))
    verdicts["airflow"] = {next(n for n in CHECKS if task.task_id.endswith(n)): _first_row_holds(database, task.sql)
                           for task in dag.tasks if type(task).__name__ == "SQLCheckOperator"}

    run = subprocess.run([sys.executable, "-c", _DAGSTER_CHECKS, str(out / "dagster")], capture_output=True,
                         text=True, timeout=600, check=False, env=dict(os.environ, ORCH_DUCKDB_DATABASE=str(database)))
    assert run.returncode == 0, run.stderr[-3000:]
    verdicts["dagster"] = {name: passed for name, passed in json.loads(run.stdout.strip().splitlines()[-1]).items()
                           if name in CHECKS}

    health = orch("health", "--config", str(out / "health" / "health-config.json"), "--no-alerts", "-q",
                  "--output", str(folder / "health.json"), "--as-of", now.isoformat())
    assert health.returncode == 1, health.stderr  # some checks fail on purpose
    results = json.loads((folder / "health.json").read_text())["results"]
    verdicts["orch health"] = {r["check"]: r["status"] == "pass" for r in results if r["check"] in CHECKS}
    return now, verdicts


def test_every_check_kind_means_the_same_in_airflow_dagster_and_orch_health(small_manifest, tmp_path):
    expected = {name: verdict for name, (_, _, verdict) in CHECKS.items()}
    # The checks in the DAG and in Dagster read the warehouse's clock, which a test cannot
    # hold: a run that spans midnight UTC is made again, wholly on the new day.
    for attempt in range(2):
        now, verdicts = _verdicts(copy.deepcopy(small_manifest), tmp_path / str(attempt))
        if dt.datetime.now(dt.UTC).date() == now.date():
            break
    assert verdicts == {"airflow": expected, "dagster": expected, "orch health": expected}
