"""Helpers of the monitor tests: real local servers and seeded warehouses."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

# The time the seeded data is relative to, and the monitors judge at (--as-of): a
# fixed one, so no verdict depends on when or how long the suite runs. Minutes
# before a midnight UTC (the night Europe's clocks go forward), where day
# boundaries are the easiest to get wrong.
NOW = dt.datetime(2026, 3, 29, 23, 47, 12, tzinfo=dt.UTC)
AS_OF = ("--as-of", NOW.isoformat())


@contextmanager
def http_server(route: Callable[[str, str, dict, bytes], tuple[int, object]]):
    """A real HTTP server on 127.0.0.1; `route(method, path, headers, body)` answers
    (status, JSON document). Yields (base URL, the requests it received)."""
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                             "body": json.loads(body) if body else None})
            status, doc = route(self.command, self.path, dict(self.headers), body)
            out = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


def write_config(folder: Path, doc: dict, name: str = "health-config.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def naive(ago: dt.timedelta) -> dt.datetime:
    """`ago` before NOW as a naive UTC timestamp, the way warehouses store them."""
    return (NOW - ago).replace(tzinfo=None)


def seed_warehouse(path: Path) -> None:
    """Tables whose checks have known answers: fresh, stale, ageing, empty, too
    few rows, partitioned with a missing day, and a view too slow to finish."""
    import duckdb

    h = dt.timedelta(hours=1)
    today = NOW.date()
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE fresh_events (id INTEGER, ts TIMESTAMP)")
    con.executemany("INSERT INTO fresh_events VALUES (?, ?)", [(1, naive(5 * h)), (2, naive(1 * h))])
    con.execute("CREATE TABLE stale_events (id INTEGER, ts TIMESTAMP)")
    con.executemany("INSERT INTO stale_events VALUES (?, ?)", [(1, naive(60 * h)), (2, naive(50 * h))])
    con.execute("CREATE TABLE ageing_events (id INTEGER, ts TIMESTAMP)")
    con.execute("INSERT INTO ageing_events VALUES (1, ?)", [naive(30 * h)])
    con.execute("CREATE TABLE empty_events (id INTEGER, ts TIMESTAMP)")
    con.execute("CREATE TABLE daily_snapshot (day DATE, n INTEGER)")
    con.execute("INSERT INTO daily_snapshot VALUES (?, 1)", [today - dt.timedelta(days=1)])
    con.execute("CREATE TABLE few_rows AS SELECT range AS n FROM range(3)")
    con.execute("CREATE TABLE events_by_day (event_date DATE, id INTEGER)")
    rows = [(today, 0)]  # today's partition is still loading: never counted
    for days_ago, count in ((1, 5), (2, 6), (4, 5)):  # 3 days ago is missing
        rows += [(today - dt.timedelta(days=days_ago), i) for i in range(count)]
    con.executemany("INSERT INTO events_by_day VALUES (?, ?)", rows)
    con.execute("CREATE VIEW slow_events AS SELECT to_timestamp(max(a.range + b.range)::DOUBLE) AS ts "
                "FROM range(100000000) a, range(100000000) b")
    con.close()
