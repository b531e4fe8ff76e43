"""The SQLMesh frontend against real projects that sqlmesh itself loads."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from orch.compiler.driver import BuildOptions, build
from orch.compiler.frontends import sqlmesh
from tests.conftest import BIN, ROOT, orch

SHOP = ROOT / "specs" / "shop_metrics"


@pytest.fixture(scope="module")
def init_project(tmp_path_factory):
    """The starter project `sqlmesh init duckdb` writes."""
    path = tmp_path_factory.mktemp("sqlmesh-init")
    subprocess.run([str(BIN / "sqlmesh"), "init", "duckdb"], cwd=path, check=True, capture_output=True, timeout=300)
    return path


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    dest = tmp_path_factory.mktemp("shop") / "shop_metrics"
    shutil.copytree(SHOP, dest, ignore=shutil.ignore_patterns(".cache", "logs", "*.duckdb"))
    return dest


def _assert_graph_is_sqlmeshs(path):
    context = sqlmesh.dag(str(path))
    lowered = sqlmesh.lower(str(path))
    assets = {a.key: a for a in lowered.assets}
    catalog = context["catalog"]
    models = set(context["models"])
    # Every node of SQLMesh's own DAG that is a model is an asset with exactly its edges.
    for fqn, deps in context["graph"].items():
        if fqn not in models:
            continue
        key = sqlmesh.asset_key(fqn, catalog)
        want = {sqlmesh.asset_key(d, catalog) if d in models else sqlmesh.external_key(d, catalog) for d in deps}
        assert set(assets[key].upstream) == want, fqn
    assert {k for k, a in assets.items() if a.runner is not None} == {sqlmesh.asset_key(m, catalog) for m in models}
    return context, lowered, assets


def test_init_project_graph_crons_kinds_and_audits(init_project):
    _, lowered, assets = _assert_graph_is_sqlmeshs(init_project)
    full = assets["sqlmesh.sqlmesh_example.full_model"]
    assert full.materialization == "full" and full.schedule.cron == "@daily"
    assert full.unique_key == ("item_id",)
    incremental = assets["sqlmesh.sqlmesh_example.incremental_model"]
    assert incremental.materialization == "incremental_by_time_range"
    assert incremental.partitioning.field == "event_date" and incremental.partitioning.granularity == "day"
    assert str(incremental.partitioning.start) == "2020-01-01"
    assert assets["sqlmesh.sqlmesh_example.seed_model"].materialization == "seed"
    audits = {(c.asset, c.name) for c in lowered.checks}
    assert audits == {("sqlmesh.sqlmesh_example.full_model", "assert_positive_order_ids")}
    assert all(c.kind.value == "sqlmesh_audit" and c.blocking for c in lowered.checks)
    runner = full.runner
    assert runner.model == "sqlmesh_example.full_model" and runner.project_dir == str(init_project)
    project, diagnostics = build([str(init_project)], BuildOptions())
    assert not [d for d in diagnostics if d.is_error]
    assert [p.name for p in project.pipelines] == ["sqlmesh_models_daily"]


def test_shop_project_kinds_crons_audits_python_model(shop):
    _, lowered, assets = _assert_graph_is_sqlmeshs(shop)
    kinds = {a.name: a.materialization for a in assets.values() if a.runner}
    assert kinds == {
        "shop.regions": "seed",
        "shop.daily_revenue": "incremental_by_time_range",
        "shop.customer_ltv": "full",
        "shop.order_status": "incremental_by_unique_key",
        "shop.customer_history": "scd_type_2_by_column",
        "shop.top_customers": "view",
        "shop.region_summary": "full",
    }
    crons = {a.name: a.schedule.cron for a in assets.values() if a.runner}
    assert crons["shop.order_status"] == "@hourly"
    assert crons["shop.customer_history"] == "*/10 * * * *"
    assert crons["shop.daily_revenue"] == "@daily"
    # The Python model carries its declared dependency.
    assert assets["sqlmesh.shop.region_summary"].upstream == ("sqlmesh.shop.regions",)
    assert assets["sqlmesh.shop.region_summary"].path == "models/region_summary.py"
    assert assets["sqlmesh.shop.order_status"].unique_key == ("order_id",)
    assert assets["sqlmesh.shop.daily_revenue"].partitioning.field == "order_date"
    assert assets["sqlmesh.shop.daily_revenue"].owner == "finance"
    assert set(assets["sqlmesh.shop.daily_revenue"].tags) == {"finance", "revenue"}
    audits = sorted((c.asset.rsplit(".", 1)[1], c.name) for c in lowered.checks)
    assert audits == [("customer_ltv", "not_null"), ("customer_ltv", "unique_values"),
                      ("daily_revenue", "assert_non_negative_revenue"), ("daily_revenue", "not_null")]
    # Tables no model builds are external, runner-less assets.
    assert assets["sqlmesh.external.marts.fct_orders"].runner is None


def test_sqlmesh_project_compiles_grouped_by_cron(shop, tmp_path):
    project, diagnostics = build([str(shop)], BuildOptions())
    assert not [d for d in diagnostics if d.is_error]
    by_cron = {p.schedule.cron for p in project.pipelines}
    assert by_cron == {"@daily", "@hourly", "*/10 * * * *"}
    result = orch("compile", str(shop), "-t", "airflow", "-t", "dagster", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    dag = next((tmp_path / "airflow").glob("sqlmesh_models_hourly.py")).read_text()
    assert "sqlmesh run --select-model shop.order_status --no-auto-upstream" in dag


def test_broken_project_is_a_located_error(tmp_path):
    project = tmp_path / "broken"
    shutil.copytree(SHOP, project, ignore=shutil.ignore_patterns(".cache", "logs"))
    (project / "models" / "top_customers.sql").write_text("MODEL (name shop.top_customers, kind VIEW\n SELECT 1")
    result = orch("check", str(project))
    assert result.returncode == 2
    assert f"{project}: error[E096]: SQLMesh could not load the project" in result.stderr
    assert "Traceback" not in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = orch("check", str(empty))
    assert result.returncode == 2 and "no config.yaml" in result.stderr


def test_seed_command_compiles_a_sqlmesh_project(shop, tmp_path):
    out = tmp_path / "dags"
    result = orch("--project-type", "sqlmesh", "--project-path", str(shop), "--output-dir", str(out),
                  prog="airflow-dag-gen")
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.glob("sqlmesh_*.py")} == {
        "sqlmesh_models_daily.py", "sqlmesh_models_hourly.py", "sqlmesh_models_cron_x_10_x_x_x_x.py"}
