"""The example's loader. `dbt seed` puts the raw tables in place; this stamps
their rows as loaded now, except the payments feed, stamped STALE_HOURS ago: it
has stopped loading, and the monitors are there to catch that. So the example
shows one violation on purpose, and the same one on any date.

    python load_raw.py DUCKDB_FILE
"""

from __future__ import annotations

import datetime as dt
import sys

import duckdb

TABLES = ("raw_customers", "raw_orders", "raw_payments")
STALE_TABLE, STALE_HOURS = "raw_payments", 72


def load(database: str, now: dt.datetime | None = None) -> None:
    # Warehouses keep naive UTC timestamps, as the seeds' _loaded_at column does.
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
    with duckdb.connect(database) as con:
        for table in TABLES:
            at = now - dt.timedelta(hours=STALE_HOURS) if table == STALE_TABLE else now
            con.execute(f"UPDATE raw.{table} SET _loaded_at = ?", [at])


if __name__ == "__main__":
    load(sys.argv[1])
