"""The `sla` backend: `sla-config.json`, what `orch sla` tracks.

Each pipeline with a completion SLA (its own, or the tightest of its assets')
gets `completion_time_sla.target_duration_minutes` and the dbt unique_ids of its
nodes, so the tracker can time its runs in dbt's run_results.json as well as in
Airflow; each table with a freshness target gets a `freshness_sla`.
"""

from __future__ import annotations

from orch.backends.monitoring import OPTIONS, MonitorConfigBackend, table_id
from orch.compiler.plugin import OutputFile, ir, json_document


class SlaBackend(MonitorConfigBackend):
    name = "sla"
    description = "sla-config.json for `orch sla` (pipeline completion SLAs, table freshness SLAs)"
    # Checks are the health monitor's; partitions are how tables are built.
    OUT_OF_SCOPE = frozenset({"SUPPORTS_PARTITIONS", "SUPPORTS_CHECKS"})
    OPTIONS = {**OPTIONS, "airflow_url": ""}

    def emit(self, project: ir.Project, source: str) -> list[OutputFile]:
        engine = self.engine(project)
        assets = project.asset_map()
        pipeline_of = project.pipeline_of()
        pipelines = []
        for p in project.pipelines:
            if p.sla is None:
                continue
            entry = {
                "name": p.name,
                "dag_id": p.name,
                "schedule": p.schedule.cron,
                "timezone": p.schedule.timezone,
                "critical": p.sla.critical,
                "completion_time_sla": {
                    "target_duration_minutes": round(p.sla.complete_within.total_seconds() / 60, 2)},
                "assets": sorted(assets[k].origin.unique_id or k for k in p.assets),
            }
            if p.owner:
                entry["owner"] = p.owner
            pipelines.append(entry)
        tables = []
        for asset in project.assets:
            if asset.relation is None or not self.checkable(asset, engine):
                continue
            entry = {"table_id": table_id(asset.relation), "asset": asset.key, "critical": asset.critical,
                     "freshness_sla": self.freshness(asset.freshness)}
            if asset.key in pipeline_of:
                entry["pipeline"] = pipeline_of[asset.key]
            if asset.owner:
                entry["owner"] = asset.owner
            tables.append(entry)
        doc = {**self.common(project), "pipelines": pipelines, "tables": tables}
        if self.option("airflow_url"):
            doc["airflow"] = {"url": self.option("airflow_url")}
        return [OutputFile(path="sla-config.json", content=json_document(doc, source))]
