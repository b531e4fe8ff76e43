"""SQL that writes a query's result into its table, per dialect.

Identifiers are quoted by sqlglot for the target dialect; the only SQL taken
as written is the model's own compiled query, placed as a subquery. Backends
share these statements so Airflow and Dagster write tables the same way.
"""

from __future__ import annotations

import functools
import re

from sqlglot import exp

from orch.compiler import ir
from orch.compiler.shared import checksql

#: The query parameter naming the partition a run rebuilds (the backend fills it in).
PARTITION_PARAMETER = "orch_partition"

_TRUNC = {"date": ("DATE_TRUNC", "DATE"), "timestamp": ("TIMESTAMP_TRUNC", "TIMESTAMP"),
          "datetime": ("DATETIME_TRUNC", "DATETIME")}


def ident(name: str, dialect: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(_dialect(dialect))


def table(relation: ir.Relation, dialect: str) -> str:
    return exp.table_(relation.name, db=relation.schema, catalog=relation.database, quoted=True).sql(
        _dialect(dialect)
    )


def _dialect(dialect: str) -> str:
    return "" if dialect == "ansi" else dialect


@functools.cache
def _generator(dialect: str):
    # A sqlglot Generator parses its own templates when made: one per dialect, not per query.
    from sqlglot.dialects.dialect import Dialect

    return Dialect.get_or_raise(_dialect(dialect) or None).generator()


def render(expression: exp.Expression, dialect: str) -> str:
    return _generator(dialect).generate(expression, copy=False)


def bigquery_partition_filter(part: ir.Partitioning) -> str:
    """The rows of the partition named by the `@orch_partition` query parameter."""
    column = ident(part.field, "bigquery")
    trunc, cast = _TRUNC.get(part.data_type, _TRUNC["date"])
    if part.data_type == "date" and part.granularity == "day":
        return f"{column} = DATE(@{PARTITION_PARAMETER})"
    return f"{trunc}({column}, {(part.granularity or 'day').upper()}) = {cast}(@{PARTITION_PARAMETER})"


def only_partition(sql: str, part: ir.Partitioning) -> str:
    return f"SELECT * FROM (\n{sql}\n) WHERE {bigquery_partition_filter(part)}"


def create_view(query: ir.SqlQuery) -> str:
    return f"CREATE OR REPLACE VIEW {table(query.destination, query.dialect)} AS\n{query.sql}"


def bigquery_partition_by(part: ir.Partitioning) -> str:
    column = ident(part.field, "bigquery")
    if part.data_type == "date" and part.granularity == "day":
        return f"PARTITION BY {column}"
    trunc, _ = _TRUNC.get(part.data_type, _TRUNC["date"])
    return f"PARTITION BY {trunc}({column}, {(part.granularity or 'day').upper()})"


def create_empty(query: ir.SqlQuery, part: ir.Partitioning | None = None) -> str:
    """Create the destination with the query's columns and no rows, unless it exists."""
    partition = ""
    if query.dialect == "bigquery" and part is not None and part.data_type in _TRUNC:
        partition = f"\n{bigquery_partition_by(part)}"
    return (
        f"CREATE TABLE IF NOT EXISTS {table(query.destination, query.dialect)}{partition} AS\n"
        f"SELECT * FROM (\n{query.sql}\n) AS S LIMIT 0"
    )


def merge(query: ir.SqlQuery, columns: tuple[str, ...], part: ir.Partitioning | None = None) -> list[str]:
    """Upsert the query's rows on `unique_key`: MERGE on BigQuery, delete + insert elsewhere.

    The first statement creates the table on the first run, as dbt's
    incremental materialization would.
    """
    d = query.dialect
    target = table(query.destination, d)
    keys = [ident(k, d) for k in query.unique_key]
    if d == "bigquery":
        on = " AND ".join(f"T.{k} = S.{k}" for k in keys)
        others = [ident(c, d) for c in columns if c not in query.unique_key]
        update = ", ".join(f"{c} = S.{c}" for c in others)
        matched = f"\nWHEN MATCHED THEN UPDATE SET {update}" if update else ""
        return [
            create_empty(query, part),
            f"MERGE {target} AS T\nUSING (\n{query.sql}\n) AS S\nON {on}{matched}\n"
            "WHEN NOT MATCHED THEN INSERT ROW",
        ]
    key_list = ", ".join(keys)
    return [
        create_empty(query),
        f"DELETE FROM {target} WHERE ({key_list}) IN (SELECT {key_list} FROM (\n{query.sql}\n) AS S)",
        f"INSERT INTO {target}\n{query.sql}",
    ]


def create_schema(relation: ir.Relation, dialect: str) -> list[str]:
    parts = [ident(p, dialect) for p in (relation.database, relation.schema) if p]
    return [f"CREATE SCHEMA IF NOT EXISTS {'.'.join(parts)}"] if relation.schema else []


def write_statements(query: ir.SqlQuery, columns: tuple[str, ...] = ()) -> list[str]:
    """Statements that write the query's result to its destination on a generic SQL engine."""
    if query.destination is None:
        return [query.sql]
    target = table(query.destination, query.dialect)
    setup = create_schema(query.destination, query.dialect)
    if query.write_mode == "view":
        return [*setup, create_view(query)]
    if query.write_mode == "append":
        return [*setup, create_empty(query), f"INSERT INTO {target}\n{query.sql}"]
    if query.write_mode == "merge":
        return [*setup, *merge(query, columns)]
    return [*setup, f"CREATE OR REPLACE TABLE {target} AS\n{query.sql}"]


# -- health checks ------------------------------------------------------------
# Each check is one query returning one row; every value in it must be true
# (the contract of Airflow's SQLCheckOperator and BigQueryCheckOperator).


def _table_expr(relation: ir.Relation) -> exp.Table:
    return exp.table_(relation.name, db=relation.schema, catalog=relation.database, quoted=True)


@functools.cache
def _freshness_template(dialect: str) -> tuple[re.Pattern, str, tuple[str, str, str]]:
    """The freshness query rendered once with stand-ins for its table, column and
    age; the stand-ins as the dialect writes them, and a pattern finding them."""
    table, column = exp.table_("__orch_table__", quoted=True), exp.column("__orch_column__", quoted=True)
    seconds = 987654321
    sql = render(checksql.freshness_verdict(table.copy(), column.name, seconds), dialect)
    stand_ins = (render(table, dialect), render(column, dialect), str(seconds))
    assert all(sql.count(s) == 1 for s in stand_ins), sql
    return re.compile("|".join(re.escape(s) for s in stand_ins)), sql, stand_ins


def freshness_check(relation: ir.Relation, column: str, max_age_seconds: int, dialect: str) -> str:
    """True when the newest `column` value is at most `max_age_seconds` old
    (compiler/shared/checksql.py, as `orch health` judges it).

    One per asset with a freshness target, thousands in a big project: sqlglot
    builds the query once per dialect and each asset's names (quoted by
    sqlglot) and age fill it in one pass, so no name is ever read as SQL.
    """
    pattern, template, (table_in, column_in, seconds_in) = _freshness_template(dialect)
    fill = {table_in: render(_table_expr(relation), dialect), column_in: render(exp.column(column, quoted=True),
                                                                                 dialect),
            seconds_in: str(int(max_age_seconds))}
    return pattern.sub(lambda m: fill[m.group(0)], template)


def row_count_check(relation: ir.Relation, min_rows: int, dialect: str, partition_column: str | None = None,
                    lookback_days: int | None = None) -> str:
    """True when the table, or each whole day of the lookback, has at least `min_rows`
    rows: what `orch health` judges (compiler/shared/checksql.py)."""
    return render(checksql.row_count_verdict(_table_expr(relation), min_rows, partition_column, lookback_days),
                  dialect)


HEALTH_CHECK_KINDS = (ir.CheckKind.FRESHNESS, ir.CheckKind.ROW_COUNT, ir.CheckKind.CUSTOM_SQL)


def health_queries(asset: ir.Asset, checks: tuple[ir.Check, ...], dialect: str
                   ) -> list[tuple[ir.Check | None, str, bool]]:
    """The SQL health checks of one asset, given the checks attached to it: (its IR
    check, or None for the asset's own freshness target; the query; whether it
    blocks the asset's dependents)."""
    if asset.relation is None:
        return []
    out: list[tuple[ir.Check | None, str, bool]] = []
    fresh = asset.freshness
    if fresh is not None and fresh.timestamp_column and fresh.max_age:
        out.append((None, freshness_check(asset.relation, fresh.timestamp_column,
                                          int(fresh.max_age.total_seconds()), dialect), asset.critical))
    for check in checks:
        params = check.params
        if isinstance(params, ir.FreshnessParams):
            sql = freshness_check(asset.relation, params.column, params.max_age_seconds, dialect)
        elif isinstance(params, ir.RowCountParams):
            sql = row_count_check(asset.relation, params.min_rows, dialect, params.partition_column,
                                  params.lookback_days)
        elif isinstance(params, ir.CustomSqlParams):
            sql = params.sql
        else:  # dbt tests and SQLMesh audits run with their runner
            continue
        out.append((check, sql, check.blocking))
    return out
