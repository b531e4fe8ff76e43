"""check_partitions: partition specs must be ones the warehouse accepts, on a
column the model has (when the model documents its columns)."""

from __future__ import annotations

import difflib

from compiler import ir
from compiler.diagnostics import Code, Diagnostic, error

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
        columns = {c.lower(): c for c in asset.columns}
        if columns and part.field.lower() not in columns:
            close = difflib.get_close_matches(part.field, list(columns.values()), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            diagnostics.append(
                error(
                    Code.UNKNOWN_PARTITION_FIELD,
                    f"{asset.name}: partition field {part.field!r} is not among its documented "
                    f"columns{hint}",
                    asset.origin,
                )
            )
    return project, diagnostics
