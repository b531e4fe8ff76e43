"""The SQL of the health checks, one builder per kind for every place it runs.

A DAG's check task and a Dagster asset check run a verdict query whose first
row must be all true; the monitors run the measure under it (the newest value,
the rows per day) and judge it in Python, to say what fell short and by how
much. Both read the same measure:

- freshness: the newest value of the timestamp column, as a timestamp with a
  time zone, against the check's clock (the warehouse's in a DAG, `--as-of` or
  now in `orch health`);
- row count: rows per whole day of the partition column (its value cast to a
  date), over the `lookback_days` days before today (UTC), today left out as
  still loading, and a day with no rows at all counted as zero. A table with
  100 rows a day and `min_rows = 10` passes everywhere, whatever the column's
  type;
- custom SQL is the user's own query: every value of its first row must be true.
"""

from __future__ import annotations

from sqlglot import exp

#: Days a partitioned row count looks back when the check says nothing.
DEFAULT_LOOKBACK_DAYS = 1


def newest_value(table: exp.Table, column: str) -> exp.Select:
    """The newest value of `column`: how old the table is, for freshness."""
    return exp.select(exp.Max(this=exp.column(column, quoted=True)).as_("newest")).from_(table)


def freshness_verdict(table: exp.Table, column: str, max_age_seconds: int) -> exp.Select:
    """One row, one boolean `is_fresh`: the newest `column` value is at most
    `max_age_seconds` old by the warehouse's clock."""
    newest = exp.Cast(this=exp.Max(this=exp.column(column, quoted=True)), to=exp.DataType.build("timestamptz"))
    ago = exp.Sub(this=exp.CurrentTimestamp(),
                  expression=exp.Interval(this=exp.Literal.number(max_age_seconds), unit=exp.Var(this="SECOND")))
    return exp.select(exp.GTE(this=newest, expression=ago).as_("is_fresh")).from_(table)


def _day(column: str) -> exp.Expression:
    return exp.Cast(this=exp.column(column, quoted=True), to=exp.DataType.build("date"))


def rows_per_day(table: exp.Table, column: str, since: exp.Expression, until: exp.Expression) -> exp.Select:
    """Rows per day of `column` for the days in [since, until), one row per day that has any."""
    return (
        exp.select(_day(column).as_("partition_date"), exp.Count(this=exp.Star()).as_("row_count"))
        .from_(table)
        .where(exp.and_(exp.GTE(this=_day(column), expression=since), exp.LT(this=_day(column), expression=until)))
        .group_by(exp.column("partition_date"))
        .order_by(exp.column("partition_date"))
    )


def utc_today() -> exp.Expression:
    return exp.CurrentDate(this=exp.Literal.string("UTC"))


def row_count_verdict(table: exp.Table, min_rows: int, partition_column: str | None = None,
                      lookback_days: int | None = None) -> exp.Select:
    """One row, one boolean `has_rows`: the whole table has at least `min_rows` rows,
    or, with a partition column, every whole day of the lookback has."""
    if not partition_column:
        enough = exp.GTE(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(min_rows))
        return exp.select(enough.as_("has_rows")).from_(table)
    days = int(lookback_days or DEFAULT_LOOKBACK_DAYS)
    since = exp.DateSub(this=utc_today(), expression=exp.Literal.number(days), unit=exp.Var(this="DAY"))
    counts = rows_per_day(table, partition_column, since, utc_today())
    counts.set("order", None)
    if min_rows <= 0:
        enough = exp.Boolean(this=True)
    else:
        # A day without rows has no row here: every day must be present, and the fewest enough.
        enough = exp.and_(
            exp.EQ(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(days)),
            exp.GTE(this=exp.Min(this=exp.column("row_count")), expression=exp.Literal.number(min_rows)),
        )
    return exp.select(enough.as_("has_rows")).from_(counts.subquery("days"))
