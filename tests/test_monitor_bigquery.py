"""BigQuery without BigQuery: every query the adapter sends parses with
sqlglot's BigQuery dialect and, translated to DuckDB, gives the right answer
on seeded data; the client path runs against recorded REST responses served
on 127.0.0.1, including an error response."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import socket
import subprocess

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from orch.monitor import checks, queries
from orch.monitor.config import JobsSpec
from tests.conftest import BIN, DATA, orch
from tests.monitor_support import AS_OF, NOW, http_server, write_config

PROJECT = "acme-analytics"
RECORDED = json.loads((DATA / "bigquery" / "recorded.json").read_text())

# -- the SQL ------------------------------------------------------------------


def bind(tree: exp.Expression, params: dict) -> exp.Expression:
    """Parameters replaced by typed literals, as BigQuery binds them."""
    def literal(value):
        if isinstance(value, dt.datetime):
            return exp.cast(exp.Literal.string(value.isoformat()), "timestamptz")
        if isinstance(value, dt.date):
            return exp.cast(exp.Literal.string(value.isoformat()), "date")
        return exp.Literal.number(value)

    def swap(node):
        if isinstance(node, (exp.Parameter, exp.Placeholder)):
            name = node.name or node.this.name if isinstance(node.this, exp.Expression) else node.name
            if name in params:
                return literal(params[name])
        return node

    return tree.transform(swap)


def on_duckdb(select: exp.Expression, con, params=None, table: str | None = None) -> list[tuple]:
    """Render for BigQuery, parse it back as BigQuery, translate to DuckDB and run."""
    sql = select.sql("bigquery")
    tree = sqlglot.parse_one(sql, read="bigquery", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Select) and not list(tree.find_all(exp.Command)), sql
    if table is not None:
        tree = tree.transform(lambda n: exp.table_(table) if isinstance(n, exp.Table) else n)
    return con.execute(bind(tree, params or {}).sql("duckdb")).fetchall()


@pytest.fixture
def seeded():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA analytics")
    con.execute("CREATE TABLE analytics.orders (order_date DATE, updated_at TIMESTAMPTZ)")
    today = NOW.date()
    rows = []
    for days_ago, n in ((0, 9), (1, 4), (2, 7), (5, 3)):
        day = today - dt.timedelta(days=days_ago)
        rows += [(day, NOW - dt.timedelta(days=days_ago, hours=i)) for i in range(n)]
    con.executemany("INSERT INTO analytics.orders VALUES (?, ?)", rows)
    con.execute("CREATE TABLE jobs (job_id VARCHAR, user_email VARCHAR, creation_time TIMESTAMPTZ, "
                "statement_type VARCHAR, parent_job_id VARCHAR, total_bytes_billed BIGINT, "
                "error_result STRUCT(reason VARCHAR, location VARCHAR, message VARCHAR))")
    h = dt.timedelta(hours=1)
    jobs = [
        ("j1", "a@x", NOW - 2 * h, "SELECT", None, 100, None),
        ("script", "a@x", NOW - 3 * h, "SCRIPT", None, 1000, {"reason": "stopped", "location": "", "message": "m"}),
        ("child1", "a@x", NOW - 3 * h, "INSERT", "script", 400, None),
        ("child2", "a@x", NOW - 3 * h, "SELECT", "script", 600, {"reason": "invalidQuery", "location": "q",
                                                                  "message": "bad column"}),
        ("j2", "b@x", NOW - 5 * h, None, None, 50, None),
        ("old", "b@x", NOW - 30 * h, "SELECT", None, 99999, {"reason": "x", "location": "", "message": "old"}),
    ]
    con.executemany("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?)", jobs)
    return con


def test_freshness_and_row_count_sql(seeded):
    newest = on_duckdb(queries.max_value("analytics.orders", "updated_at"), seeded)[0][0]
    assert abs(newest - NOW) < dt.timedelta(seconds=1)
    assert on_duckdb(queries.row_count("analytics.orders"), seeded) == [(23,)]
    today = NOW.date()
    params = {queries.SINCE: today - dt.timedelta(days=3), queries.UNTIL: today}
    per_day = on_duckdb(queries.rows_per_day("analytics.orders", "order_date"), seeded, params)
    assert per_day == [(today - dt.timedelta(days=2), 7), (today - dt.timedelta(days=1), 4)]


def test_jobs_sql_leaves_out_script_parents_and_old_jobs(seeded):
    params = {queries.SINCE: NOW - dt.timedelta(hours=24), queries.UNTIL: NOW}
    table = queries.jobs_table(PROJECT, "us")
    assert table.sql("bigquery") == "`acme-analytics`.`region-us`.`INFORMATION_SCHEMA.JOBS`"
    summary = on_duckdb(queries.jobs_summary(table), seeded, params, table="jobs")
    assert summary == [("a@x", 3, 1, 1100), ("b@x", 1, 0, 50)]
    failed = on_duckdb(queries.failed_jobs(table), seeded, params, table="jobs")
    assert failed == [("child2", "a@x", "invalidQuery", "bad column")]


def test_identifiers_from_config_are_quoted_never_pasted():
    hostile = 'x` WHERE 1=1; DROP TABLE t; --'
    sql = queries.max_value(f"p.d.{hostile}", "ts").sql("bigquery")
    tree = sqlglot.parse_one(sql, read="bigquery")
    assert [t.name for t in tree.find_all(exp.Table)] == [hostile]
    assert isinstance(tree, exp.Select) and not list(tree.find_all(exp.Drop))


# -- the client path ---------------------------------------------------------


def _fill(value, now: dt.datetime):
    if isinstance(value, dict):
        return {k: _fill(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, now) for v in value]
    if isinstance(value, str):
        m = re.fullmatch(r"\{now-(\d+)h:(us|ms)\}", value)
        if m:
            at = now - dt.timedelta(hours=int(m[1]))
            return str(int(at.timestamp() * (1_000_000 if m[2] == "us" else 1000)))
        m = re.fullmatch(r"\{today-(\d+)\}", value)
        if m:
            return (now.date() - dt.timedelta(days=int(m[1]))).isoformat()
    return value


def bigquery_route(now: dt.datetime):
    """The recorded responses, their times relative to `now`: the clock of the
    run that reads them, not of when pytest collected this module."""
    started: set[str] = set()
    by_job = {q["job"]: q for q in RECORDED["queries"] if "job" in q}
    base = f"/bigquery/v2/projects/{PROJECT}"

    def reference(job):
        return {"projectId": PROJECT, "jobId": job, "location": "US"}

    def route(method, path, headers, body):
        path = path.split("?")[0]
        if method == "POST" and path == f"{base}/queries":
            query = json.loads(body)["query"]
            for rec in RECORDED["queries"]:
                if rec["contains"] in query:
                    if rec.get("pending_first") and rec["job"] not in started:
                        started.add(rec["job"])
                        return 200, {"kind": "bigquery#queryResponse", "jobReference": reference(rec["job"]),
                                     "jobComplete": False}
                    return rec.get("status", 200), _fill(rec["response"], now)
            return 400, {"error": {"code": 400, "message": f"no recording for: {query}", "status": "INVALID_ARGUMENT"}}
        m = re.fullmatch(rf"{base}/jobs/(\w+)", path)
        if m and m[1] in by_job:
            return 200, {"kind": "bigquery#job", "id": f"{PROJECT}:US.{m[1]}", "jobReference": reference(m[1]),
                         "status": {"state": "DONE"}, "configuration": {"query": {"query": by_job[m[1]]["contains"]}}}
        m = re.fullmatch(rf"{base}/queries/(\w+)", path)
        if m and m[1] in by_job:
            return 200, {**_fill(by_job[m[1]]["response"], now), "kind": "bigquery#getQueryResultsResponse"}
        m = re.fullmatch(rf"{base}/datasets/(\w+)/tables/(\w+)", path)
        if m and f"{m[1]}/{m[2]}" in RECORDED["tables"]:
            return 200, _fill(RECORDED["tables"][f"{m[1]}/{m[2]}"], now)
        return 404, {"error": {"code": 404, "message": f"Not found: {path}", "status": "NOT_FOUND"}}

    return route


def bigquery_config(threshold: float = 100) -> dict:
    return {
        "project_id": PROJECT, "region": "us",
        "tables": [
            {"table_id": f"{PROJECT}.analytics.fct_orders", "critical": True,
             "freshness": {"timestamp_column": "updated_at", "max_age_hours": 6},
             "row_count": {"min_rows": 1000, "partition_column": "order_date", "lookback_days": 7}},
            {"table_id": f"{PROJECT}.analytics.dim_customers", "freshness": {"max_age_hours": 24}},
            {"table_id": f"{PROJECT}.staging.stg_events", "row_count": {"min_rows": 50000}},
            {"table_id": f"{PROJECT}.analytics.gone", "freshness": {"timestamp_column": "ts", "max_age_hours": 1}},
        ],
        "check_failures": True, "check_costs": True, "cost_threshold_usd": threshold,
    }


def test_health_through_the_bigquery_client(tmp_path):
    config = write_config(tmp_path, bigquery_config())
    now = NOW
    with http_server(bigquery_route(now)) as (url, received):
        proc = orch("health", *AS_OF, "--config", str(config), "--no-alerts", "--output", "results.json",
                    cwd=tmp_path, env={"BIGQUERY_EMULATOR_HOST": url})
    assert proc.returncode == 2, proc.stderr  # the 404 is an error
    results = {r["key"]: r for r in json.loads((tmp_path / "results.json").read_text())["results"]}
    t = f"{PROJECT}.analytics."
    status = {k: r["status"] for k, r in results.items()}
    assert status == {
        f"{t}fct_orders/freshness": "pass",
        f"{t}fct_orders/row_count": "fail",
        f"{t}dim_customers/freshness": "fail",
        f"{PROJECT}.staging.stg_events/row_count": "pass",
        f"{t}gone/freshness": "error",
        "bigquery:region-us/job_failures": "fail",
        "bigquery:region-us/job_costs": "pass",
    }
    assert f"{now.date() - dt.timedelta(days=4)}: 640" in results[f"{t}fct_orders/row_count"]["message"]
    assert "last modified" in results[f"{t}dim_customers/freshness"]["message"]
    assert results[f"{t}dim_customers/freshness"]["observed"] == pytest.approx(30, abs=0.2)
    assert "404" in results[f"{t}gone/freshness"]["message"] and "was not found" in results[f"{t}gone/freshness"]["message"]
    failures = results["bigquery:region-us/job_failures"]["message"]
    assert "2 of 150 jobs failed" in failures and "scheduled_query_5f2a (invalidQuery" in failures
    assert results["bigquery:region-us/job_costs"]["observed"] == pytest.approx(37.5)
    # The queries went through jobs.query with typed, named parameters, and the one
    # that was still running was collected with getQueryResults.
    posts = [r for r in received if r["method"] == "POST"]
    assert len(posts) == 6 and all(r["body"]["useLegacySql"] is False for r in posts)
    assert all(r["body"]["parameterMode"] == "NAMED" for r in posts if r["body"].get("queryParameters"))
    by_day = next(r["body"] for r in posts if "order_date" in r["body"]["query"])
    assert {p["name"]: p["parameterType"]["type"] for p in by_day["queryParameters"]} == {"since": "DATE", "until": "DATE"}
    assert str(now.date()) not in by_day["query"]
    usage = next(r["body"] for r in posts if "COUNTIF" in r["body"]["query"])
    assert {p["parameterType"]["type"] for p in usage["queryParameters"]} == {"TIMESTAMP"}
    assert any(r["method"] == "GET" and "/queries/job_events_count" in r["path"] for r in received)
    assert any(r["method"] == "GET" and r["path"].startswith(
        f"/bigquery/v2/projects/{PROJECT}/datasets/analytics/tables/dim_customers") for r in received)


def test_cost_report_prints_total_cost_for_scripts(tmp_path):
    config = write_config(tmp_path, bigquery_config())
    with http_server(bigquery_route(NOW)) as (url, _):
        proc = orch("health", *AS_OF, "--config", str(config), "--cost-report", "--hours", "24",
                    env={"BIGQUERY_EMULATOR_HOST": url})
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["total_cost_usd"] == pytest.approx(37.5)
        assert (report["jobs"], report["failed_jobs"], report["hours"]) == (150, 2, 24)
        assert [u["user_email"] for u in report["by_user"]] == ["bi@acme.example", "etl@acme.example"]
        if shutil.which("jq"):  # the seed's pipeline: pipeline-health-monitor --cost-report | jq .total_cost_usd
            piped = subprocess.run(f"'{BIN}/pipeline-health-monitor' --as-of {NOW.isoformat()} --config '{config}'"
                                   " --cost-report --hours 24"
                                   " | jq .total_cost_usd", shell=True, capture_output=True, text=True,
                                   env={"BIGQUERY_EMULATOR_HOST": url, "PATH": "/usr/bin:/bin"})
            assert float(piped.stdout) == pytest.approx(37.5)


def test_unreachable_bigquery_is_an_error_quickly(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    doc = bigquery_config()
    doc["warehouse"] = {"engine": "bigquery", "project": PROJECT, "timeout_seconds": 2}
    config = write_config(tmp_path, doc)
    proc = orch("health", *AS_OF, "--config", str(config), "--no-alerts", "--output", "results.json",
                cwd=tmp_path, env={"BIGQUERY_EMULATOR_HOST": f"http://127.0.0.1:{port}"})
    assert proc.returncode == 2, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert {r["status"] for r in results} == {"error"}
    proc = orch("health", *AS_OF, "--config", str(config), "--cost-report",
                env={"BIGQUERY_EMULATOR_HOST": f"http://127.0.0.1:{port}"})
    assert proc.returncode == 2 and "error: cost report" in proc.stderr and "Traceback" not in proc.stderr


def test_job_checks_are_errors_not_passes_when_the_query_fails():
    class Broken:
        engine, dialect = "bigquery", "bigquery"

        def jobs_table(self):
            return queries.jobs_table(PROJECT, "us")

        def query(self, *_):
            from orch.monitor.warehouse import WarehouseError
            raise WarehouseError("BigQuery: 403 Access Denied")

    results = checks.run_job_checks(Broken(), JobsSpec(check_failures=True, check_costs=True, cost_threshold_usd=1),
                                    NOW)
    assert [(r.check, r.status) for r in results] == [("job_failures", "error"), ("job_costs", "error")]
