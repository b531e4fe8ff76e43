"""Pipeline runs for completion-time SLAs: from dbt's run_results.json and from
Airflow's REST API v2. Each finished (or overdue) run becomes one Result,
stored in history under its run id, so re-reading a run never counts twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence

import attrs

from orch.monitor.checks import ERROR, FAIL, PASS, Result, utc
from orch.monitor.config import PipelineSpec


class RunSourceError(Exception):
    pass


@attrs.frozen(kw_only=True)
class PipelineRun:
    pipeline: str
    source: str  # dbt | airflow
    run_id: str
    state: str  # success | failed | running
    started_at: dt.datetime
    ended_at: dt.datetime | None = None


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return utc(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))


_DBT_FAILED = {"error", "fail", "runtime error"}


def dbt_runs(path: str, pipelines: Sequence[PipelineSpec]) -> list[PipelineRun]:
    """One run per pipeline whose nodes appear in the run_results file; a
    pipeline without `assets` takes the whole invocation."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        meta = doc.get("metadata") or {}
        invocation = meta["invocation_id"]
        results = doc["results"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise RunSourceError(f"{path}: not a readable dbt run_results.json ({type(exc).__name__}: {exc})") from None
    finished = _parse_time(meta.get("generated_at"))
    runs = []
    for pipeline in pipelines:
        wanted = set(pipeline.assets)
        nodes = [r for r in results if not wanted or r.get("unique_id") in wanted]
        if not nodes:
            continue
        starts, ends = [], []
        for node in nodes:
            for timing in node.get("timing") or []:
                if timing.get("started_at"):
                    starts.append(_parse_time(timing["started_at"]))
                if timing.get("completed_at"):
                    ends.append(_parse_time(timing["completed_at"]))
        if not starts:
            if finished is None:
                continue
            elapsed = float(doc.get("elapsed_time") or sum(float(n.get("execution_time") or 0) for n in nodes))
            starts, ends = [finished - dt.timedelta(seconds=elapsed)], [finished]
        failed = any(str(n.get("status")).lower() in _DBT_FAILED for n in nodes)
        runs.append(PipelineRun(pipeline=pipeline.name, source="dbt", run_id=f"dbt:{invocation}",
                                state="failed" if failed else "success", started_at=min(starts),
                                ended_at=max(ends) if ends else finished))
    return runs


class AirflowClient:
    """Airflow 3's REST API v2. Credentials come from the environment only:
    ORCH_AIRFLOW_TOKEN, or ORCH_AIRFLOW_USERNAME and ORCH_AIRFLOW_PASSWORD
    exchanged for a token at /auth/token."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token = os.environ.get("ORCH_AIRFLOW_TOKEN")

    def _request(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace")
            raise RunSourceError(f"Airflow API {method} {path}: HTTP {exc.code} {detail}") from None
        except (OSError, ValueError) as exc:
            raise RunSourceError(f"Airflow API {method} {path}: {exc}") from None

    def login(self) -> None:
        user, password = os.environ.get("ORCH_AIRFLOW_USERNAME"), os.environ.get("ORCH_AIRFLOW_PASSWORD")
        if self._token or not user:
            return
        answer = self._request("POST", "/auth/token", {"username": user, "password": password or ""}, auth=False)
        self._token = answer.get("access_token")

    def dag_runs(self, dag_id: str, limit: int) -> list[dict]:
        self.login()
        query = urllib.parse.urlencode({"order_by": "-start_date", "limit": limit})
        return self._request("GET", f"/api/v2/dags/{urllib.parse.quote(dag_id, safe='')}/dagRuns?{query}")[
            "dag_runs"]


_AIRFLOW_STATE = {"success": "success", "failed": "failed", "running": "running", "queued": "running"}


def airflow_runs(client: AirflowClient, pipeline: PipelineSpec, limit: int) -> list[PipelineRun]:
    runs = []
    for run in client.dag_runs(pipeline.dag_id, limit):
        started = _parse_time(run.get("start_date"))
        if started is None:  # queued, not started: nothing to time yet
            continue
        runs.append(PipelineRun(pipeline=pipeline.name, source="airflow",
                                run_id=f"airflow:{pipeline.dag_id}:{run['dag_run_id']}",
                                state=_AIRFLOW_STATE.get(run.get("state"), "running"),
                                started_at=started, ended_at=_parse_time(run.get("end_date"))))
    return runs


def evaluate(pipeline: PipelineSpec, run: PipelineRun, now: dt.datetime) -> Result | None:
    """A run's SLA result; None for a run still within its target."""
    target = dt.timedelta(minutes=pipeline.target_minutes)
    end = run.ended_at or now
    minutes = round((end - run.started_at).total_seconds() / 60, 1)
    where = f"{run.source} run {run.run_id.split(':', 1)[1]} started {run.started_at.isoformat(timespec='seconds')}"
    if run.state == "running":
        if end - run.started_at <= target:
            return None
        status, message = FAIL, f"{where} is still running after {minutes} min (target {pipeline.target_minutes:g} min)"
    elif run.state == "failed":
        status, message = FAIL, f"{where} failed after {minutes} min, so it did not complete"
    elif end - run.started_at > target:
        status, message = FAIL, f"{where} took {minutes} min (target {pipeline.target_minutes:g} min)"
    else:
        status, message = PASS, f"{where} took {minutes} min (target {pipeline.target_minutes:g} min)"
    return Result(key=pipeline.key, subject=pipeline.name, subject_type="pipeline", kind="completion_time",
                  check="completion_time", status=status, message=message, checked_at=run.started_at,
                  observed=minutes, threshold=pipeline.target_minutes, critical=pipeline.critical,
                  owner=pipeline.owner, pipeline_run=run.run_id)


def pipeline_results(pipelines: Sequence[PipelineSpec], run_results: Iterable[str], airflow: AirflowClient | None,
                     airflow_limit: int, now: dt.datetime) -> tuple[list[Result], list[Result]]:
    """(every run's result, to store; the latest per pipeline, to report and alert on)."""
    run_results = list(run_results)
    every: list[Result] = []
    latest: list[Result] = []
    dbt: list[PipelineRun] = []
    dbt_errors = []
    for path in run_results:
        try:
            dbt.extend(dbt_runs(path, pipelines))
        except RunSourceError as exc:
            dbt_errors.append(str(exc))
    for pipeline in pipelines:
        runs = [r for r in dbt if r.pipeline == pipeline.name]
        problems = list(dbt_errors)
        if airflow is not None:
            try:
                runs.extend(airflow_runs(airflow, pipeline, airflow_limit))
            except RunSourceError as exc:
                problems.append(str(exc))
        results = [r for r in (evaluate(pipeline, run, now) for run in runs) if r is not None]
        every.extend(results)
        if problems or not results:
            if problems:
                message = "; ".join(problems)
            elif not run_results and airflow is None:
                message = "no run source: set `airflow.url` or `dbt_run_results` in the config, or pass --run-results"
            else:
                message = "no finished run found in " + ", ".join(
                    (["Airflow"] if airflow else []) + [os.path.basename(p) for p in run_results])
            latest.append(Result(key=pipeline.key, subject=pipeline.name, subject_type="pipeline",
                                 kind="completion_time", check="completion_time", status=ERROR, message=message,
                                 checked_at=now, threshold=pipeline.target_minutes, critical=pipeline.critical,
                                 owner=pipeline.owner))
        else:
            newest = max(results, key=lambda r: r.checked_at)
            latest.append(attrs.evolve(newest, checked_at=now))
    return every, latest
