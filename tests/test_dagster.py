"""The Dagster backend against real Dagster 1.13: loading, lineage, materializing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from orch.backends.dagster import DagsterBackend
from orch.backends.dagster.parts import asset_keys
from orch.compiler import codegen
from orch.compiler.driver import BuildOptions, build
from tests.conftest import BIN, CORPUS_FILES, EXAMPLE, load_json, orch
from tests.dagster_automation import TICK
from tests.test_dbt_corpus import _expected as expected_from_manifest

SUPPORTED = [
    p for p in CORPUS_FILES
    if (m := re.search(r"/v(\d+)\.json", str(load_json(p).get("metadata", {}).get("dbt_schema_version", ""))))
    and int(m.group(1)) >= 7
]

_LOAD = textwrap.dedent(
    """
    import json, sys
    import dagster as dg
    sys.path.insert(0, sys.argv[1])
    import importlib
    module = importlib.import_module(sys.argv[2])
    dg.Definitions.validate_loadable(module.defs)
    graph = module.defs.resolve_asset_graph()
    print(json.dumps({
        "/".join(k.path): sorted("/".join(p.path) for p in graph.get(k).parent_keys)
        for k in graph.get_all_asset_keys()
    }))
    """
)


def _load_graph(folder: Path, package: str) -> dict[str, list[str]]:
    """Load the definitions in a fresh interpreter, as `dagster dev` would, and return the graph."""
    result = subprocess.run([sys.executable, "-c", _LOAD, str(folder), package], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, ORCH_DUCKDB_DATABASE=":memory:"))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("manifest", SUPPORTED, ids=lambda p: p.name.removesuffix(".json.gz"))
def test_corpus_definitions_load_with_the_manifests_lineage(manifest, tmp_path):
    project, diagnostics = build([str(manifest)], BuildOptions(dbt_project_dir="/opt/dbt/project"))
    assert not [d for d in diagnostics if d.is_error]
    codegen.write_tree(str(tmp_path), DagsterBackend({}).emit(project, manifest.name))
    graph = _load_graph(tmp_path, "orch_definitions")

    # Expected edges from the raw manifest, mapped to the Dagster keys orch chose.
    assets, _, lineage = expected_from_manifest(load_json(manifest))
    keys = {k: "/".join(v) for k, v in asset_keys(project).items()}
    expected: dict[str, set[str]] = {}
    for uid in assets:
        expected.setdefault(keys[uid], set()).update(keys[u] for u in lineage[uid] if keys[u] != keys[uid])
    assert {k: set(v) for k, v in graph.items()} == expected


def test_dagster_cli_validates_the_written_folder(example_manifest, tmp_path):
    result = orch("compile", str(example_manifest), "--target", "dagster", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    home = tmp_path / "home"
    home.mkdir()
    validate = subprocess.run([str(BIN / "dagster"), "definitions", "validate"], cwd=tmp_path / "dagster",
                              capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, DAGSTER_HOME=str(home), ORCH_DUCKDB_DATABASE=":memory:"))
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "All code locations passed validation" in validate.stdout + validate.stderr


def test_generated_files_pass_ruff_and_compile(example_manifest, tmp_path):
    assert orch("compile", str(example_manifest), "--target", "dagster", "--out", str(tmp_path)).returncode == 0
    result = subprocess.run([str(BIN / "ruff"), "check", "--isolated", "--no-cache", str(tmp_path / "dagster")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    for path in (tmp_path / "dagster").rglob("*.py"):
        compile(path.read_text(), str(path), "exec")


class PythonSnapshot(SingleFileSnapshotExtension):
    file_extension = "py"
    _write_mode = WriteMode.TEXT


@pytest.mark.parametrize(
    "name", ["__init__.py", "marts_assets.py", "staging_assets.py", "seeds_assets.py", "sensors.py"]
)
def test_example_definition_snapshots(name, example_manifest, snapshot):
    project, _ = build([str(example_manifest)],
                       BuildOptions(dbt_project_dir="/opt/dbt/jaffle_shop", profiles_dir="/opt/dbt/profiles"))
    files = {f.path: f.content for f in DagsterBackend({}).emit(project, "specs/jaffle_shop/target/manifest.json")}
    assert files[f"orch_definitions/{name}"] == snapshot(extension_class=PythonSnapshot)


_MATERIALIZE = textwrap.dedent(
    """
    import json, sys
    import dagster as dg
    sys.path.insert(0, sys.argv[1])
    from orch_definitions import defs
    assets = [*defs.assets, *defs.asset_checks]
    partitioned = dg.AssetKey(["marts", "fct_orders"])
    everything = defs.resolve_asset_graph().get_all_asset_keys()
    out = {}
    for label, selection, partition in (
        ("unpartitioned", dg.AssetSelection.assets(*[k for k in everything if k != partitioned])
         - dg.AssetSelection.assets(["exposure", "revenue_dashboard"]), None),
        ("partition", dg.AssetSelection.assets(partitioned), "2026-11-27"),
    ):
        result = dg.materialize(assets, selection=selection, resources=defs.resources, partition_key=partition,
                                raise_on_error=False)
        out[label] = {
            "success": result.success,
            "materialized": sorted("/".join(e.asset_key.path) for e in result.get_asset_materialization_events()),
            "partitions": sorted(e.partition for e in result.get_asset_materialization_events() if e.partition),
            "checks": {e.check_name: e.passed for e in result.get_asset_check_evaluations()},
        }
    print(json.dumps(out))
    """
)


def _compiled_example(tmp_path: Path) -> tuple[dict, Path]:
    """The example copied into `tmp_path`, parsed by dbt and compiled to tmp_path/out/dagster:
    (the environment its runs take, the DuckDB file they build)."""
    project = tmp_path / "jaffle_shop"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", ".user.yml"))
    warehouse = tmp_path / "jaffle_shop.duckdb"
    env = dict(os.environ, ORCH_EXAMPLE_DUCKDB=str(warehouse), ORCH_DUCKDB_DATABASE=str(warehouse),
               DAGSTER_HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    subprocess.run([str(BIN / "dbt"), "parse", "--quiet", "--project-dir", str(project), "--profiles-dir",
                    str(project)], env=env, check=True, timeout=300)
    result = orch("compile", str(project / "target" / "manifest.json"), "--target", "dagster", "--out",
                  str(tmp_path / "out"), "--profiles-dir", str(project), "-O", f"dbt_executable={BIN / 'dbt'}")
    assert result.returncode == 0, result.stderr
    return env, warehouse


def test_example_materializes_end_to_end(tmp_path):
    import duckdb

    env, warehouse = _compiled_example(tmp_path)
    run = subprocess.run([sys.executable, "-c", _MATERIALIZE, str(tmp_path / "out" / "dagster")], env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])

    whole = out["unpartitioned"]
    assert whole["success"], run.stderr[-4000:]
    assert whole["materialized"] == [
        "marts/dim_customers", "raw/raw_customers", "raw/raw_orders", "raw/raw_payments",
        "snapshots/customers_snapshot", "staging/stg_customers", "staging/stg_orders", "staging/stg_payments",
    ]
    assert whole["checks"] and all(whole["checks"].values())
    assert {"unique_stg_orders_order_id", "not_null_dim_customers_customer_id"} <= set(whole["checks"])

    part = out["partition"]
    assert part["success"] and part["materialized"] == ["marts/fct_orders"]
    assert part["partitions"] == ["2026-11-27"]
    # dbt tests of the partitioned model and the SQL freshness check all ran and passed.
    assert part["checks"] == {
        "assert_order_amounts_positive": True,
        "not_null_fct_orders_order_id": True,
        "relationships_fct_orders_customer_id__customer_id__ref_dim_customers_": True,
        "unique_fct_orders_order_id": True,
        "fct_orders_freshness": True,
    }
    with duckdb.connect(str(warehouse), read_only=True) as db:
        assert db.sql("select count(*), sum(amount) from marts.fct_orders").fetchone() == (7, 94.0)
        assert db.sql("select count(*) from marts.dim_customers").fetchone() == (5,)


_WAIT = textwrap.dedent(
    """
    import datetime, json, sys
    import dagster as dg
    sys.path.insert(0, sys.argv[1])
    from orch_definitions import defs
    instance = dg.DagsterInstance.ephemeral()
    assets = [*defs.assets, *defs.asset_checks]
    """
) + TICK + textwrap.dedent(
    """
    def everything(when):
        return {path: keys for requested in tick(when).values() for path, keys in requested.items()}

    def run(paths, partition=None):
        keys = [dg.AssetKey(p.split("/")) for p in paths]
        result = dg.materialize(assets, selection=dg.AssetSelection.assets(*keys), resources=defs.resources,
                                instance=instance, partition_key=partition, raise_on_error=False)
        assert result.success, paths

    day = datetime.datetime(2030, 1, 1, 23, 30, tzinfo=datetime.UTC)
    out = {"before_midnight": everything(day)}
    midnight = day + datetime.timedelta(minutes=40)
    out["after_midnight"] = everything(midnight)
    out["again"] = everything(midnight + datetime.timedelta(minutes=5))
    run(sys.argv[2].split(","))  # the seeds' pipeline, which reads nothing of another
    out["after_seeds"] = everything(midnight + datetime.timedelta(minutes=10))
    run(sorted(out["after_seeds"]))
    out["after_staging"] = everything(midnight + datetime.timedelta(minutes=15))
    out["after_that"] = everything(midnight + datetime.timedelta(minutes=20))
    print(json.dumps(out))
    """
)


def test_a_pipeline_waits_for_the_pipelines_it_reads(tmp_path):
    """A downstream pipeline started before its upstream one waits for it, as the
    Airflow DAG's sensor does (test_airflow's test_downstream_dag_waits_for_upstream_interval):
    each pipeline that reads another runs on its cron once what it reads was updated
    since the tick, through its automation condition, as Dagster's daemon evaluates it.
    The evaluations run at fixed times, a day from any clock."""
    env, _ = _compiled_example(tmp_path)
    seeds = "raw/raw_customers,raw/raw_orders,raw/raw_payments"
    run = subprocess.run([sys.executable, "-c", _WAIT, str(tmp_path / "out" / "dagster"), seeds], env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    # Midnight passes with nothing upstream built: every pipeline that reads another waits.
    assert out["before_midnight"] == {} and out["after_midnight"] == {} and out["again"] == {}
    # The seeds (a pipeline of their own) ran: staging, which reads them, runs; the rest still waits.
    assert out["after_seeds"] == {"staging/stg_customers": [], "staging/stg_orders": [], "staging/stg_payments": []}
    # Staging ran: the marts (for the day that ended) and the snapshot, which read it, run; once.
    assert out["after_staging"] == {"marts/dim_customers": [], "marts/fct_orders": ["2030-01-01"],
                                    "snapshots/customers_snapshot": []}
    assert out["after_that"] == {}


def test_sla_sensor_alerts_once_per_missed_run_over_a_real_webhook(example_manifest, tmp_path, monkeypatch,
                                                                    webhook):
    """The generated SLA sensor, on a real Dagster instance, posting to a real HTTP server."""
    import importlib

    import dagster as dg

    assert orch("compile", str(example_manifest), "--target", "dagster", "--out", str(tmp_path),
                "-O", "package=orch_sla_test").returncode == 0
    monkeypatch.syspath_prepend(str(tmp_path / "dagster"))
    support = importlib.import_module("orch_sla_test.orch_dagster_support")
    # Due every 1 January at 00:00, within a minute: long overdue for fct_orders, never materialized.
    slas = [{"pipeline": "dbt_marts_yearly", "cron": "0 0 1 1 *", "timezone": "UTC", "within_seconds": 60,
             "asset_keys": [["marts", "fct_orders"]]},
            {"pipeline": "dbt_on_time", "cron": "0 0 1 1 *", "timezone": "UTC", "within_seconds": 60,
             "asset_keys": [["marts", "dim_customers"]]}]
    sensor = support.sla_sensor("orch_sla_monitor", slas)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(["marts", "dim_customers"]))
        context = dg.build_sensor_context(instance=instance)
        sensor(context)
        assert [m["text"].splitlines()[0] for m in webhook] == ["*[SLA] dbt_marts_yearly missed its deadline*"]
        assert "marts/fct_orders" in webhook[0]["text"]
        # The next evaluation, with the cursor the first one left, does not alert again.
        sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))
        assert len(webhook) == 1


def test_sql_runner_models_are_refused_by_name(example_manifest, tmp_path):
    manifest = json.loads(example_manifest.read_text())
    node = manifest["nodes"]["model.jaffle_shop.dim_customers"]
    node["compiled_code"] = "select 1 as customer_id"
    node["config"]["meta"]["runner"] = "sql"
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    result = orch("compile", str(path), "--target", "dagster", "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "model.jaffle_shop.dim_customers: error[E063]: backend 'dagster' cannot run dim_customers " \
           "(runner sql_query)" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_pipeline_with_two_partitionings_gets_one_multi_asset_each(small_manifest, write_manifest, tmp_path):
    from tests.manifest_edit import add_model

    add_model(small_manifest, "fct_daily", config={"partition_by": {"field": "d", "data_type": "date"}},
              columns=("d",))
    add_model(small_manifest, "fct_monthly", columns=("d",),
              config={"partition_by": {"field": "d", "data_type": "date", "granularity": "month"}})
    project, diagnostics = build([str(write_manifest(small_manifest))], BuildOptions())
    assert not [d for d in diagnostics if d.is_error]
    files = DagsterBackend({}).emit(project, "manifest.json")
    codegen.write_tree(str(tmp_path / "out"), files)
    marts = next(f.content for f in files if f.path.endswith("marts_assets.py"))
    assert 'name="dbt_marts_daily_partitioned_day_default"' in marts
    assert 'name="dbt_marts_daily_partitioned_month_default"' in marts
    graph = _load_graph(tmp_path / "out", "orch_definitions")
    assert {"fct_daily", "fct_monthly"} <= {k.split("/")[-1] for k in graph}


_SCHEDULES = textwrap.dedent(
    """
    import json, sys
    from datetime import datetime, timedelta, timezone
    import dagster as dg
    sys.path.insert(0, sys.argv[1])
    from orch_definitions import defs
    graph = defs.resolve_asset_graph()
    start = datetime(2026, 2, 27, 0, 0, tzinfo=timezone.utc)
    ticks = [start + timedelta(minutes=m) for m in range(0, 60 * 24 * 40, 97)]
    out = {}
    for schedule in defs.schedules:
        if "_partitioned_" not in schedule.name:
            continue
        job = defs.resolve_job_def(schedule.job_name)
        keys = sorted(job.asset_layer.selected_asset_keys)
        pdef = graph.get(keys[0]).partitions_def
        reference = dg.build_schedule_from_partitioned_job(
            dg.define_asset_job("reference", selection=keys, partitions_def=pdef))
        ticks_out = []
        for tick in ticks:
            ours = schedule(dg.build_schedule_context(scheduled_execution_time=tick))
            theirs = reference(dg.build_schedule_context(scheduled_execution_time=tick))
            ticks_out.append([ours.partition_key, theirs.partition_key, ours.tags.get("orch/pipeline")])
        out[schedule.name] = {"cron": schedule.cron_schedule, "tz": schedule.execution_timezone,
                              "assets": ["/".join(k.path) for k in keys], "ticks": ticks_out}
    print(json.dumps(out))
    """
)


def test_partitioned_schedules_run_on_the_pipeline_cron_for_the_partition_dagster_would(
        small_manifest, write_manifest, tmp_path):
    """A partitioned pipeline's schedule fires on its own cron (any cron, as its
    Airflow DAG does) and asks, at every tick, for the very partition Dagster's
    build_schedule_from_partitioned_job would: the last one that has ended."""
    from tests.manifest_edit import add_model

    for name, granularity, cron in (("fct_day", "day", "30 6 * * *"), ("fct_hour", "hour", "15 * * * *"),
                                    ("fct_month", "month", "@monthly"), ("fct_weekday", "day", "0 7 * * 1-5")):
        add_model(small_manifest, name, columns=("d",), meta={"schedule": cron},
                  config={"partition_by": {"field": "d", "granularity": granularity,
                                           "data_type": "timestamp" if granularity == "hour" else "date"}})
    project, diagnostics = build([str(write_manifest(small_manifest))], BuildOptions())
    assert not [d for d in diagnostics if d.is_error or d.code.value == "W062"], diagnostics
    codegen.write_tree(str(tmp_path / "out"), DagsterBackend({}).emit(project, "manifest.json"))
    result = subprocess.run([sys.executable, "-c", _SCHEDULES, str(tmp_path / "out")], capture_output=True,
                            text=True, timeout=300, env=dict(os.environ, ORCH_DUCKDB_DATABASE=":memory:"))
    assert result.returncode == 0, result.stderr[-3000:]
    schedules = json.loads(result.stdout.strip().splitlines()[-1])
    crons = {s["assets"][-1].split("/")[-1]: (s["cron"], s["tz"]) for s in schedules.values()}
    assert crons == {"fct_day": ("30 6 * * *", "UTC"), "fct_hour": ("15 * * * *", "UTC"),
                     "fct_month": ("@monthly", "UTC"), "fct_weekday": ("0 7 * * 1-5", "UTC")}
    for name, schedule in schedules.items():
        wrong = [t for t in schedule["ticks"] if t[0] != t[1] or t[0] is None or not name.startswith(t[2] + "_")]
        assert not wrong, (name, wrong[:5])
        assert len({ours for ours, _, _ in schedule["ticks"]}) >= 3, "the ticks span several partitions"


def _run_sql_checks(package: Path, database: str, **config) -> dict[str, tuple[bool, str | None]]:
    """Three SQL checks of one table, run by the support module's step as orch writes it
    into a definitions package: name -> (passed, error)."""
    import importlib

    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from orch.backends import dagster as dagster_backend
    from orch.compiler.shared import alerting

    (package / "checks_pkg").mkdir()
    (package / "checks_pkg" / "__init__.py").write_text("")
    shutil.copy(Path(dagster_backend.__file__).parent / "orch_dagster_support.py",
                package / "checks_pkg" / "orch_dagster_support.py")
    shutil.copy(alerting.__file__, package / "checks_pkg" / "orch_alerts.py")
    sql_checks = importlib.import_module("checks_pkg.orch_dagster_support").sql_checks

    @dg.asset(name="t")
    def table():
        return None

    checks = sql_checks(name="t_checks", resource="duckdb", checks=[
        {"name": "holds", "asset": ["t"], "blocking": False, "sql": "select count(*) = 1 from t"},
        {"name": "fails", "asset": ["t"], "blocking": False, "sql": "select count(*) = 2 from t"},
        {"name": "broken", "asset": ["t"], "blocking": False, "sql": "select * from not_a_table"},
    ])
    result = dg.materialize([table, checks], resources={"duckdb": DuckDBResource(database=database, **config)},
                            raise_on_error=False)
    return {e.check_name: (e.passed, e.metadata.get("error").value if e.metadata.get("error") else None)
            for e in result.get_asset_check_evaluations()}


@pytest.fixture
def checks_package(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("checks_pkg")]:
        del sys.modules[name]


def test_sql_checks_judge_each_query_on_one_connection(checks_package):
    import duckdb

    database = str(checks_package / "w.duckdb")
    with duckdb.connect(database) as db:
        db.execute("create table t as select 1 as x")
    judged = _run_sql_checks(checks_package, database)
    assert judged["holds"] == (True, None)
    assert judged["fails"] == (False, None)
    # A broken query fails its own check, with the reason; the others keep their verdicts.
    assert judged["broken"][0] is False and "not_a_table" in judged["broken"][1]


def test_sql_checks_without_a_connection_all_fail_saying_why(checks_package):
    judged = _run_sql_checks(checks_package, str(checks_package / "w.duckdb"), connection_config={"no_such_setting": 1})
    assert set(judged) == {"holds", "fails", "broken"}
    assert all(passed is False and "no_such_setting" in error for passed, error in judged.values()), judged
