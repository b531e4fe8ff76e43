"""Each pass reports its diagnostic, with the asset's location and a reason."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from orch.compiler import ir
from orch.compiler.diagnostics import Code, Level
from orch.compiler.driver import BuildOptions, build
from orch.compiler.passes import PASSES, check_cycles
from tests.manifest_edit import add_model


def _build(write_manifest, manifest, **options):
    path = write_manifest(manifest)
    return build([str(path)], BuildOptions(**options))


def _codes(diagnostics):
    return [d.code for d in diagnostics]


def test_passes_run_in_one_ordered_tuple():
    assert [p.__module__.rsplit(".", 1)[-1] for p in PASSES] == [
        "check_cycles", "check_schedules", "check_slas", "check_partitions",
    ]


# -- check_cycles -------------------------------------------------------------


def test_cycle_is_named_in_order(small_manifest, write_manifest):
    a = add_model(small_manifest, "a", ("model.test.c",))
    add_model(small_manifest, "b", (a,))
    add_model(small_manifest, "c", ("model.test.b",))
    _, diagnostics = _build(write_manifest, small_manifest)
    (cycle,) = [d for d in diagnostics if d.code is Code.CYCLE]
    assert cycle.level is Level.ERROR
    assert "a -> b -> c -> a" in cycle.message
    assert cycle.span.unique_id == "model.test.a"


def test_independent_cycles_are_each_reported():
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}, "e": {"e"}, "f": set()}
    cycles = check_cycles.find_cycles(graph)
    assert sorted(cycles) == [["a", "b", "a"], ["c", "d", "c"], ["e", "e"]]


def test_acyclic_graph_has_no_cycles(small_manifest, write_manifest):
    a = add_model(small_manifest, "a")
    add_model(small_manifest, "b", (a,))
    _, diagnostics = _build(write_manifest, small_manifest)
    assert Code.CYCLE not in _codes(diagnostics)


# -- check_schedules ----------------------------------------------------------


@pytest.mark.parametrize("cron", ["61 * * * *", "every day", "0 0 * * * *", "@fortnightly"])
def test_invalid_cron_is_an_error_at_the_model(cron, small_manifest, write_manifest):
    add_model(small_manifest, "bad_cron", meta={"schedule": cron})
    _, diagnostics = _build(write_manifest, small_manifest)
    (d,) = [d for d in diagnostics if d.code is Code.INVALID_CRON]
    assert d.span.unique_id == "model.test.bad_cron"
    assert repr(cron) in d.message


def test_unknown_timezone_is_an_error(small_manifest, write_manifest):
    add_model(small_manifest, "tz", meta={"schedule": "hourly", "timezone": "Mars/Olympus"})
    _, diagnostics = _build(write_manifest, small_manifest)
    assert any(d.code is Code.INVALID_CRON and "Mars/Olympus" in d.message for d in diagnostics)


@pytest.mark.parametrize("alias", ["daily", "hourly", "weekly", "@daily", "0 6 * * 1-5", "*/10 * * * *"])
def test_aliases_and_crons_are_accepted(alias, small_manifest, write_manifest):
    add_model(small_manifest, "ok", meta={"schedule": alias})
    _, diagnostics = _build(write_manifest, small_manifest)
    assert Code.INVALID_CRON not in _codes(diagnostics)


def test_task_faster_than_its_upstream_is_warned(small_manifest, write_manifest):
    up = add_model(small_manifest, "stg_daily", meta={"schedule": "daily"})
    add_model(small_manifest, "fct_hourly", (up,), meta={"schedule": "hourly"})
    project, diagnostics = _build(write_manifest, small_manifest)
    (d,) = [d for d in diagnostics if d.code is Code.UPSTREAM_SLOWER]
    assert d.level is Level.WARNING
    assert "fct_hourly" in d.message and "stg_daily" in d.message
    assert d.span.unique_id == "model.test.fct_hourly"


def test_slower_downstream_is_fine(small_manifest, write_manifest):
    up = add_model(small_manifest, "stg_hourly", meta={"schedule": "hourly"})
    add_model(small_manifest, "fct_daily", (up,), meta={"schedule": "daily"})
    _, diagnostics = _build(write_manifest, small_manifest)
    assert Code.UPSTREAM_SLOWER not in _codes(diagnostics)


# -- check_slas ---------------------------------------------------------------


def test_daily_schedule_cannot_meet_one_hour_freshness(small_manifest, write_manifest):
    """The seed's own example: schedule daily, freshness_hours 1."""
    add_model(small_manifest, "fct_orders", meta={"schedule": "daily", "freshness_hours": 1})
    _, diagnostics = _build(write_manifest, small_manifest)
    (d,) = [d for d in diagnostics if d.code is Code.INFEASIBLE_FRESHNESS]
    assert d.level is Level.ERROR
    assert d.span.unique_id == "model.test.fct_orders"
    assert "1h" in d.message and "24h" in d.message and "@daily" in d.message


def test_weekday_schedule_counts_the_weekend_gap(small_manifest, write_manifest):
    add_model(small_manifest, "weekday", meta={"schedule": "0 9 * * 1-5", "freshness_hours": 30})
    _, diagnostics = _build(write_manifest, small_manifest)
    (d,) = [d for d in diagnostics if d.code is Code.INFEASIBLE_FRESHNESS]
    assert "3d" in d.message


def test_feasible_freshness_passes(small_manifest, write_manifest):
    add_model(small_manifest, "fresh", meta={"schedule": "hourly", "freshness_hours": 2})
    _, diagnostics = _build(write_manifest, small_manifest)
    assert not [d for d in diagnostics if d.is_error]


@pytest.mark.parametrize("key", ["sla_hours", "freshness_hours"])
@pytest.mark.parametrize("value", [0, -3])
def test_non_positive_durations_are_errors(key, value, small_manifest, write_manifest):
    add_model(small_manifest, "neg", meta={key: value})
    _, diagnostics = _build(write_manifest, small_manifest)
    (d,) = [d for d in diagnostics if d.code is Code.NON_POSITIVE_DURATION]
    assert d.span.unique_id == "model.test.neg"
    assert "must be positive" in d.message


def test_sla_shorter_than_recorded_critical_path(small_manifest, write_manifest, tmp_path):
    a = add_model(small_manifest, "stg_a")
    b = add_model(small_manifest, "int_b", (a,))
    c = add_model(small_manifest, "side", (a,), folder="models/staging")
    add_model(small_manifest, "fct_c", (b, c), meta={"sla_hours": 1})
    run_results = tmp_path / "run_results.json"
    run_results.write_text(json.dumps({"results": [
        {"unique_id": a, "execution_time": 1500.0, "status": "success"},
        {"unique_id": b, "execution_time": 2000.0, "status": "success"},
        {"unique_id": c, "execution_time": 10.0, "status": "success"},
        {"unique_id": "model.test.fct_c", "execution_time": 300.0, "status": "success"},
    ]}))
    # Grouped as one pipeline so the whole chain counts against the SLA.
    _, diagnostics = _build(write_manifest, small_manifest, group_by="none", run_results=str(run_results))
    (d,) = [d for d in diagnostics if d.code is Code.SLA_BELOW_CRITICAL_PATH]
    assert d.span.unique_id == "model.test.fct_c"
    assert "stg_a (1500s) -> int_b (2000s) -> fct_c (300s)" in d.message
    assert "63.3 min" in d.message


def test_sla_longer_than_critical_path_passes(small_manifest, write_manifest, tmp_path):
    a = add_model(small_manifest, "stg_a")
    add_model(small_manifest, "fct_c", (a,), meta={"sla_hours": 1})
    run_results = tmp_path / "run_results.json"
    run_results.write_text(json.dumps({"results": [
        {"unique_id": a, "execution_time": 60.0}, {"unique_id": "model.test.fct_c", "execution_time": 60.0},
    ]}))
    _, diagnostics = _build(write_manifest, small_manifest, group_by="none", run_results=str(run_results))
    assert Code.SLA_BELOW_CRITICAL_PATH not in _codes(diagnostics)


# -- check_partitions ---------------------------------------------------------


def _partitioned(small_manifest, spec, columns=("order_date", "id")):
    add_model(small_manifest, "fct_p", config={"partition_by": spec}, columns=columns)


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"field": "order_date", "data_type": "date", "granularity": "hour"}, Code.INVALID_PARTITION),
        ({"field": "order_date", "data_type": "date", "granularity": "fortnight"}, Code.INVALID_PARTITION),
        ({"field": "order_date", "data_type": "string"}, Code.INVALID_PARTITION),
        ({"field": "order_dt", "data_type": "date"}, Code.UNKNOWN_PARTITION_FIELD),
    ],
)
def test_bad_partitions(spec, code, small_manifest, write_manifest):
    _partitioned(small_manifest, spec)
    _, diagnostics = _build(write_manifest, small_manifest)
    (d,) = [d for d in diagnostics if d.code is code]
    assert d.span.unique_id == "model.test.fct_p"
    if code is Code.UNKNOWN_PARTITION_FIELD:
        assert "did you mean 'order_date'" in d.message


@pytest.mark.parametrize(
    "spec",
    [
        {"field": "order_date", "data_type": "date", "granularity": "month"},
        {"field": "order_date", "data_type": "timestamp", "granularity": "hour"},
        {"field": "id", "data_type": "int64", "range": {"start": 0, "end": 100, "interval": 10}},
    ],
)
def test_good_partitions(spec, small_manifest, write_manifest):
    _partitioned(small_manifest, spec)
    project, diagnostics = _build(write_manifest, small_manifest)
    assert not [d for d in diagnostics if d.code in (Code.INVALID_PARTITION, Code.UNKNOWN_PARTITION_FIELD)]
    assert project.asset_map()["model.test.fct_p"].partitioning.field == spec["field"]


def test_undocumented_columns_skip_the_field_check(small_manifest, write_manifest):
    _partitioned(small_manifest, {"field": "anything", "data_type": "date"}, columns=())
    _, diagnostics = _build(write_manifest, small_manifest)
    assert Code.UNKNOWN_PARTITION_FIELD not in _codes(diagnostics)


def test_passes_leave_a_clean_project_alone(small_manifest, write_manifest):
    add_model(small_manifest, "stg_x", meta={"schedule": "hourly", "sla_hours": 2})
    project, diagnostics = _build(write_manifest, small_manifest)
    assert not [d for d in diagnostics if d.is_error]
    asset = project.asset_map()["model.test.stg_x"]
    assert asset.sla == ir.Sla(complete_within=timedelta(hours=2))
    assert asset.schedule == ir.Schedule(cron="@hourly")
