"""What the dbt frontend reads from a manifest, on the example project and the corpus."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from orch.compiler import ir
from orch.compiler.diagnostics import Code
from orch.compiler.driver import BuildOptions, build
from orch.compiler.frontends import dbt
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
    assert singular.params.test == "singular"
    source_test = checks["source_unique_raw_customers_id"]
    assert source_test.asset == "source.jaffle_shop.raw.customers"
    not_null = checks["not_null_stg_orders_order_id"]
    assert not not_null.blocking and not_null.severity is ir.Severity.ERROR
    assert not_null.params == ir.DbtTestParams(test="not_null", column="order_id",
                                               dbt_select="jaffle_shop.staging.not_null_stg_orders_order_id")


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


def test_a_dependency_on_a_disabled_model_is_left_out_with_a_warning():
    """dbt-metabase's fixture, made by `dbt parse`: an exposure depends on a model
    that is disabled, whose tests dbt disabled with it. dbt accepts it; so does orch."""
    project, diagnostics = build([str(corpus("dbt-metabase_manifest-v11-disabled"))], BuildOptions())
    assert not [d for d in diagnostics if d.is_error], diagnostics
    warned = {(d.span.unique_id, d.message) for d in diagnostics if d.code is Code.DISABLED_DEPENDENCY}
    assert warned == {
        ("exposure.sandbox.orders",
         "exposure.sandbox.orders depends on model.sandbox.orders, which is disabled: that dependency is left out"),
        ("model.sandbox.orders",
         "model.sandbox.orders is disabled: its 10 tests (accepted_values_orders_status__placed__shipped__completed"
         "__return_pending__returned, not_null_orders_amount, not_null_orders_bank_transfer_amount and 7 more) "
         "are left out"),
    }
    assets = project.asset_map()
    assert "model.sandbox.orders" not in assets
    assert assets["exposure.sandbox.orders"].upstream == ()
    assert not [c for c in project.checks if "orders_order_id" in c.key and "stg_" not in c.key]


def test_an_enabled_test_of_a_disabled_model_is_left_out(example_manifest, write_manifest):
    """A test still enabled that reads a disabled model (a relationships test to it)
    is left out whole, not run against its other model alone."""
    manifest = json.loads(example_manifest.read_text(encoding="utf-8"))
    dim = "model.jaffle_shop.dim_customers"
    manifest["disabled"] = {dim: [dict(manifest["nodes"].pop(dim), config={"enabled": False})]}
    for uid in [u for u, n in manifest["nodes"].items() if n.get("attached_node") == dim]:
        del manifest["nodes"][uid]  # dbt disables a model's own tests with it
    project, diagnostics = build([str(write_manifest(manifest))], BuildOptions())
    assert not [d for d in diagnostics if d.is_error], diagnostics
    relationships = next(u for u in manifest["nodes"] if u.startswith("test.jaffle_shop.relationships_fct_orders"))
    assert relationships not in {c.key for c in project.checks}
    assert "model.jaffle_shop.fct_orders" in {c.asset for c in project.checks}  # its own tests stay
    messages = [(d.span.unique_id, d.message) for d in diagnostics if d.code is Code.DISABLED_DEPENDENCY]
    assert (dim, f"{dim} is disabled: its 1 test (relationships_fct_orders_customer_id__customer_id__ref_dim_"
                 "customers_) is left out") in messages, messages
    # The exposure that read it keeps its other model, and says what it lost.
    assert project.asset_map()["exposure.jaffle_shop.revenue_dashboard"].upstream == ("model.jaffle_shop.fct_orders",)
    assert ("exposure.jaffle_shop.revenue_dashboard", "exposure.jaffle_shop.revenue_dashboard depends on "
            f"{dim}, which is disabled: that dependency is left out") in messages


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
