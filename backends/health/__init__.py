"""The `health` backend: `health-config.json`, the tables `orch health` checks.

Freshness targets, row-count rules and custom SQL checks of the IR become the
seed's config format (`table_id`, `freshness.max_age_hours`, `row_count.min_rows`
...), which the monitor validates against monitor/schemas/health-config.schema.json.
"""

from __future__ import annotations

from datetime import timedelta

from orch.backends.monitoring import OPTIONS, MonitorConfigBackend, hours, table_id
from orch.compiler.plugin import DEFAULT_LOOKBACK_DAYS, OutputFile, ir, json_document

_SEVERITY = {ir.Severity.WARN: "warn", ir.Severity.ERROR: "error"}


class HealthBackend(MonitorConfigBackend):
    name = "health"
    description = "health-config.json for `orch health` (freshness, row counts, custom SQL, job checks)"
    SUPPORTS_CHECKS = True
    # Partitions are how tables are built; the monitor only reads them.
    OUT_OF_SCOPE = frozenset({"SUPPORTS_PARTITIONS"})
    OPTIONS = {
        **OPTIONS,
        "check_failures": "false",  # BigQuery only: fail on failed jobs in the last 24h
        "cost_threshold_usd": "",  # BigQuery only: fail when the last 24h cost more
    }

    def emit(self, project: ir.Project, source: str) -> list[OutputFile]:
        engine = self.engine(project)
        by_asset = project.checks_by_asset()
        pipeline_of = project.pipeline_of()
        tables = []
        for asset in project.assets:
            if asset.relation is None or asset.kind is ir.AssetKind.EXPOSURE:
                continue
            entry: dict = {"table_id": table_id(asset.relation), "asset": asset.key}
            freshness, row_counts, custom = [], [], []
            if self.checkable(asset, engine):
                freshness.append(self.freshness(asset.freshness))
            for check in by_asset.get(asset.key, ()):
                params, severity = check.params, _SEVERITY[check.severity]
                if isinstance(params, ir.FreshnessParams):
                    freshness.append({"name": check.name, "timestamp_column": params.column,
                                      "max_age_hours": hours_of(params.max_age_seconds), "severity": severity})
                elif isinstance(params, ir.RowCountParams):
                    rule = {"name": check.name, "min_rows": params.min_rows, "severity": severity}
                    if params.partition_column:
                        rule["partition_column"] = params.partition_column
                        rule["lookback_days"] = params.lookback_days or DEFAULT_LOOKBACK_DAYS
                    row_counts.append(rule)
                elif isinstance(params, ir.CustomSqlParams):
                    custom.append({"name": check.name, "sql": params.sql, "severity": severity})
            if not (freshness or row_counts or custom):
                continue
            if asset.key in pipeline_of:
                entry["pipeline"] = pipeline_of[asset.key]
            entry["critical"] = asset.critical
            if asset.owner:
                entry["owner"] = asset.owner
            if freshness:
                entry["freshness"] = freshness[0] if len(freshness) == 1 else freshness
            if row_counts:
                entry["row_count"] = row_counts[0] if len(row_counts) == 1 else row_counts
            if custom:
                entry["custom_sql"] = custom
            tables.append(entry)
        doc = {**self.common(project), "tables": tables}
        if engine == "bigquery":
            doc["region"] = self.option("bigquery_region")
            doc["check_failures"] = self.option("check_failures").lower() in ("1", "true", "yes")
            if self.option("cost_threshold_usd"):
                doc["check_costs"] = True
                doc["cost_threshold_usd"] = float(self.option("cost_threshold_usd"))
        return [OutputFile(path="health-config.json", content=json_document(doc, source))]


def hours_of(seconds) -> float:
    return hours(timedelta(seconds=float(seconds)))
