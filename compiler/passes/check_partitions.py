"""check_partitions: partition specs must be ones the warehouse accepts, on a
column the model has.

Whether the column exists is known for certain in two cases: the model's
compiled SQL names its output columns, or its documented columns are a
contract the warehouse enforces. Documented columns alone are often a partial
list, so a field missing from them is only a warning.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from orch.compiler import ir
from orch.compiler.diagnostics import Code, Diagnostic, did_you_mean, error, warning

_TIME_GRANULARITIES = {
    "date": ("day", "month", "year"),
    "timestamp": ("hour", "day", "month", "year"),
    "datetime": ("hour", "day", "month", "year"),
}


def run(project: ir.Project, ctx) -> tuple[ir.Project, list[Diagnostic]]:
    diagnostics = []
    for asset in project.assets:
        part = asset.partitioning
        if part is None:
            continue
        if part.data_type in _TIME_GRANULARITIES:
            allowed = _TIME_GRANULARITIES[part.data_type]
            if part.granularity not in allowed:
                diagnostics.append(
                    error(
                        Code.INVALID_PARTITION,
                        f"{asset.name}: partition granularity {part.granularity!r} is not valid for a "
                        f"{part.data_type} field; use one of {', '.join(allowed)}",
                        asset.origin,
                    )
                )
        elif part.data_type == "int64":
            if part.granularity is not None:
                diagnostics.append(
                    error(
                        Code.INVALID_PARTITION,
                        f"{asset.name}: integer-range partitions take a range, not a granularity",
                        asset.origin,
                    )
                )
        else:
            diagnostics.append(
                error(
                    Code.INVALID_PARTITION,
                    f"{asset.name}: partition data_type {part.data_type!r} is not one of "
                    f"{', '.join([*_TIME_GRANULARITIES, 'int64'])}",
                    asset.origin,
                )
            )
        problem = _field_problem(asset, part.field)
        if problem is not None:
            make, message = problem
            diagnostics.append(make(Code.UNKNOWN_PARTITION_FIELD, f"{asset.name}: {message}", asset.origin))
    return project, diagnostics


def output_columns(sql: str | None, engine: str | None) -> list[str] | None:
    """The column names a model's SQL produces, when its outermost query names them all
    (no `*`, parsable in the warehouse's dialect); None when that cannot be told."""
    if not sql:
        return None
    try:
        tree = sqlglot.parse_one(sql, read=engine if engine in sqlglot.Dialect.classes else None)
    except (sqlglot.errors.SqlglotError, ValueError, RecursionError):
        return None
    while isinstance(tree, exp.SetOperation):
        tree = tree.this
    # An unaliased expression is named by each warehouse its own way, and `*` by the
    # tables it reads: only plain columns and aliases name an output for certain.
    if not isinstance(tree, exp.Select) or not all(
        isinstance(e, exp.Alias) or (isinstance(e, exp.Column) and not isinstance(e.this, exp.Star))
        for e in tree.expressions
    ):
        return None
    names = tree.named_selects
    return names if len(names) == len(tree.expressions) and all(names) else None


def _field_problem(asset: ir.Asset, field: str):
    """(error or warning, message) when the partition field is not, or may not be, a column."""
    produced = output_columns(asset.compiled_sql, asset.relation.engine if asset.relation else None)
    if produced is not None:
        if field.lower() in {c.lower() for c in produced}:
            return None
        return error, (f"partition field {field!r} is not among the columns its compiled SQL produces "
                       f"({', '.join(produced)}){did_you_mean(field, produced)}")
    documented = asset.columns
    if not documented or field.lower() in {c.lower() for c in documented}:
        return None
    if asset.columns_enforced:
        return error, (f"partition field {field!r} is not among the columns of its enforced contract"
                       f"{did_you_mean(field, documented)}")
    return warning, (f"partition field {field!r} is not among its documented columns"
                     f"{did_you_mean(field, documented)}; if the model has it, document it (with a contract "
                     "enforced, this is an error)")

