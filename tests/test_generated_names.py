"""No model or pipeline name can rebind a name a generated file imports or defines.

The example project grows models named after what the generated files import
and define (`datetime`, `BashOperator`, `dag`, `print`, ...), in an hourly
pipeline that waits for the daily staging DAG through the cross-schedule sensor
helper, and pipelines named after what the Dagster modules import and define
(`dg`, `run_dbt`, `assets`, ...). The same project with plain names is the
reference: both are loaded by the real platforms and must mean the same.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orch.compiler import parity
from tests.conftest import load_dagbag, orch
from tests.dagster_automation import TICK
from tests.manifest_edit import add_model

#: What a DAG file imports or defines, and builtins and keywords it may use.
MODEL_NAMES = ("datetime", "timedelta", "pendulum", "DAG", "Asset", "BashOperator", "ExternalTaskSensor",
               "EmptyOperator", "DbtNodeSensor", "DbtBuildOperator", "DbtTestsOperator", "os", "dag", "ORCH_LINEAGE",
               "on_critical_failure", "annotations", "json", "print", "str", "class")
#: What a Dagster assets module imports or defines: the names of its functions are pipelines' names.
PIPELINE_NAMES = ("dg", "run_dbt", "run_command", "sql_checks", "after_upstream", "DBT", "assets", "asset_checks",
                  "timedelta")
PLAIN = {name: f"plain_model_{i:02d}" for i, name in enumerate(MODEL_NAMES)} | {
    name: f"plain_pipeline_{i:02d}" for i, name in enumerate(PIPELINE_NAMES)}


def _project(example_manifest: Path, folder: Path, names: dict[str, str]) -> Path:
    """The example plus one hourly mart per model name, and a spec giving some of them
    pipelines of their own; `names` maps each name above to the one used here."""
    manifest = json.loads(example_manifest.read_text(encoding="utf-8"))
    for name in MODEL_NAMES:
        add_model(manifest, names[name], ("model.jaffle_shop.stg_orders",), folder="models/marts",
                  meta={"schedule": "hourly"}, config={"materialized": "table"})
    folder.mkdir(parents=True)
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    pipelines = "".join(
        f'pipeline "{names[pipeline]}" {{\n  assets   = ["{names[model]}"]\n  schedule = "@hourly"\n}}\n\n'
        for pipeline, model in zip(PIPELINE_NAMES, MODEL_NAMES, strict=False))
    spec = folder / "shop.orch"
    spec.write_text(f'dbt "shop" {{\n  manifest = "{path}"\n}}\n\n{pipelines}', encoding="utf-8")
    return spec


def _renamed(value, names: dict[str, str], top: bool = True):
    """`value` with every name of `names` replaced, wherever it is a whole identifier
    inside a string; the top level's keys are the reader's own and stay."""
    def text(s: str) -> str:
        return "".join(names.get(part, part) for part in re.split(r"([^A-Za-z0-9_]+)", s))

    if isinstance(value, dict):
        return {(k if top else text(k)): _renamed(v, names, False) for k, v in value.items()}
    if isinstance(value, list):
        # Lists are sorted by name: sorted again once renamed.
        return sorted((_renamed(v, names, False) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return text(value) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def compiled(example_manifest, tmp_path_factory):
    root = tmp_path_factory.mktemp("names")
    out = {}
    for kind, names in (("hostile", {n: n for n in PLAIN}), ("plain", PLAIN)):
        spec = _project(example_manifest, root / kind, names)
        out[kind] = root / kind / "out"
        result = orch("compile", str(spec), "-t", "airflow", "-t", "dagster", "-o", str(out[kind]),
                      "--ignore", "W031", "--ignore", "W062")
        assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("platform", ["airflow", "dagster"])
def test_outputs_mean_the_same_as_with_plain_names(platform, compiled):
    hostile = parity.read(platform, str(compiled["hostile"] / platform))
    plain = parity.read(platform, str(compiled["plain"] / platform))
    assert hostile["problems"] == [] and plain["problems"] == []
    assert _renamed(hostile, PLAIN) == _renamed(plain, {})


def test_generated_variables_never_take_an_imported_or_defined_name(compiled):
    airflow = compiled["hostile"] / "airflow"
    # The pipeline "dg" holds the model "datetime", beside the helper that reads `datetime`.
    assert "\n    datetime_2 = DbtNodeSensor(" in (airflow / "dg.py").read_text()
    dag_file = (airflow / "dbt_marts_hourly.py").read_text()
    for name in ("os_2", "dag_2", "ORCH_LINEAGE_2", "on_critical_failure_2", "t_print", "t_class", "t_annotations"):
        assert f"\n    {name} = DbtNodeSensor(" in dag_file, name
    assets = (compiled["hostile"] / "dagster").rglob("marts_assets.py")
    code = next(assets).read_text()
    for name in ("dg", "run_dbt", "DBT", "assets", "asset_checks"):
        assert f"\ndef {name}_2(context: dg.AssetExecutionContext):" in code, name
    assert "\ndef t_timedelta" not in code  # not a builtin: a suffix, not a prefix
    assert "\ndef timedelta_2(context" in code


def test_the_cross_schedule_sensor_finds_the_same_upstream_run(compiled):
    """The helper that picks the upstream DAG's run reads `datetime`, which a model named
    `datetime` rebound before: it must give what it gives with plain names."""
    import pendulum

    logical_date = pendulum.datetime(2030, 1, 2, 5, 30, tz="UTC")
    found = {}
    for kind in ("hostile", "plain"):
        bag = load_dagbag(compiled[kind] / "airflow")
        assert bag.import_errors == {}
        dag = bag.dags["dbt_marts_hourly"]
        (sensor,) = [t for t in dag.tasks if type(t).__name__ == "ExternalTaskSensor"]
        found[kind] = sensor.execution_date_fn(logical_date=logical_date)
    assert found["hostile"] == found["plain"] == pendulum.datetime(2030, 1, 2, 0, 0, tz="UTC")


_TICKS = textwrap.dedent(
    """
    import datetime, importlib, json, sys, tomllib

    import dagster as dg
    import time_machine

    folder = sys.argv[1]
    sys.path.insert(0, folder)
    with open(folder + "/pyproject.toml", "rb") as fh:
        defs = importlib.import_module(tomllib.load(fh)["tool"]["dagster"]["module_name"]).defs
    instance = dg.DagsterInstance.ephemeral()
    """
) + TICK + textwrap.dedent(
    """
    def per_pipeline(when):
        return {name.removesuffix("_after_upstream"): sorted(paths) for name, paths in tick(when).items()}

    hour = datetime.datetime(2030, 1, 2, 6, tzinfo=datetime.UTC)
    out = {"before": per_pipeline(hour - datetime.timedelta(minutes=30)),
           "waiting": per_pipeline(hour + datetime.timedelta(minutes=2))}
    # The daily staging pipeline the hourly ones read has run since the hour.
    with time_machine.travel(hour + datetime.timedelta(minutes=5), tick=False):
        instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey(["staging", "stg_orders"])))
    out["staging_ran"] = per_pipeline(hour + datetime.timedelta(minutes=10))
    print(json.dumps(out))
    """
)


def test_dagster_pipelines_wait_for_and_then_run_the_same_assets(compiled):
    """Every pipeline of the hourly marts reads the daily staging one: Dagster's automation
    sensors (the daemon's evaluation, at fixed times) request their assets once staging ran."""
    ticks = {}
    for kind in ("hostile", "plain"):
        result = subprocess.run([sys.executable, "-c", _TICKS, str(compiled[kind] / "dagster")], capture_output=True,
                                text=True, timeout=300, check=False,
                                env=dict(os.environ, ORCH_DUCKDB_DATABASE=":memory:"))
        assert result.returncode == 0, result.stderr[-3000:]
        ticks[kind] = json.loads(result.stdout.strip().splitlines()[-1])
    plain = ticks["plain"]
    assert not any(plain["before"].values()) and not any(plain["waiting"].values())
    requested = sorted(key for keys in plain["staging_ran"].values() for key in keys)
    assert requested == sorted(f"main/{PLAIN[name]}" for name in MODEL_NAMES)  # the cloned node's schema
    assert _renamed(ticks["hostile"], PLAIN) == _renamed(plain, {})


@pytest.mark.parametrize("name", ["orch_airflow_support", "orch_alerts"])
def test_a_pipeline_cannot_take_the_name_of_a_module_the_dags_import(name, example_manifest, tmp_path):
    spec = tmp_path / "shop.orch"
    spec.write_text(f'dbt "shop" {{\n  manifest = "{example_manifest}"\n}}\n\npipeline "{name}" {{\n'
                    '  assets = ["fct_orders"]\n}\n', encoding="utf-8")
    result = orch("compile", str(spec), "-t", "airflow", "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert (f"{spec}:5:1: error[E070]: pipeline {name}'s DAG file would replace {name}.py, the module the DAGs "
            "import at run time; rename the pipeline") in result.stderr
    assert not (tmp_path / "out").exists()
