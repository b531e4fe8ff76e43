"""Export customer lifetime values from the warehouse to a CSV file.

The warehouse is ORCH_EXAMPLE_DUCKDB (the file dbt and SQLMesh build);
the file is written to ORCH_EXPORT_DIR (default: exports/ here).
"""

import csv
import os
import sys

import duckdb

database = os.environ.get("ORCH_EXAMPLE_DUCKDB", "../jaffle_shop/jaffle_shop.duckdb")
out_dir = os.environ.get("ORCH_EXPORT_DIR", "exports")
os.makedirs(out_dir, exist_ok=True)
with duckdb.connect(database, read_only=True) as db:
    rows = db.sql("SELECT customer_id, first_name, lifetime_value FROM shop.customer_ltv ORDER BY 1").fetchall()
path = os.path.join(out_dir, "customer_ltv.csv")
with open(path, "w", newline="") as fh:
    writer = csv.writer(fh)
    writer.writerow(["customer_id", "first_name", "lifetime_value"])
    writer.writerows(rows)
print(f"wrote {len(rows)} rows to {path}", file=sys.stderr)
