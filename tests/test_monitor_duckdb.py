"""`orch health` against a real DuckDB file: seeded tables give exactly the
expected results, the reports parse, and faults end in `error` and exit 2."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import orch
from tests.monitor_support import AS_OF, NOW, seed_warehouse, write_config

T = "wh.main."

EXPECTED = {
    # key: (status, a word the message must contain)
    f"{T}fresh_events/freshness": ("pass", "fresh"),
    f"{T}stale_events/freshness": ("fail", "stale"),
    f"{T}ageing_events/freshness": ("warn", "ageing"),
    f"{T}empty_events/freshness": ("fail", "no rows"),
    f"{T}daily_snapshot/freshness": ("pass", "fresh"),
    f"{T}few_rows/row_count": ("fail", "3 rows (min 10)"),
    f"{T}few_rows/enough_rows": ("pass", "3 rows (min 3)"),
    f"{T}events_by_day/row_count": ("fail", "1 of 3 days"),
    f"{T}events_by_day/last_two_days": ("pass", "at least 5 rows"),
    f"{T}few_rows/no_negatives": ("pass", "true"),
    f"{T}few_rows/more_than_100": ("fail", "false"),
    f"{T}few_rows/soft_limit": ("warn", "false"),
    f"{T}missing_table/freshness": ("error", "missing_table"),
    f"{T}fresh_events/wrong_column": ("error", "nope"),
}


def health_config(db: str = "wh.duckdb", **warehouse) -> dict:
    return {
        "warehouse": {"engine": "duckdb", "path": db, **warehouse},
        "tables": [
            {"table_id": f"{T}fresh_events", "freshness": [
                {"timestamp_column": "ts", "max_age_hours": 24},
                {"name": "wrong_column", "timestamp_column": "nope", "max_age_hours": 24}]},
            {"table_id": f"{T}stale_events", "critical": True,
             "freshness": {"timestamp_column": "ts", "max_age_hours": 24}},
            {"table_id": f"{T}ageing_events",
             "freshness": {"timestamp_column": "ts", "max_age_hours": 48, "warn_after_hours": 24}},
            {"table_id": f"{T}empty_events", "freshness": {"timestamp_column": "ts", "max_age_hours": 24}},
            {"table_id": f"{T}daily_snapshot", "freshness": {"timestamp_column": "day", "max_age_hours": 72}},
            {"table_id": f"{T}few_rows",
             "row_count": [{"min_rows": 10}, {"name": "enough_rows", "min_rows": 3}],
             "custom_sql": [
                 {"name": "no_negatives", "sql": f"SELECT count(*) = 0 FROM {T}few_rows WHERE n < 0"},
                 {"name": "more_than_100", "sql": f"SELECT count(*) > 100 FROM {T}few_rows"},
                 {"name": "soft_limit", "sql": f"SELECT count(*) > 100 FROM {T}few_rows", "severity": "warn"}]},
            {"table_id": f"{T}events_by_day", "row_count": [
                {"min_rows": 5, "partition_column": "event_date", "lookback_days": 3},
                {"name": "last_two_days", "min_rows": 5, "partition_column": "event_date", "lookback_days": 2}]},
            {"table_id": f"{T}missing_table", "freshness": {"timestamp_column": "ts", "max_age_hours": 1}},
        ],
    }


@pytest.fixture
def warehouse(tmp_path):
    seed_warehouse(tmp_path / "wh.duckdb")
    return tmp_path


def run_health(folder, *args, config=None):
    path = write_config(folder, config or health_config())
    return orch("health", *AS_OF, "--config", str(path), "--no-alerts", *args, cwd=folder)


def results_of(path) -> dict:
    return {r["key"]: r for r in json.loads(path.read_text())["results"]}


def test_seeded_tables_give_exactly_the_expected_results(warehouse):
    proc = run_health(warehouse, "--output", "results.json")
    assert proc.returncode == 2, proc.stderr  # the missing table is an error, which outranks failures
    results = results_of(warehouse / "results.json")
    assert set(results) == set(EXPECTED)
    for key, (status, word) in EXPECTED.items():
        assert results[key]["status"] == status, (key, results[key])
        assert word in results[key]["message"], (key, results[key])
    assert results[f"{T}stale_events/freshness"]["critical"] is True
    assert 49.9 < results[f"{T}stale_events/freshness"]["observed"] < 50.5
    short = results[f"{T}events_by_day/row_count"]["message"]
    assert short.count(": 0") == 1 and results[f"{T}events_by_day/row_count"]["observed"] == 0
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("hours_ahead", [0, 7, 30])
def test_verdicts_hold_however_far_the_clock_has_moved_past_the_data(warehouse, time_machine, hours_ahead):
    """The monitor's own clock, hours past the time the data was seeded for (a slow
    run, across midnight UTC): judged --as-of that time, every verdict and observed
    value is the one EXPECTED; without --as-of, the clock decides."""
    from orch.monitor import cli as monitor_cli

    time_machine.move_to(NOW + dt.timedelta(hours=hours_ahead), tick=False)
    path = write_config(warehouse, health_config())
    code = monitor_cli.main("health", ["--config", str(path), "--no-alerts", "-q", *AS_OF,
                                       "--output", str(warehouse / "as_of.json")])
    assert code == 2
    judged = results_of(warehouse / "as_of.json")
    assert {k: r["status"] for k, r in judged.items()} == {k: s for k, (s, _) in EXPECTED.items()}
    assert judged[f"{T}stale_events/freshness"]["observed"] == 50.0
    assert all(r["checked_at"].startswith(NOW.date().isoformat()) for r in judged.values())
    monitor_cli.main("health", ["--config", str(path), "--no-alerts", "-q", "--output", str(warehouse / "now.json")])
    on_the_clock = results_of(warehouse / "now.json")
    assert on_the_clock[f"{T}stale_events/freshness"]["observed"] == 50.0 + hours_ahead
    fresh = on_the_clock[f"{T}fresh_events/freshness"]["status"]
    assert fresh == ("pass" if hours_ahead < 23 else "fail")


def test_as_of_takes_an_iso_time_and_only_for_one_run(warehouse):
    for args, message in ((["--as-of", "yesterday"], "not an ISO 8601 time: 'yesterday'"),
                          ([*AS_OF, "--monitor"], "--as-of judges one run at a fixed time")):
        proc = run_health(warehouse, *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_violations_without_errors_exit_1_and_a_clean_run_exits_0(warehouse):
    config = health_config()
    config["tables"] = [t for t in config["tables"] if "missing" not in t["table_id"]]
    config["tables"][0]["freshness"] = config["tables"][0]["freshness"][0]
    assert run_health(warehouse, config=config).returncode == 1
    clean = {"warehouse": config["warehouse"], "tables": [config["tables"][0]]}
    proc = run_health(warehouse, config=clean)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 0 warned, 0 failed, 0 errored" in proc.stdout


def test_report_formats(warehouse):
    reports = {}
    for fmt in ("junit", "markdown", "html", "json"):
        out = warehouse / f"report.{fmt}"
        proc = run_health(warehouse, "--report", "--format", fmt, "--output", str(out))
        assert proc.returncode == 2
        reports[fmt] = out.read_text()
    suite = ET.fromstring(reports["junit"]).find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(EXPECTED) == int(suite.get("tests"))
    failed = {c.get("classname") + "/" + c.get("name") for c in cases if c.find("failure") is not None}
    errored = {c.get("name") for c in cases if c.find("error") is not None}
    want_failed = {k for k, (s, _) in EXPECTED.items() if s == "fail"}
    assert {f.removeprefix("table.") for f in failed} == want_failed
    assert int(suite.get("failures")) == len(want_failed) and len(errored) == int(suite.get("errors")) == 2
    md = reports["markdown"]
    assert "| Status | Subject | Check | Observed | Threshold | Message |" in md
    assert f"| **FAIL** | `{T}stale_events` (critical) | freshness |" in md
    assert "| Subject | Type | 7 days | 30 days | 90 days | Trend |" in md
    assert "<svg" in reports["html"] and "stale_events" in reports["html"]
    assert json.loads(reports["json"])["summary"] == {"pass": 5, "warn": 2, "fail": 5, "error": 2}
    # Report to stdout when no --output is given.
    proc = run_health(warehouse, "--report", "--format", "markdown")
    assert proc.stdout.startswith("# orch health report")


def _history_rows(path) -> tuple[int, int]:
    with sqlite3.connect(path) as con:
        return (con.execute("SELECT count(*) FROM runs").fetchone()[0],
                con.execute("SELECT count(*) FROM results").fetchone()[0])


def test_missing_warehouse_file_is_an_error_and_keeps_history(warehouse):
    assert run_health(warehouse).returncode == 2
    before = _history_rows(warehouse / "orch-history.sqlite")
    config = health_config(db="gone.duckdb")
    proc = run_health(warehouse, "--output", "results.json", config=config)
    assert proc.returncode == 2
    results = results_of(warehouse / "results.json")
    assert {r["status"] for r in results.values()} == {"error"}
    assert all("does not exist" in r["message"] for r in results.values())
    assert not (warehouse / "gone.duckdb").exists()  # read-only: never creates a database
    runs, rows = _history_rows(warehouse / "orch-history.sqlite")
    assert runs == before[0] + 1 and rows == before[1] + len(EXPECTED)


def test_locked_warehouse_file_is_an_error(warehouse):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('locked', flush=True); time.sleep(60)", str(warehouse / "wh.duckdb")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = run_health(warehouse, "--output", "results.json")
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 2
    results = results_of(warehouse / "results.json")
    assert {r["status"] for r in results.values()} == {"error"}
    assert all("locked" in r["message"] for r in results.values()), results
    assert _history_rows(warehouse / "orch-history.sqlite")[1] == len(EXPECTED)


def test_a_query_that_runs_past_the_timeout_is_an_error(warehouse):
    config = {"warehouse": {"engine": "duckdb", "path": "wh.duckdb", "timeout_seconds": 0.5},
              "tables": [{"table_id": f"{T}slow_events", "freshness": {"timestamp_column": "ts", "max_age_hours": 1}},
                         {"table_id": f"{T}fresh_events", "freshness": {"timestamp_column": "ts", "max_age_hours": 24}}]}
    started = time.monotonic()
    proc = run_health(warehouse, "--output", "results.json", config=config)
    assert time.monotonic() - started < 60
    assert proc.returncode == 2
    results = results_of(warehouse / "results.json")
    assert results[f"{T}slow_events/freshness"]["status"] == "error"
    assert "timed out after 0.5s" in results[f"{T}slow_events/freshness"]["message"]
    # The connection survives an interrupted query: the next check still runs.
    assert results[f"{T}fresh_events/freshness"]["status"] == "pass"
