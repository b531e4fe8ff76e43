"""`orch sla`: completion SLAs from dbt's run_results.json and from Airflow's
REST API v2, history that never counts a run twice, compliance over 7/30/90
days with its trend, and a history store that survives concurrent writers."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from orch.monitor.checks import Result
from orch.monitor.history import History
from tests.conftest import orch
from tests.monitor_support import AS_OF, NOW, http_server, seed_warehouse, write_config

H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)


def iso(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_results(path, invocation: str, nodes: list[tuple[str, str, dt.datetime, dt.timedelta]]):
    """A dbt 1.11 run_results.json: (unique_id, status, started, duration) per node."""
    results = []
    for uid, status, started, took in nodes:
        results.append({
            "status": status, "thread_id": "Thread-1", "execution_time": took.total_seconds(),
            "timing": [{"name": "compile", "started_at": iso(started), "completed_at": iso(started)},
                       {"name": "execute", "started_at": iso(started), "completed_at": iso(started + took)}],
            "adapter_response": {}, "message": "OK", "failures": None, "unique_id": uid, "compiled": True,
            "compiled_code": "select 1", "relation_name": None, "batch_results": None})
    end = max(s + t for _, _, s, t in nodes)
    path.write_text(json.dumps({
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                     "dbt_version": "1.11.16", "generated_at": iso(end), "invocation_id": invocation,
                     "invocation_started_at": iso(min(s for _, _, s, _ in nodes)), "env": {}},
        "results": results, "elapsed_time": (end - min(s for _, _, s, _ in nodes)).total_seconds(),
        "args": {"which": "build"}}))
    return path


def sla_doc(**extra) -> dict:
    return {"warehouse": {"engine": "duckdb", "path": "wh.duckdb"},
            "pipelines": [
                {"name": "marts", "critical": True, "completion_time_sla": {"target_duration_minutes": 30},
                 "assets": ["model.shop.fct_orders", "model.shop.dim_customers"]},
                {"name": "staging", "completion_time_sla": {"target_duration_minutes": 10},
                 "assets": ["model.shop.stg_orders"]}],
            "tables": [{"table_id": "wh.main.fresh_events",
                        "freshness_sla": {"timestamp_column": "ts", "max_age_hours": 24}}],
            **extra}


def results_of(path) -> dict:
    return {(r["key"]): r for r in json.loads(path.read_text())["results"]}


def test_pipeline_runs_from_dbt_run_results(tmp_path):
    seed_warehouse(tmp_path / "wh.duckdb")
    config = write_config(tmp_path, sla_doc(), "sla-config.json")
    start = NOW - 3 * H
    on_time = run_results(tmp_path / "run1.json", "inv-1", [
        ("model.shop.stg_orders", "success", start, 4 * M),
        ("model.shop.fct_orders", "success", start + 5 * M, 12 * M),
        ("model.shop.dim_customers", "success", start + 5 * M, 20 * M)])
    proc = orch("sla", *AS_OF, "--config", str(config), "--run-results", str(on_time), "--output", "out.json",
                "--no-alerts", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = results_of(tmp_path / "out.json")
    assert out["pipeline:marts/completion_time"]["status"] == "pass"
    assert out["pipeline:marts/completion_time"]["observed"] == 20.0  # from the first start to the last end
    assert out["pipeline:staging/completion_time"]["observed"] == 4.0
    late = run_results(tmp_path / "run2.json", "inv-2", [
        ("model.shop.stg_orders", "success", NOW - H, 12 * M),
        ("model.shop.fct_orders", "error", NOW - H + 13 * M, 2 * M)])
    proc = orch("sla", *AS_OF, "--config", str(config), "--run-results", str(on_time), "--run-results", str(late),
                "--output", "out.json", "--no-alerts", cwd=tmp_path)
    assert proc.returncode == 1
    out = results_of(tmp_path / "out.json")
    assert out["pipeline:staging/completion_time"]["status"] == "fail"
    assert "took 12.0 min (target 10 min)" in out["pipeline:staging/completion_time"]["message"]
    assert out["pipeline:marts/completion_time"]["status"] == "fail"
    assert "failed" in out["pipeline:marts/completion_time"]["message"]
    # Reading run 1 again did not count it twice.
    with sqlite3.connect(tmp_path / "orch-history.sqlite") as con:
        runs = con.execute("SELECT key, pipeline_run, status FROM results WHERE pipeline_run IS NOT NULL "
                           "ORDER BY key, checked_at").fetchall()
    assert runs == [("pipeline:marts/completion_time", "dbt:inv-1", "pass"),
                    ("pipeline:marts/completion_time", "dbt:inv-2", "fail"),
                    ("pipeline:staging/completion_time", "dbt:inv-1", "pass"),
                    ("pipeline:staging/completion_time", "dbt:inv-2", "fail")]


def test_a_pipeline_without_runs_is_an_error_not_a_pass(tmp_path):
    seed_warehouse(tmp_path / "wh.duckdb")
    config = write_config(tmp_path, sla_doc(), "sla-config.json")
    proc = orch("sla", *AS_OF, "--config", str(config), "--output", "out.json", "--no-alerts", cwd=tmp_path)
    assert proc.returncode == 2
    out = results_of(tmp_path / "out.json")
    assert out["pipeline:marts/completion_time"]["status"] == "error"
    assert "no run source" in out["pipeline:marts/completion_time"]["message"]
    assert out["wh.main.fresh_events/freshness_sla"]["status"] == "pass"


def airflow_route(runs_by_dag: dict, token: str = "jwt-abc"):
    def route(method, path, headers, body):
        if method == "POST" and path == "/auth/token":
            creds = json.loads(body)
            if creds == {"username": "monitor", "password": "pw"}:
                return 201, {"access_token": token, "token_type": "bearer"}
            return 401, {"detail": "Invalid credentials"}
        if headers.get("Authorization") != f"Bearer {token}":
            return 401, {"detail": "Not authenticated"}
        prefix = "/api/v2/dags/"
        if method == "GET" and path.startswith(prefix) and "/dagRuns?" in path:
            dag_id = path[len(prefix):path.index("/dagRuns")]
            if dag_id not in runs_by_dag:
                return 404, {"detail": f"The DAG with dag_id: `{dag_id}` was not found"}
            runs = runs_by_dag[dag_id]
            return 200, {"dag_runs": runs, "total_entries": len(runs)}
        return 404, {"detail": "Not Found"}

    return route


def dag_run(run_id: str, state: str, start: dt.datetime | None, end: dt.datetime | None) -> dict:
    """A DAGRunResponse of Airflow 3's REST API v2."""
    fmt = lambda t: t.isoformat().replace("+00:00", "Z") if t else None
    return {"dag_run_id": run_id, "dag_id": "marts", "logical_date": fmt(start), "queued_at": fmt(start),
            "start_date": fmt(start), "end_date": fmt(end), "run_after": fmt(start),
            "data_interval_start": fmt(start), "data_interval_end": fmt(start), "last_scheduling_decision": None,
            "run_type": "scheduled", "state": state, "triggered_by": "timetable", "conf": {}, "note": None,
            "dag_versions": [], "bundle_version": None, "dag_display_name": "marts"}


def test_pipeline_runs_from_the_airflow_api(tmp_path):
    seed_warehouse(tmp_path / "wh.duckdb")
    # Running runs are judged at NOW (--as-of), however late a slow machine gets here.
    runs = {
        "marts": [dag_run("scheduled__4", "running", NOW - 50 * M, None),      # over its 30 min: a violation
                  dag_run("scheduled__3", "failed", NOW - 1 * dt.timedelta(days=1), NOW - dt.timedelta(days=1) + 5 * M),
                  dag_run("scheduled__2", "success", NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=2) + 45 * M),
                  dag_run("scheduled__1", "success", NOW - dt.timedelta(days=3), NOW - dt.timedelta(days=3) + 20 * M),
                  dag_run("manual__0", "queued", None, None)],
        "staging_dag": [dag_run("scheduled__9", "running", NOW - 2 * M, None),  # still within target: not judged
                        dag_run("scheduled__8", "success", NOW - H, NOW - H + 3 * M)],
    }
    doc = sla_doc()
    doc["pipelines"][1]["dag_id"] = "staging_dag"
    with http_server(airflow_route(runs)) as (url, received):
        doc["airflow"] = {"url": url}
        config = write_config(tmp_path, doc, "sla-config.json")
        env = {"ORCH_AIRFLOW_USERNAME": "monitor", "ORCH_AIRFLOW_PASSWORD": "pw"}
        proc = orch("sla", *AS_OF, "--config", str(config), "--output", "out.json", "--no-alerts", cwd=tmp_path, env=env)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        again = orch("sla", *AS_OF, "--config", str(config), "--no-alerts", "-q", cwd=tmp_path, env=env)
        assert again.returncode == 1
        bad = orch("sla", *AS_OF, "--config", str(config), "--no-alerts", "--output", "bad.json", cwd=tmp_path,
                   env={"ORCH_AIRFLOW_USERNAME": "monitor", "ORCH_AIRFLOW_PASSWORD": "wrong"})
    out = results_of(tmp_path / "out.json")
    marts = out["pipeline:marts/completion_time"]
    assert marts["status"] == "fail" and re.search(r"scheduled__4 .* still running after \d+\.\d min \(target 30 min\)",
                                                   marts["message"]), marts["message"]
    assert out["pipeline:staging/completion_time"]["status"] == "pass"
    assert received[0]["path"] == "/auth/token"
    assert "order_by=-start_date" in received[1]["path"]
    with sqlite3.connect(tmp_path / "orch-history.sqlite") as con:
        stored = dict(con.execute("SELECT pipeline_run, status FROM results WHERE pipeline_run IS NOT NULL"))
    assert stored == {"airflow:marts:scheduled__4": "fail", "airflow:marts:scheduled__3": "fail",
                      "airflow:marts:scheduled__2": "fail", "airflow:marts:scheduled__1": "pass",
                      "airflow:staging_dag:scheduled__8": "pass"}
    assert bad.returncode == 2
    assert "HTTP 401" in results_of(tmp_path / "bad.json")["pipeline:marts/completion_time"]["message"]


def _result(key: str, subject: str, status: str, at: dt.datetime, kind="table") -> Result:
    return Result(key=key, subject=subject, subject_type=kind, kind="freshness", check="freshness",
                  status=status, message=status, checked_at=at)


def test_compliance_over_7_30_90_days_and_the_trend(tmp_path):
    history = History(str(tmp_path / "h.sqlite"))
    key, subject = "wh.main.t/freshness", "wh.main.t"
    days = dt.timedelta(days=1)
    plan = ([("pass", NOW - k * 15 * H) for k in range(9)] + [("fail", NOW - 2 * days)]     # 9/10 this week
            + [("fail" if i % 2 else "pass", NOW - (8 + i) * days) for i in range(4)]         # 2/4 the week before
            + [("fail", NOW - 20 * days)] * 6                                                 # 30 days: 11/20
            + [("pass", NOW - 60 * days)] * 5)                                                # 90 days: 16/25
    for status, at in plan:
        history.record("sla", "cfg", at, 0, [_result(key, subject, status, at)])
    comp = history.compliance(NOW)
    history.close()
    [entry] = comp["subjects"]
    assert entry["windows"]["7"]["compliance_pct"] == 90.0
    assert entry["windows"]["30"]["compliance_pct"] == 55.0
    assert entry["windows"]["90"]["compliance_pct"] == 64.0
    assert entry["trend"] == "improving"
    assert len(comp["trend"]["days"]) == 30 and comp["trend"]["compliance_pct"][-1] == 100.0


def test_sla_report_formats_show_compliance_and_trend(tmp_path):
    seed_warehouse(tmp_path / "wh.duckdb")
    doc = sla_doc()
    doc["pipelines"] = []
    config = write_config(tmp_path, doc, "sla-config.json")
    history = History(str(tmp_path / "orch-history.sqlite"))
    for i in range(1, 15):
        at = NOW - dt.timedelta(days=i)
        history.record("sla", "cfg", at, 0,
                       [_result("wh.main.fresh_events/freshness_sla", "wh.main.fresh_events",
                                "fail" if i in (3, 10) else "pass", at)])
    history.close()
    # The reports run one after another, each a minute after the one before.
    for minute, fmt in enumerate(("html", "markdown", "junit", "json"), 1):
        later = (NOW + dt.timedelta(minutes=minute)).isoformat()
        proc = orch("sla", "--as-of", later, "--config", str(config), "--report", "--format", fmt,
                    "--output", f"r.{fmt}", "--no-alerts", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "r.html").read_text()
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    ET.fromstring(svg)  # well-formed
    assert svg.count("<circle") == 15  # 14 days of history and today
    assert "<polyline" in svg
    from orch.compiler.shared import look

    assert look.STYLE in page  # one look with `orch graph`
    md = (tmp_path / "r.markdown").read_text()
    # Every report run checks first: by the markdown run, 14 days of history and two runs today, 14 of 16 pass.
    assert "| `wh.main.fresh_events` | table | 87.5% | 87.5% | 87.5% | steady |" in md
    suite = ET.parse(tmp_path / "r.junit").getroot().find("testsuite")
    assert suite.get("tests") == "1" and suite.get("failures") == "0"
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["compliance"]["overall"]["7"]["results"] == 6 + 4  # days 1-6, and the four runs today


def _writer(path: str, n: int, tag: str) -> None:
    history = History(path, timeout=60)
    for i in range(n):
        results = [_result(f"{tag}/{j}", tag, "pass", NOW) for j in range(5)]
        history.record("health", tag, NOW, 0, results)
    history.close()


def test_concurrent_monitor_runs_do_not_corrupt_history(tmp_path):
    path = str(tmp_path / "h.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 30, f"w{i}")) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (90,)
        assert con.execute("SELECT count(*) FROM results").fetchone() == (450,)


KILLED_WRITER = """
import sys, datetime as dt
from orch.monitor.history import History
from orch.monitor.checks import Result
now = dt.datetime.now(dt.timezone.utc)
h = History(sys.argv[1])
print("ready", flush=True)
while True:
    h.record("health", "cfg", now, 0, [Result(key=f"k{i}", subject="s", subject_type="table", kind="freshness",
                                               check="c", status="pass", message="m" * 2000, checked_at=now)
                                        for i in range(50)])
"""


def test_a_kill_during_a_write_leaves_only_whole_runs(tmp_path):
    path = tmp_path / "h.sqlite"
    for delay in (0.05, 0.2, 0.4):
        proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE,
                                text=True, cwd=os.getcwd())
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        assert runs > 0
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 50 * runs
    # And it is still usable.
    history = History(str(path))
    history.record("health", "cfg", NOW, 0, [])
    history.close()


@pytest.mark.parametrize("content", [b"not a database at all" * 100, b""])
def test_an_unusable_history_file_is_exit_2(tmp_path, content):
    seed_warehouse(tmp_path / "wh.duckdb")
    doc = sla_doc()
    doc["pipelines"] = []
    config = write_config(tmp_path, doc, "sla-config.json")
    if content:
        (tmp_path / "orch-history.sqlite").write_bytes(content)
    else:
        (tmp_path / "orch-history.sqlite").mkdir()
    proc = orch("sla", *AS_OF, "--config", str(config), "--no-alerts", cwd=tmp_path)
    assert proc.returncode == 2 and "history" in proc.stderr and "Traceback" not in proc.stderr
