"""The monitors' history: every result, and which alerts are open, in SQLite.

Each monitor run writes in one IMMEDIATE transaction, so a run killed mid-write
leaves no partial run behind, and concurrent runs queue on the lock (WAL, a
busy timeout) instead of corrupting the file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence

from orch.monitor.checks import ERROR, FAIL, PASS, WARN, Result

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    config TEXT NOT NULL,
    started_at TEXT NOT NULL,
    exit_code INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    subject TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    check_name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pass', 'warn', 'fail', 'error')),
    message TEXT NOT NULL,
    observed TEXT,
    threshold TEXT,
    critical INTEGER NOT NULL,
    checked_at TEXT NOT NULL,
    pipeline_run TEXT
);
CREATE INDEX IF NOT EXISTS results_by_time ON results (checked_at);
CREATE UNIQUE INDEX IF NOT EXISTS results_by_pipeline_run ON results (key, pipeline_run)
    WHERE pipeline_run IS NOT NULL;
CREATE TABLE IF NOT EXISTS alerts (
    key TEXT PRIMARY KEY,
    opened_at TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    channels TEXT NOT NULL
);
"""


class HistoryError(Exception):
    pass


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class History:
    def __init__(self, path: str, timeout: float = 60.0):
        self.path = path
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HistoryError(f"history {path} was written by a newer orch (schema {version})")
            if version < SCHEMA_VERSION:
                # One script, one transaction: executescript commits whatever came before it.
                self.conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;")
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot use the history file {path}: {exc}") from None
        except OSError as exc:
            raise HistoryError(f"cannot create the history file {path}: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    # -- writing ------------------------------------------------------------------

    def record(self, command: str, config: str, started_at: dt.datetime, exit_code: int,
               results: Iterable[Result], alerts_opened: Sequence[tuple[str, str, str]] = (),
               alerts_closed: Sequence[str] = ()) -> int:
        """One monitor run, its results and its alert changes, all or nothing."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                run_id = conn.execute(
                    "INSERT INTO runs (command, config, started_at, exit_code) VALUES (?, ?, ?, ?)",
                    (command, config, _ts(started_at), exit_code)).lastrowid
                for r in results:
                    conn.execute(
                        "INSERT INTO results (run_id, key, subject, subject_type, kind, check_name, status, "
                        "message, observed, threshold, critical, checked_at, pipeline_run) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (key, pipeline_run) WHERE pipeline_run IS NOT NULL DO UPDATE SET "
                        "status = excluded.status, message = excluded.message, observed = excluded.observed",
                        (run_id, r.key, r.subject, r.subject_type, r.kind, r.check, r.status, r.message,
                         json.dumps(r.observed), json.dumps(r.threshold), int(r.critical), _ts(r.checked_at),
                         r.pipeline_run))
                for key, message, channels in alerts_opened:
                    conn.execute("INSERT OR REPLACE INTO alerts (key, opened_at, status, message, channels) "
                                 "VALUES (?, ?, 'open', ?, ?)", (key, _ts(started_at), message, channels))
                for key in alerts_closed:
                    conn.execute("DELETE FROM alerts WHERE key = ?", (key,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot write the history file {self.path}: {exc}") from None
        return run_id

    # -- reading ------------------------------------------------------------------

    def open_alerts(self) -> dict[str, tuple[str, str]]:
        """key -> (message, comma-separated channels) of every alert not yet resolved."""
        rows = self.conn.execute("SELECT key, message, channels FROM alerts").fetchall()
        return {key: (message, channels) for key, message, channels in rows}

    def run_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def results_since(self, since: dt.datetime) -> list[tuple]:
        return self.conn.execute(
            "SELECT key, subject, subject_type, check_name, status, critical, checked_at FROM results "
            "WHERE checked_at >= ? ORDER BY checked_at", (_ts(since),)).fetchall()

    def compliance(self, now: dt.datetime, windows: Sequence[int] = (7, 30, 90), trend_days: int = 30) -> dict:
        """Compliance per subject over each window (passes and warnings over all
        results; an `error` counts against it, as nothing was shown to hold), and
        the daily compliance over the last `trend_days` for the trend chart."""
        longest = max(max(windows), trend_days)
        rows = self.results_since(now - dt.timedelta(days=longest))
        subjects: dict[tuple[str, str], dict] = {}
        for key, subject, subject_type, check, status, critical, checked_at in rows:
            at = dt.datetime.strptime(checked_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
            entry = subjects.setdefault((subject_type, subject), {
                "subject": subject, "subject_type": subject_type, "critical": False, "checks": set(),
                "events": []})
            entry["critical"] = entry["critical"] or bool(critical)
            entry["checks"].add(check)
            entry["events"].append((at, status))
        today = now.date()
        days = [today - dt.timedelta(days=i) for i in range(trend_days - 1, -1, -1)]

        def pct(events) -> dict:
            counts = {s: 0 for s in (PASS, WARN, FAIL, ERROR)}
            for _, status in events:
                counts[status] += 1
            total = sum(counts.values())
            good = counts[PASS] + counts[WARN]
            return {"results": total, **counts, "compliance_pct": round(100 * good / total, 1) if total else None}

        out = []
        all_events = []
        for (_, _), entry in sorted(subjects.items()):
            events = entry.pop("events")
            all_events.extend(events)
            entry["checks"] = sorted(entry["checks"])
            entry["windows"] = {str(w): pct([e for e in events if e[0] >= now - dt.timedelta(days=w)])
                                for w in windows}
            entry["trend"] = _direction(events, now)
            entry["daily"] = [pct([e for e in events if e[0].date() == day])["compliance_pct"] for day in days]
            out.append(entry)
        return {
            "windows": list(windows),
            "subjects": out,
            "overall": {str(w): pct([e for e in all_events if e[0] >= now - dt.timedelta(days=w)])
                        for w in windows},
            "trend": {"days": [d.isoformat() for d in days],
                      "compliance_pct": [pct([e for e in all_events if e[0].date() == day])["compliance_pct"]
                                         for day in days],
                      "direction": _direction(all_events, now)},
        }


def _direction(events: list[tuple[dt.datetime, str]], now: dt.datetime) -> str:
    """improving / declining / steady: the last 7 days against the 7 before."""
    def rate(lo: int, hi: int) -> float | None:
        window = [s for at, s in events if now - dt.timedelta(days=hi) <= at < now - dt.timedelta(days=lo)]
        return sum(s in (PASS, WARN) for s in window) / len(window) if window else None

    recent, before = rate(0, 7), rate(7, 14)
    if recent is None or before is None:
        return "new" if recent is not None else "no data"
    if recent - before > 0.02:
        return "improving"
    if before - recent > 0.02:
        return "declining"
    return "steady"
