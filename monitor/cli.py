"""`orch health` (pipeline-health-monitor) and `orch sla` (sla-tracker).

Exit codes, for CI: 0 every check passed (warnings allowed), 1 a check failed,
2 an error: a bad config, an unreachable warehouse, a check that could not
run. An error outranks a failure, as nothing is known of what could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from orch.monitor import alerts, checks, report, runs
from orch.monitor.checks import ERROR, FAIL, Result
from orch.monitor.config import HEALTH, SLA, Config, ConfigError, load
from orch.monitor.history import History, HistoryError
from orch.monitor.warehouse import WarehouseError, open_warehouse

EXIT_OK, EXIT_VIOLATION, EXIT_ERROR = 0, 1, 2
PROGS = {HEALTH: "pipeline-health-monitor", SLA: "sla-tracker"}


def build_parser(kind: str, prog: str | None = None) -> argparse.ArgumentParser:
    what = "table health checks" if kind == HEALTH else "pipeline completion and table freshness SLAs"
    p = argparse.ArgumentParser(
        prog=prog or PROGS[kind],
        description=f"Run the {what} of a {kind}-config.json against the warehouse, keep their history, "
                    "alert on violations and report. Exit 0: all pass; 1: violations; 2: errors.")
    p.add_argument("--config", default=f"{kind}-config.json", help="the config file (default: %(default)s)")
    p.add_argument("--output", metavar="FILE",
                   help="write the results as JSON to FILE (with --report: write the report there)")
    p.add_argument("--report", action="store_true", help="write a report (stdout unless --output)")
    p.add_argument("--format", choices=report.FORMATS, default="markdown", help="report format")
    p.add_argument("--monitor", action="store_true", help="keep running, every --interval seconds")
    p.add_argument("--interval", type=float, default=300.0, metavar="SECONDS")
    p.add_argument("--iterations", type=int, default=0, metavar="N",
                   help="with --monitor: stop after N runs (default: run until stopped)")
    p.add_argument("--history", metavar="PATH", help="the history file (default: the config's history.path)")
    p.add_argument("--no-alerts", action="store_true", help="record and report, but send no alert")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.add_argument("--as-of", type=_as_of, metavar="TIME",
                   help="judge as at this ISO 8601 time (UTC unless it says otherwise) instead of now: to "
                        "replay a run, or to test against data seeded for a known time; not with --monitor")
    if kind == HEALTH:
        p.add_argument("--cost-report", action="store_true",
                       help="print BigQuery job usage and cost as JSON (with total_cost_usd) and exit")
        p.add_argument("--hours", type=int, default=24, help="the --cost-report window (default: %(default)s)")
    else:
        p.add_argument("--run-results", action="append", default=[], metavar="PATH",
                       help="a dbt run_results.json to read pipeline runs from; repeatable")
        p.add_argument("--airflow-url", metavar="URL", help="read DAG runs from this Airflow API server")
    return p


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _as_of(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def exit_code(results: Sequence[Result]) -> int:
    if any(r.status == ERROR for r in results):
        return EXIT_ERROR
    if any(r.status == FAIL for r in results):
        return EXIT_VIOLATION
    return EXIT_OK


def collect(config: Config, args: argparse.Namespace, now: dt.datetime) -> tuple[list[Result], list[Result]]:
    """(results to report and alert on; results to store) of one run."""
    wh = open_warehouse(config.warehouse, config.jobs.region)
    try:
        results = checks.run_checks(wh, config.checks, now)
        results += checks.run_job_checks(wh, config.jobs, now)
    finally:
        wh.close()
    stored = list(results)
    if config.kind == SLA and config.pipelines:
        url = getattr(args, "airflow_url", None) or config.airflow_url
        client = runs.AirflowClient(url, timeout=config.warehouse.timeout_seconds) if url else None
        sources = [*config.run_results, *(os.path.abspath(p) for p in getattr(args, "run_results", []))]
        every, latest = runs.pipeline_results(config.pipelines, sources, client, config.airflow_runs, now)
        results += latest
        stored += every + [r for r in latest if r.pipeline_run is None]
    return results, stored


def run_once(config: Config, args: argparse.Namespace, history: History, now: dt.datetime | None = None) -> int:
    now = now or getattr(args, "as_of", None) or _now()
    results, stored = collect(config, args, now)
    code = exit_code(results)
    changes = alerts.AlertChanges()
    if not args.no_alerts:
        changes = alerts.process(results, config.alerts, history.open_alerts(),
                                 source=f"orch {config.kind} ({os.path.basename(config.path)})")
    history.record(config.kind, os.path.abspath(config.path), now, code, stored, changes.opened, changes.closed)
    doc = report.document(config.kind, config.path, now, results, history.compliance(now), code)
    if args.report:
        _write(args.output, report.render(doc, args.format))
    elif args.output:
        _write(args.output, report.render(doc, "json"))
    if not args.quiet and not (args.report and not args.output):
        _print_summary(config, results, changes, history)
    return code


def _write(path: str | None, text: str) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _print_summary(config: Config, results: Sequence[Result], changes: alerts.AlertChanges,
                   history: History) -> None:
    width = max((len(r.subject) for r in results), default=10)
    for r in results:
        print(f"{r.status.upper():5}  {r.subject:{width}}  {r.check:16}  {r.message}")
    for channel, action, key in changes.sent:
        print(f"alert  {action} {key} via {channel}")
    counts = {s: sum(r.status == s for r in results) for s in checks.STATUSES}
    print(f"orch {config.kind}: {counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed, "
          f"{counts['error']} errored (history: {history.path})")


def monitor_loop(config: Config, args: argparse.Namespace, history: History,
                 after_each: Callable[[int, int], None] | None = None,
                 stop: threading.Event | None = None) -> int:
    """Run every `args.interval` seconds until stopped or `args.iterations` runs are done."""
    stop = stop or threading.Event()
    code, done = EXIT_OK, 0
    while not stop.is_set():
        started = _now()
        try:
            code = run_once(config, args, history)
        except HistoryError as exc:
            print(f"error: {exc}", file=sys.stderr)
            code = EXIT_ERROR
        done += 1
        if after_each is not None:
            after_each(done, code)
        if args.iterations and done >= args.iterations:
            break
        elapsed = (_now() - started).total_seconds()
        stop.wait(max(0.0, args.interval - elapsed))
    return code


def main(kind: str, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(kind, prog)
    args = parser.parse_args(argv)
    if args.as_of is not None and args.monitor:
        parser.error("--as-of judges one run at a fixed time; --monitor runs on the clock")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        config = load(args.config, kind, history=os.path.abspath(args.history) if args.history else None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if kind == HEALTH and args.cost_report:
        return cost_report(config, args.hours, args.as_of)
    if not args.no_alerts and not args.quiet:
        missing = alerts.unconfigured(config.alerts)
        if missing:
            print(f"note: no alerts go to {', '.join(missing)}: their settings are not in the environment "
                  "(see docs/monitors.md)", file=sys.stderr)
    try:
        history = History(config.history_path)
    except HistoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        if not args.monitor:
            return run_once(config, args, history)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        return monitor_loop(config, args, history, stop=stop)
    except HistoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        history.close()


def cost_report(config: Config, hours: int, as_of: dt.datetime | None = None) -> int:
    wh = open_warehouse(config.warehouse, config.jobs.region)
    try:
        usage = checks.job_usage(wh, config.jobs, hours, as_of or _now())
    except WarehouseError as exc:
        print(f"error: cost report: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        wh.close()
    json.dump(usage, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return EXIT_OK


def health_main() -> None:
    sys.exit(main(HEALTH))


def sla_main() -> None:
    sys.exit(main(SLA))
