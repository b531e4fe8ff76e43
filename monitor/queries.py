"""The monitors' queries, built as sqlglot trees and rendered per dialect.

Names from a config (tables, columns) become quoted identifiers; values
(dates, hours) are bound parameters. Nothing from a config is pasted into
SQL text, except a `custom_sql` check, which is the user's own query.
"""

from __future__ import annotations

from sqlglot import exp

from orch.compiler.shared import checksql

#: Names of the bound parameters, shared by every adapter.
SINCE, UNTIL = "since", "until"


def table_expr(table_id: str) -> exp.Table:
    parts = table_id.split(".")
    name = parts[-1]
    db = parts[-2] if len(parts) > 1 else None
    catalog = parts[-3] if len(parts) > 2 else None
    return exp.table_(name, db=db, catalog=catalog, quoted=True)


def max_value(table_id: str, column: str) -> exp.Select:
    """The newest value of `column`, what a DAG's freshness check compares with its clock."""
    return checksql.newest_value(table_expr(table_id), column)


def row_count(table_id: str) -> exp.Select:
    return exp.select(exp.Count(this=exp.Star()).as_("row_count")).from_(table_expr(table_id))


def rows_per_day(table_id: str, column: str) -> exp.Select:
    """Rows per day of `column` for days in [@since, @until), as a DAG's check counts them."""
    return checksql.rows_per_day(table_expr(table_id), column, exp.Placeholder(this=SINCE),
                                 exp.Placeholder(this=UNTIL))


def _jobs_in_window() -> exp.Expression:
    """Jobs created in [@since, @until), SCRIPT parent jobs left out: their children
    are counted already, and a parent repeats their bytes billed."""
    return exp.and_(
        exp.GTE(this=exp.column("creation_time"), expression=exp.Placeholder(this=SINCE)),
        exp.LT(this=exp.column("creation_time"), expression=exp.Placeholder(this=UNTIL)),
        exp.or_(
            exp.Is(this=exp.column("statement_type"), expression=exp.Null()),
            exp.NEQ(this=exp.column("statement_type"), expression=exp.Literal.string("SCRIPT")),
        ),
    )


def jobs_summary(jobs_table: exp.Table) -> exp.Select:
    """BigQuery jobs in the window, per user: counts, failures and bytes billed."""
    failed = exp.CountIf(this=exp.Not(this=exp.Is(this=exp.column("error_result"), expression=exp.Null())))
    return (
        exp.select(
            exp.column("user_email"),
            exp.Count(this=exp.Star()).as_("jobs"),
            failed.as_("failed_jobs"),
            exp.Coalesce(this=exp.Sum(this=exp.column("total_bytes_billed")),
                         expressions=[exp.Literal.number(0)]).as_("bytes_billed"),
        )
        .from_(jobs_table)
        .where(_jobs_in_window())
        .group_by(exp.column("user_email"))
        .order_by(exp.column("user_email"))
    )


def failed_jobs(jobs_table: exp.Table, limit: int = 20) -> exp.Select:
    """The newest failed jobs in [@since, @until), for the failure message."""
    error = exp.column("error_result")
    return (
        exp.select(
            exp.column("job_id"),
            exp.column("user_email"),
            exp.Dot(this=error.copy(), expression=exp.to_identifier("reason")).as_("reason"),
            exp.Dot(this=error.copy(), expression=exp.to_identifier("message")).as_("message"),
        )
        .from_(jobs_table)
        .where(_jobs_in_window())
        .where(exp.Not(this=exp.Is(this=error.copy(), expression=exp.Null())))
        .order_by(exp.Ordered(this=exp.column("creation_time"), desc=True))
        .limit(limit)
    )


def jobs_table(project: str | None, region: str) -> exp.Table:
    """`project`.`region-xx`.`INFORMATION_SCHEMA.JOBS` (BigQuery splits a quoted
    path on its dots; sqlglot keeps the view's two-part name as one identifier)."""
    region_ds = region if region.startswith("region-") else f"region-{region}"
    return exp.Table(
        this=exp.to_identifier("INFORMATION_SCHEMA.JOBS", quoted=True),
        db=exp.to_identifier(region_ds, quoted=True),
        catalog=exp.to_identifier(project, quoted=True) if project else None,
    )
