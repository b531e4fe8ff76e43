"""Assets into pipelines: by layer and schedule by default, names stable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orch.compiler import ir
from orch.compiler.driver import BuildOptions, build
from orch.compiler.grouping import infer_layer, schedule_label
from tests.manifest_edit import add_model


@pytest.mark.parametrize(
    ("name", "path", "layer"),
    [
        ("stg_orders", "models/whatever/stg_orders.sql", "staging"),
        ("int_payments", "models/int_payments.sql", "intermediate"),
        ("fct_orders", "models/fct_orders.sql", "marts"),
        ("dim_customers", "models/dim_customers.sql", "marts"),
        ("orders", "models/marts/finance/orders.sql", "marts"),
        ("customers", "models/staging/crm/customers.sql", "staging"),
        ("customers", "models/core/customers.sql", "models"),
    ],
)
def test_layers_follow_prefix_then_folder(name, path, layer):
    assert infer_layer(name, path, ir.AssetKind.MODEL) == layer


@pytest.mark.parametrize(
    ("cron", "tz", "label"),
    [("@daily", "UTC", "daily"), ("@hourly", "UTC", "hourly"), ("*/10 * * * *", "UTC", "cron_x_10_x_x_x_x"),
     ("0 6 * * 1-5", "Europe/Berlin", "cron_0_6_x_x_1_5_europe_berlin")],
)
def test_schedule_labels(cron, tz, label):
    assert schedule_label(ir.Schedule(cron=cron, timezone=tz)) == label


def _names(project):
    return {p.name: set(p.assets) for p in project.pipelines}


def test_default_grouping_on_the_example(example_manifest):
    project, _ = build([str(example_manifest)], BuildOptions())
    pipelines = {p.name: p for p in project.pipelines}
    assert set(pipelines) == {"dbt_staging_daily", "dbt_marts_daily", "dbt_seeds_daily", "dbt_snapshots_daily"}
    marts = pipelines["dbt_marts_daily"]
    assert marts.inputs == (
        "model.jaffle_shop.stg_customers", "model.jaffle_shop.stg_orders", "model.jaffle_shop.stg_payments",
    )
    # The pipeline's SLA is its tightest asset SLA; critical if any asset is.
    assert marts.sla == ir.Sla(complete_within=timedelta(hours=4), critical=True)
    assert "critical" in marts.tags and "marts" in marts.tags
    assert marts.owner == "analytics@example.com"


def test_group_by_variants(small_manifest, write_manifest):
    stg = add_model(small_manifest, "stg_a", folder="models/staging", meta={"schedule": "hourly"})
    add_model(small_manifest, "fct_b", (stg,), folder="models/finance")
    add_model(small_manifest, "fct_c", folder="models/finance", meta={"schedule": "0 6 * * *"})
    small_manifest["nodes"][stg]["tags"] = ["team_growth"]
    path = str(write_manifest(small_manifest))

    def names(group_by):
        project, _ = build([path], BuildOptions(group_by=group_by, select="stg_a fct_b fct_c"))
        return _names(project)

    assert names("layer") == {
        "dbt_staging_hourly": {stg},
        "dbt_marts_daily": {"model.test.fct_b"},
        "dbt_marts_cron_0_6_x_x_x": {"model.test.fct_c"},
    }
    assert names("folder") == {
        "dbt_staging_hourly": {stg},
        "dbt_finance_daily": {"model.test.fct_b"},
        "dbt_finance_cron_0_6_x_x_x": {"model.test.fct_c"},
    }
    assert names("schedule") == {
        "dbt_hourly": {stg}, "dbt_daily": {"model.test.fct_b"}, "dbt_cron_0_6_x_x_x": {"model.test.fct_c"},
    }
    assert names("tag:team_") == {
        "dbt_growth_hourly": {stg},
        "dbt_untagged_daily": {"model.test.fct_b"},
        "dbt_untagged_cron_0_6_x_x_x": {"model.test.fct_c"},
    }
    assert set(names("none")) == {"dbt_hourly", "dbt_daily", "dbt_cron_0_6_x_x_x"}


def test_cross_pipeline_edges_are_kept_as_inputs(small_manifest, write_manifest):
    stg = add_model(small_manifest, "stg_a", meta={"schedule": "hourly"})
    fct = add_model(small_manifest, "fct_b", (stg,))
    project, _ = build([str(write_manifest(small_manifest))], BuildOptions(select="stg_a fct_b"))
    by_name = {p.name: p for p in project.pipelines}
    assert by_name["dbt_marts_daily"].inputs == (stg,)
    assert project.pipeline_of()[stg] == "dbt_staging_hourly"
    assert project.pipeline_of()[fct] == "dbt_marts_daily"
