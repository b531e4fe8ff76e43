"""Running the checks of a config against a warehouse: every check ends in a
Result with status pass, warn, fail or error; a check that could not run is
`error`, never `pass`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import attrs

from orch.compiler.shared import checksql
from orch.monitor import queries
from orch.monitor.config import CheckSpec, JobsSpec
from orch.monitor.warehouse import Warehouse, WarehouseError

PASS, WARN, FAIL, ERROR = "pass", "warn", "fail", "error"
STATUSES = (PASS, WARN, FAIL, ERROR)
TIB = 2**40


@attrs.frozen(kw_only=True)
class Result:
    key: str
    subject: str
    subject_type: str  # table | pipeline | warehouse
    kind: str
    check: str
    status: str
    message: str
    checked_at: dt.datetime
    observed: Any = None
    threshold: Any = None
    critical: bool = False
    owner: str | None = None
    #: For completion SLAs: the pipeline run the result is about (one result per run in history).
    pipeline_run: str | None = None

    def to_json(self) -> dict:
        out = attrs.asdict(self)
        out["checked_at"] = self.checked_at.isoformat()
        return out


def utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _as_datetime(value: Any) -> dt.datetime | None:
    """A warehouse value as an aware UTC datetime: naive timestamps are UTC, a
    date is its midnight."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        return utc(dt.datetime.fromisoformat(value))
    raise TypeError(f"{type(value).__name__} is not a date or timestamp")


def _hours(delta: dt.timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def _result(spec: CheckSpec, now: dt.datetime, status: str, message: str, observed=None, threshold=None) -> Result:
    if status == FAIL and spec.severity == "warn":
        status = WARN
    return Result(key=spec.key, subject=spec.subject, subject_type="table", kind=spec.kind, check=spec.name,
                  status=status, message=message, checked_at=now, observed=observed, threshold=threshold,
                  critical=spec.critical, owner=spec.owner)


def run_check(wh: Warehouse, spec: CheckSpec, now: dt.datetime) -> Result:
    try:
        if spec.kind == "freshness":
            return _freshness(wh, spec, now)
        if spec.kind == "row_count":
            return _row_count(wh, spec, now)
        return _custom_sql(wh, spec, now)
    except WarehouseError as exc:
        return _result(spec, now, ERROR, str(exc))
    except (TypeError, ValueError) as exc:
        return _result(spec, now, ERROR, f"unexpected value from the warehouse: {exc}")


def _freshness(wh: Warehouse, spec: CheckSpec, now: dt.datetime) -> Result:
    p = spec.params
    column = p["timestamp_column"]
    if column:
        rows = wh.query(queries.max_value(spec.subject, column))
        newest = _as_datetime(rows[0][0]) if rows else None
        what = f"newest {column}"
    else:
        newest = _as_datetime(wh.table_modified(spec.subject))
        what = "last modified"
    max_age = p["max_age_hours"]
    if newest is None:
        return _result(spec, now, FAIL, f"no rows: {spec.subject} is empty", None, max_age)
    age = now - newest
    hours = _hours(age)
    stamp = newest.isoformat(timespec="seconds")
    if age > dt.timedelta(hours=max_age):
        return _result(spec, now, FAIL, f"stale: {what} is {stamp}, {hours}h old (max {max_age:g}h)", hours, max_age)
    warn_after = p.get("warn_after_hours")
    if warn_after is not None and age > dt.timedelta(hours=warn_after):
        return _result(spec, now, WARN, f"ageing: {what} is {stamp}, {hours}h old (warn after {warn_after:g}h, "
                                        f"max {max_age:g}h)", hours, max_age)
    return _result(spec, now, PASS, f"fresh: {what} is {stamp}, {hours}h old (max {max_age:g}h)", hours, max_age)


def _row_count(wh: Warehouse, spec: CheckSpec, now: dt.datetime) -> Result:
    p = spec.params
    minimum = p["min_rows"]
    column = p.get("partition_column")
    if not column:
        rows = wh.query(queries.row_count(spec.subject))
        count = int(rows[0][0])
        status = PASS if count >= minimum else FAIL
        return _result(spec, now, status, f"{count} rows (min {minimum})", count, minimum)
    # Whole days only: today's partition is still being loaded.
    until = now.date()
    since = until - dt.timedelta(days=int(p.get("lookback_days") or checksql.DEFAULT_LOOKBACK_DAYS))
    rows = wh.query(queries.rows_per_day(spec.subject, column), {queries.SINCE: since, queries.UNTIL: until})
    counts = {(_as_datetime(day) or now).date(): int(n) for day, n in rows}
    days = [since + dt.timedelta(days=i) for i in range((until - since).days)]
    short = [(day, counts.get(day, 0)) for day in days if counts.get(day, 0) < minimum]
    observed = min((counts.get(day, 0) for day in days), default=0)
    if short:
        listed = ", ".join(f"{day}: {n}" for day, n in short[:7]) + (" ..." if len(short) > 7 else "")
        return _result(spec, now, FAIL, f"{len(short)} of {len(days)} days of {column} have fewer than "
                                        f"{minimum} rows ({listed})", observed, minimum)
    return _result(spec, now, PASS, f"every day of {column} from {since} to {days[-1]} has at least "
                                    f"{minimum} rows (fewest {observed})", observed, minimum)


def _custom_sql(wh: Warehouse, spec: CheckSpec, now: dt.datetime) -> Result:
    # The contract of Airflow's SQLCheckOperator, so a check means the same in a DAG and here.
    row = wh.first_row(spec.params["sql"])
    if row is None:
        return _result(spec, now, FAIL, "the query returned no rows")
    falsy = [i for i, value in enumerate(row) if not value]
    if falsy:
        return _result(spec, now, FAIL, f"value(s) {falsy} of the first row are false: {list(row)!r}"[:500])
    return _result(spec, now, PASS, "every value of the first row is true")


def run_checks(wh: Warehouse, specs: Iterable[CheckSpec], now: dt.datetime) -> list[Result]:
    return [run_check(wh, spec, now) for spec in specs]


# -- BigQuery jobs ----------------------------------------------------------------


def job_usage(wh: Warehouse, jobs: JobsSpec, hours: int, now: dt.datetime) -> dict:
    """Jobs, failures and cost over the last `hours`, per user and in total: the
    `--cost-report` document (its `total_cost_usd` is what scripts read)."""
    since = now - dt.timedelta(hours=hours)
    table = wh.jobs_table()
    params = {queries.SINCE: since, queries.UNTIL: now}
    users = []
    for user, count, failed, billed in wh.query(queries.jobs_summary(table), params):
        billed = int(billed or 0)
        users.append({"user_email": user, "jobs": int(count), "failed_jobs": int(failed),
                      "bytes_billed": billed, "cost_usd": round(billed / TIB * jobs.price_per_tib_usd, 6)})
    total_bytes = sum(u["bytes_billed"] for u in users)
    return {
        "engine": wh.engine,
        "jobs_table": table.sql(wh.dialect),
        "since": since.isoformat(timespec="seconds"),
        "until": now.isoformat(timespec="seconds"),
        "hours": hours,
        "jobs": sum(u["jobs"] for u in users),
        "failed_jobs": sum(u["failed_jobs"] for u in users),
        "total_bytes_billed": total_bytes,
        "price_per_tib_usd": jobs.price_per_tib_usd,
        "total_cost_usd": round(total_bytes / TIB * jobs.price_per_tib_usd, 6),
        "cost_threshold_usd": jobs.cost_threshold_usd,
        "by_user": users,
    }


def run_job_checks(wh: Warehouse, jobs: JobsSpec, now: dt.datetime) -> list[Result]:
    if not (jobs.check_failures or jobs.check_costs):
        return []
    subject = f"bigquery:region-{jobs.region}"

    def result(name: str, status: str, message: str, observed=None, threshold=None, critical=False) -> Result:
        return Result(key=f"{subject}/{name}", subject=subject, subject_type="warehouse", kind=name, check=name,
                      status=status, message=message, checked_at=now, observed=observed, threshold=threshold,
                      critical=critical)

    out = []
    try:
        usage = job_usage(wh, jobs, jobs.lookback_hours, now)
        failed_rows = []
        if jobs.check_failures and usage["failed_jobs"]:
            params = {queries.SINCE: now - dt.timedelta(hours=jobs.lookback_hours), queries.UNTIL: now}
            failed_rows = wh.query(queries.failed_jobs(wh.jobs_table()), params)
    except WarehouseError as exc:
        names = [n for n, on in (("job_failures", jobs.check_failures), ("job_costs", jobs.check_costs)) if on]
        return [result(name, ERROR, str(exc)) for name in names]
    window = f"in the last {jobs.lookback_hours}h"
    if jobs.check_failures:
        n = usage["failed_jobs"]
        if n:
            listed = "; ".join(f"{job} ({reason}: {message})" for job, _user, reason, message in failed_rows[:5])
            out.append(result("job_failures", FAIL, f"{n} of {usage['jobs']} jobs failed {window}: {listed}", n, 0))
        else:
            out.append(result("job_failures", PASS, f"none of {usage['jobs']} jobs failed {window}", 0, 0))
    if jobs.check_costs:
        cost, limit = usage["total_cost_usd"], jobs.cost_threshold_usd
        status = FAIL if cost > limit else PASS
        out.append(result("job_costs", status, f"${cost:.2f} billed {window} "
                                               f"({usage['total_bytes_billed']} bytes; threshold ${limit:.2f})",
                          cost, limit))
    return out
