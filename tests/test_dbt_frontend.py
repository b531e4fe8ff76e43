"""What the dbt frontend reads from a manifest, on the example project and the corpus."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from compiler import ir
from compiler.diagnostics import Code
from compiler.driver import BuildOptions, build
from compiler.frontends import dbt
from tests.conftest import corpus, load_json
from tests.manifest_edit import add_model


@pytest.fixture(scope="module")
def example(example_manifest):
    project, diagnostics = build([str(example_manifest)], BuildOptions())
    assert not diagnostics, diagnostics
    return project


def test_models_seeds_snapshots_sources_and_exposures(example):
    kinds = {a.key: a.kind for a in example.assets}
    assert kinds["model.jaffle_shop.fct_orders"] is ir.AssetKind.MODEL
    assert kinds["seed.jaffle_shop.raw_orders"] is ir.AssetKind.SEED
    assert kinds["snapshot.jaffle_shop.customers_snapshot"] is ir.AssetKind.SNAPSHOT
    assert kinds["source.jaffle_shop.raw.orders"] is ir.AssetKind.SOURCE
    assert kinds["exposure.jaffle_shop.revenue_dashboard"] is ir.AssetKind.EXPOSURE


def test_ephemeral_models_get_no_task_and_are_looked_through(example):
    keys = {a.key for a in example.assets}
    assert "model.jaffle_shop.int_order_payments" not in keys
    fct = example.asset_map()["model.jaffle_shop.fct_orders"]
    assert fct.upstream == ("model.jaffle_shop.stg_orders", "model.jaffle_shop.stg_payments")


def test_meta_overlay_from_config_meta_and_folder_config(example):
    fct = example.asset_map()["model.jaffle_shop.fct_orders"]
    assert fct.schedule == ir.Schedule(cron="@daily")
    assert fct.sla == ir.Sla(complete_within=timedelta(hours=4), critical=True)
    assert fct.freshness == ir.Freshness(timestamp_column="updated_at", max_age=timedelta(hours=26))
    assert fct.critical is True
    assert fct.owner == "analytics@example.com"  # from the marts folder's +meta
    assert fct.tags == ("orders", "finance")
    assert fct.materialization == "incremental"
    assert fct.unique_key == ("order_id",)
    assert fct.partitioning == ir.Partitioning(
        field="order_date", data_type="date", granularity="day", start=date(2026, 11, 1)
    )
    assert fct.relation.schema == "marts" and fct.relation.name == "fct_orders"
    assert fct.layer == "marts"
    assert fct.origin.unique_id == "model.jaffle_shop.fct_orders"
    assert fct.description.startswith("One row per order")


def test_sources_carry_freshness_and_loaded_at_field(example):
    orders = example.asset_map()["source.jaffle_shop.raw.orders"]
    assert orders.runner is None
    assert orders.relation == ir.Relation(
        database=orders.relation.database, schema="raw", name="raw_orders", engine="duckdb"
    )
    assert orders.freshness == ir.Freshness(
        timestamp_column="_loaded_at", max_age=timedelta(hours=48), warn_age=timedelta(hours=24)
    )


def test_tests_become_checks_on_their_assets(example):
    checks = {c.name: c for c in example.checks}
    rel = checks["relationships_fct_orders_customer_id__customer_id__ref_dim_customers_"]
    assert rel.asset == "model.jaffle_shop.fct_orders"
    assert rel.also == ("model.jaffle_shop.dim_customers",)
    assert rel.blocking is True  # an error-level test of a critical model
    singular = checks["assert_order_amounts_positive"]
    assert singular.asset == "model.jaffle_shop.fct_orders"
    assert dict((p.name, p.value) for p in singular.params)["test"] == "singular"
    source_test = checks["source_unique_raw_customers_id"]
    assert source_test.asset == "source.jaffle_shop.raw.customers"
    not_null = checks["not_null_stg_orders_order_id"]
    assert not not_null.blocking and not_null.severity is ir.Severity.ERROR
    assert dict((p.name, p.value) for p in not_null.params)["column"] == "order_id"


def test_exposures_are_downstream_markers(example):
    exposure = example.asset_map()["exposure.jaffle_shop.revenue_dashboard"]
    assert exposure.runner is None
    assert exposure.upstream == ("model.jaffle_shop.dim_customers", "model.jaffle_shop.fct_orders")
    assert exposure.owner == "finance@example.com"


def test_dbt_runner_defaults_and_overrides(example_manifest):
    project, _ = build([str(example_manifest)], BuildOptions())
    runner = project.asset_map()["model.jaffle_shop.stg_orders"].runner
    assert runner == ir.DbtBuild(
        select="jaffle_shop.staging.stg_orders", project_dir=str(example_manifest.parent.parent)
    )
    project, _ = build(
        [str(example_manifest)],
        BuildOptions(dbt_project_dir="/srv/dbt", profiles_dir="/etc/dbt", dbt_target="prod"),
    )
    runner = project.asset_map()["model.jaffle_shop.stg_orders"].runner
    assert runner == ir.DbtBuild(
        select="jaffle_shop.staging.stg_orders", project_dir="/srv/dbt", profiles_dir="/etc/dbt", target="prod"
    )


def test_default_project_dir_is_target_parent():
    assert dbt.default_project_dir("proj/target/manifest.json") == "proj"
    assert dbt.default_project_dir("manifest.json") == ".."


def test_node_meta_and_config_meta_merge_with_config_winning(small_manifest, write_manifest):
    uid = add_model(small_manifest, "m", meta={"schedule": "hourly"})
    small_manifest["nodes"][uid]["meta"] = {"schedule": "weekly", "owner": "node-level@example.com"}
    project, _ = build([str(write_manifest(small_manifest))], BuildOptions())
    asset = project.asset_map()[uid]
    assert asset.schedule.cron == "@hourly" and asset.owner == "node-level@example.com"


def test_disabled_nodes_are_skipped(small_manifest, write_manifest):
    uid = add_model(small_manifest, "off", config={"enabled": False})
    project, _ = build([str(write_manifest(small_manifest))], BuildOptions())
    assert uid not in project.asset_map()


def test_versioned_models_get_distinct_names():
    project, _ = build([str(corpus("cosmos_manifest_model_version"))], BuildOptions())
    names = {a.name for a in project.assets if a.key.startswith("model.jaffle_shop.customers")}
    assert names == {"customers_v1", "customers_v2"}


def test_bigquery_partition_by_is_read():
    project, _ = build([str(corpus("fivetran_dbt_hubspot_v12_dbt1.11.11"))], BuildOptions())
    asset = project.asset_map()["model.hubspot.hubspot__daily_ticket_history"]
    assert asset.partitioning == ir.Partitioning(field="date_day", data_type="date", granularity="day")


def test_wrong_meta_types_are_reported(small_manifest, write_manifest):
    uid = add_model(small_manifest, "typed", meta={"sla_hours": "four", "owner": 7, "critical": "yes"})
    _, diagnostics = build([str(write_manifest(small_manifest))], BuildOptions())
    found = sorted(d.message for d in diagnostics if d.code is Code.INVALID_META)
    assert found == [
        "meta.critical must be true or false, got 'yes'",
        "meta.owner must be a string, got 7",
        "meta.sla_hours must be a number of hours, got 'four'",
    ]
    assert all(d.span.unique_id == uid for d in diagnostics if d.code is Code.INVALID_META)


def test_windows_paths_are_normalised_for_layers():
    manifest = load_json(corpus("dbterd_shopify"))
    lowered = dbt.lower(manifest, "m.json")
    assert all("\\" not in (a.path or "") for a in lowered.assets)
