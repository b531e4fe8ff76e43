"""What the `health` and `sla` backends share: the warehouse, history and
alert sections of the monitors' configs, and how an asset names its table.

The configs are the whole contract with `monitor/`: it reads nothing else of
the project, so everything a check needs is written out here.
"""

from __future__ import annotations

from collections.abc import Mapping

from orch.compiler.plugin import Backend, Code, Diagnostic, error, ir, warning

OPTIONS = {
    "warehouse": "",  # duckdb | bigquery; default: the engine of the project's tables
    "duckdb_path": "",  # the DuckDB file, relative to the config's folder
    "bigquery_project": "",
    "bigquery_region": "us",
    # Both configs of one compile land in sibling folders and share one history.
    "history_path": "../orch-history.sqlite",
}
ENGINES = ("duckdb", "bigquery")


def table_id(relation: ir.Relation) -> str:
    return ".".join(p for p in (relation.database, relation.schema, relation.name) if p)


def hours(delta) -> float:
    value = delta.total_seconds() / 3600
    return int(value) if value == int(value) else round(value, 4)


class MonitorConfigBackend(Backend):
    SUPPORTS_SLA = True
    SUPPORTS_FRESHNESS = True
    SUPPORTS_CROSS_PIPELINE = True

    def engine(self, project: ir.Project) -> str:
        chosen = self.option("warehouse")
        if chosen:
            return chosen
        engines = sorted({a.relation.engine for a in project.assets if a.relation and a.relation.engine})
        return "duckdb" if engines == ["duckdb"] else "bigquery"

    def unsupported(self, project: ir.Project) -> list[Diagnostic]:
        found = []
        where = ir.Location(path=f"backend {self.name}")
        engine = self.engine(project)
        if engine not in ENGINES:
            found.append(error(Code.MISSING_BACKEND_OPTION,
                               f"{self.name} option warehouse={engine!r}: expected one of {', '.join(ENGINES)}",
                               where))
        elif engine == "duckdb" and not self.option("duckdb_path"):
            found.append(error(Code.MISSING_BACKEND_OPTION,
                               f"the {self.name} config of a DuckDB project needs the database file: "
                               "pass -O duckdb_path=FILE (relative to the config's folder)", where))
        for asset in project.assets:
            fresh = asset.freshness
            if fresh is not None and fresh.max_age and not fresh.timestamp_column and engine != "bigquery":
                found.append(warning(Code.UNSUPPORTED_BY_BACKEND,
                                     f"the freshness target of {asset.name} has no timestamp column, and "
                                     f"{engine} keeps no last-modified time; the {self.name} config leaves it out",
                                     asset.origin))
        return found

    def checkable(self, asset: ir.Asset, engine: str) -> bool:
        fresh = asset.freshness
        return bool(fresh and fresh.max_age and (fresh.timestamp_column or engine == "bigquery"))

    def freshness(self, fresh: ir.Freshness) -> dict:
        out: dict = {"max_age_hours": hours(fresh.max_age)}
        if fresh.timestamp_column:
            out["timestamp_column"] = fresh.timestamp_column
        if fresh.warn_age and fresh.warn_age < fresh.max_age:
            out["warn_after_hours"] = hours(fresh.warn_age)
        return out

    def common(self, project: ir.Project) -> Mapping:
        engine = self.engine(project)
        warehouse: dict = {"engine": engine}
        if engine == "duckdb":
            warehouse["path"] = self.option("duckdb_path")
        else:
            if self.option("bigquery_project"):
                warehouse["project"] = self.option("bigquery_project")
            warehouse["location"] = self.option("bigquery_region")
        return {
            "version": 1,
            "project": project.name,
            "warehouse": warehouse,
            "history": {"path": self.option("history_path")},
        }
