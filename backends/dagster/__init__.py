"""The `dagster` backend: a static Dagster 1.13 code location.

Writes a folder `dagster dev` can be pointed at: `pyproject.toml` (with the
`[tool.dagster]` entry) and a package holding one `Definitions` in
`__init__.py`, the assets of each layer in `<layer>_assets.py`, and
`sensors.py`. Loading it reads no manifest: every asset is an `AssetSpec`
literal. Each pipeline is one `@multi_asset` (one per partitioning within
it), so a run invokes dbt once for the selected subset, and dbt's results are
streamed into one materialization per model and one check result per test.

Schedules: one `ScheduleDefinition` per pipeline over its assets, or a
schedule built from the partitioned job for partitioned ones. A pipeline that
reads another pipeline's tables waits for them instead, through automation
conditions on its assets and a sensor that evaluates them. SLAs are watched
by a sensor; run failures alert through another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from orch.backends.dagster.package import _Package
from orch.backends.dagster.parts import _PARTITIONS
from orch.compiler.plugin import Backend, Code, CompileError, OutputFile, error, ir, sqlgen, warning

OPTIONS = {
    "package": "orch_definitions",
    "dbt_executable": "dbt",
    "duckdb_env": "ORCH_DUCKDB_DATABASE",
    "sla_sensor_seconds": "300",
}

_HEALTH_KINDS = sqlgen.HEALTH_CHECK_KINDS


class DagsterBackend(Backend):
    name = "dagster"
    description = "a Dagster 1.13 code location: Definitions, <layer>_assets.py, sensors.py, pyproject.toml"
    SUPPORTS_PARTITIONS = True
    SUPPORTS_SLA = True
    SUPPORTS_FRESHNESS = True
    SUPPORTS_CHECKS = True
    SUPPORTS_CROSS_PIPELINE = True
    RUNNERS = (ir.DbtBuild, ir.SqlmeshRun, ir.Command)
    OPTIONS = OPTIONS

    def __init__(self, options: Mapping[str, str] | None = None):
        super().__init__(options)
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.option("package")):
            raise CompileError(error(Code.UNSUPPORTED_BY_BACKEND,
                                     f"dagster option package={self.option('package')!r} must be a Python "
                                     "module name", ir.Location(path="--option")))
        if not self.option("sla_sensor_seconds").isdigit():
            raise CompileError(error(Code.UNSUPPORTED_BY_BACKEND,
                                     "dagster option sla_sensor_seconds must be a whole number",
                                     ir.Location(path="--option")))

    READS_BACK = True

    @classmethod
    def read_back(cls, folder: str) -> dict:
        # Imported here: loading the output imports the platform, which compiling never needs.
        from orch.backends.dagster.readback import read_dagster

        return read_dagster(folder)

    def unsupported(self, project: ir.Project) -> list:
        found = [d for d in super().unsupported(project) if d.is_error]
        assets = project.asset_map()
        for check in project.checks:
            asset = assets[check.asset]
            engine = asset.relation.engine if asset.relation else None
            if check.kind is ir.CheckKind.DBT_TEST and not isinstance(asset.runner, ir.DbtBuild):
                if asset.runner is not None or asset.kind is not ir.AssetKind.SOURCE:
                    found.append(warning(Code.UNSUPPORTED_BY_BACKEND,
                                         f"dagster backend leaves out the dbt test {check.name}: "
                                         f"{asset.name} is not built by dbt here", check.origin))
                else:
                    found.append(warning(Code.UNSUPPORTED_BY_BACKEND,
                                         f"dagster backend leaves out the source test {check.name}",
                                         check.origin))
            elif check.kind in _HEALTH_KINDS and engine not in ("duckdb", "bigquery"):
                found.append(warning(Code.UNSUPPORTED_BY_BACKEND,
                                     f"dagster backend runs SQL checks on duckdb and bigquery only; "
                                     f"{check.name} is left out", check.origin))
        for asset in project.assets:
            if asset.partitioning is not None and asset.runner is not None and \
                    asset.partitioning.granularity not in _PARTITIONS:
                found.append(warning(Code.UNSUPPORTED_BY_BACKEND,
                                     f"dagster backend has no {asset.partitioning.granularity!r} partitions; "
                                     f"{asset.name} is scheduled unpartitioned", asset.origin))
        return found

    def emit(self, project: ir.Project, source: str) -> list[OutputFile]:
        return _Package(self, project, source).files()
