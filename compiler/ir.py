"""The pipeline IR: what every frontend produces and every backend consumes.

The classes are frozen attrs classes holding tuples, so a `Project` can be
passed between passes and backends without anyone mutating it. The set of node
types is closed: a backend handles every `Runner` variant and every
`AssetKind`, and a new one is a change to this module.
"""

from __future__ import annotations

import enum
import os
from datetime import date, timedelta
from typing import Union

import attrs

#: Bumped whenever the JSON shape of the IR changes incompatibly.
IR_FORMAT_VERSION = 2


@attrs.frozen(kw_only=True)
class Location:
    """Where something came from: a position in a file, or a manifest node.

    dbt manifests carry no useful line numbers, so their nodes are located by
    `unique_id` (with the manifest path); spec files by line and column.
    """

    path: str | None = None
    line: int | None = None
    col: int | None = None
    unique_id: str | None = None

    def __str__(self) -> str:
        parts = [self.path or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        if self.unique_id is not None:
            parts.append(self.unique_id)
        return ":".join(parts)


class AssetKind(str, enum.Enum):
    """What an asset is in the source it came from."""

    MODEL = "model"
    SEED = "seed"
    SNAPSHOT = "snapshot"
    SOURCE = "source"
    EXPOSURE = "exposure"
    SQLMESH_MODEL = "sqlmesh_model"
    TASK = "task"


class Severity(str, enum.Enum):
    WARN = "warn"
    ERROR = "error"


class CheckKind(str, enum.Enum):
    FRESHNESS = "freshness"
    ROW_COUNT = "row_count"
    DBT_TEST = "dbt_test"
    CUSTOM_SQL = "custom_sql"
    #: A SQLMesh audit: `sqlmesh run` evaluates it after the model, so backends
    #: leave it to the runner.
    SQLMESH_AUDIT = "sqlmesh_audit"


@attrs.frozen(kw_only=True)
class Relation:
    """The warehouse object an asset reads or writes.

    `database` is the BigQuery project or the DuckDB catalog, `schema` the
    dataset; `name` is the table or view name (dbt's alias or identifier).
    `engine` is the warehouse type (dbt's adapter type: duckdb, bigquery, ...).
    """

    database: str | None = None
    schema: str | None = None
    name: str
    engine: str | None = None

    def __str__(self) -> str:
        return ".".join(p for p in (self.database, self.schema, self.name) if p)


@attrs.frozen(kw_only=True)
class Schedule:
    """When a pipeline runs: a five-field cron or an alias such as `@daily`."""

    cron: str
    timezone: str = "UTC"


@attrs.frozen(kw_only=True)
class Sla:
    """A completion deadline, measured from the scheduled start of a run."""

    complete_within: timedelta
    critical: bool = False


@attrs.frozen(kw_only=True)
class Freshness:
    """How old the newest data in an asset may be before it is stale.

    `timestamp_column` is the column whose maximum tells the data's age (dbt's
    `loaded_at_field`); without it the monitors fall back to table metadata.
    Past `warn_age` the data is reported, past `max_age` it is an error; at
    least one of the two is set.
    """

    timestamp_column: str | None = None
    max_age: timedelta | None = None
    warn_age: timedelta | None = None


@attrs.frozen(kw_only=True)
class Partitioning:
    """Time (or integer-range) partitioning, in BigQuery's `partition_by` shape.

    Integer-range partitions (`data_type` int64) have no `granularity`.
    """

    field: str
    data_type: str = "date"
    granularity: str | None = "day"
    start: date | None = None


@attrs.frozen(kw_only=True)
class DbtBuild:
    """Run dbt for the nodes matched by `select` in a dbt project."""

    select: str
    project_dir: str
    profiles_dir: str | None = None
    target: str | None = None


@attrs.frozen(kw_only=True)
class SqlmeshRun:
    """Run one SQLMesh model through `sqlmesh run` in its project."""

    model: str
    project_dir: str


@attrs.frozen(kw_only=True)
class SqlQuery:
    """Run one SELECT and write its result to `destination`.

    `write_mode` is how: `truncate` (replace the table), `append`, `merge`
    (upsert on `unique_key`), or `view` (replace a view defined by the query).
    `connection` names the platform connection to run it on, when not the
    backend's default. With no destination the SQL is run as written (a spec
    task's statement), and `write_mode` does not apply.
    """

    sql: str
    dialect: str
    destination: Relation | None = None
    write_mode: str = "truncate"
    unique_key: tuple[str, ...] = ()
    connection: str | None = None


@attrs.frozen(kw_only=True)
class Command:
    """Run a shell command, given as argv so nothing is re-split or re-quoted,
    in `cwd` when set (relative paths are taken from where orch ran)."""

    argv: tuple[str, ...]
    cwd: str | None = None


Runner = Union[DbtBuild, SqlmeshRun, SqlQuery, Command]

#: The name of each runner type in IR JSON (its `"type"` tag) and in messages.
RUNNER_TAGS: dict[type, str] = {
    DbtBuild: "dbt_build",
    SqlmeshRun: "sqlmesh_run",
    SqlQuery: "sql_query",
    Command: "command",
}


@attrs.frozen(kw_only=True)
class Asset:
    """One node of the lineage graph, whatever its source.

    `key` is unique in the project (a dbt unique_id, for instance); `name` is
    the short name people use and that task ids are derived from. An asset
    with no `runner` is produced outside the pipelines (a dbt source, an
    exposure) and is only ever upstream or downstream of tasks. `retries` and
    `retry_delay` override the backend's defaults for its task.
    """

    key: str
    name: str
    kind: AssetKind
    origin: Location
    relation: Relation | None = None
    upstream: tuple[str, ...] = ()
    runner: Runner | None = None
    materialization: str | None = None
    unique_key: tuple[str, ...] = ()
    partitioning: Partitioning | None = None
    freshness: Freshness | None = None
    schedule: Schedule | None = None
    sla: Sla | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    critical: bool = False
    description: str | None = None
    layer: str | None = None
    path: str | None = None
    package: str | None = None
    columns: tuple[str, ...] = ()
    #: `columns` is the full list, checked by the warehouse (a dbt contract).
    columns_enforced: bool = False
    compiled_sql: str | None = None
    retries: int | None = None
    retry_delay: timedelta | None = None


@attrs.frozen(kw_only=True)
class Param:
    """One named argument of a SQLMesh audit; values are JSON scalars."""

    name: str
    value: str | int | float | bool | None


# -- what a check tests: one class per kind ------------------------------------


@attrs.frozen(kw_only=True)
class FreshnessParams:
    """The newest `column` value is at most `max_age_seconds` old."""

    column: str
    max_age_seconds: int


@attrs.frozen(kw_only=True)
class RowCountParams:
    """The table has at least `min_rows` rows; with a partition column, every whole
    day of the last `lookback_days` (1 when unset) has."""

    min_rows: int
    partition_column: str | None = None
    lookback_days: int | None = None


@attrs.frozen(kw_only=True)
class CustomSqlParams:
    """The user's query: every value of its first row must be true."""

    sql: str


@attrs.frozen(kw_only=True)
class DbtTestParams:
    """A dbt test: `test` is the generic test's name (not_null, ...) or "singular";
    `dbt_select` the selector naming exactly this test."""

    test: str
    column: str | None = None
    dbt_select: str


@attrs.frozen(kw_only=True)
class SqlmeshAuditParams:
    """A SQLMesh audit, evaluated by `sqlmesh run` after its model."""

    args: tuple[Param, ...] = ()


CheckParams = Union[FreshnessParams, RowCountParams, CustomSqlParams, DbtTestParams, SqlmeshAuditParams]

#: The kind of each check's parameters, also their `"kind"` tag in IR JSON.
CHECK_KINDS: dict[type, CheckKind] = {
    FreshnessParams: CheckKind.FRESHNESS,
    RowCountParams: CheckKind.ROW_COUNT,
    CustomSqlParams: CheckKind.CUSTOM_SQL,
    DbtTestParams: CheckKind.DBT_TEST,
    SqlmeshAuditParams: CheckKind.SQLMESH_AUDIT,
}


def param_items(params: CheckParams) -> tuple[tuple[str, str | int | float | bool], ...]:
    """A check's parameters as (name, value) pairs, unset ones left out: for messages."""
    if isinstance(params, SqlmeshAuditParams):
        return tuple((p.name, p.value) for p in params.args)
    return tuple((field.name, value) for field in attrs.fields(type(params))
                 if (value := getattr(params, field.name)) is not None)


@attrs.frozen(kw_only=True)
class Check:
    """A test of an asset's data: run after it, by every backend.

    `params` says what it tests, one class per kind, so a freshness check always
    has its column and age. `also` lists other assets the check reads (a dbt
    relationships test reads two tables); the check runs once all of them are built.
    """

    key: str
    name: str
    asset: str
    origin: Location
    params: CheckParams
    severity: Severity = Severity.ERROR
    blocking: bool = False
    also: tuple[str, ...] = ()

    @property
    def kind(self) -> CheckKind:
        return CHECK_KINDS[type(self.params)]


@attrs.frozen(kw_only=True)
class Pipeline:
    """One schedulable unit: an Airflow DAG, a Dagster job and schedule.

    `inputs` are the assets outside this pipeline that its assets read: other
    pipelines' outputs and external sources. Backends turn the ones that
    belong to another pipeline into cross-pipeline waits. `origin` is set for
    pipelines declared in a spec; derived ones have none.
    """

    name: str
    schedule: Schedule
    assets: tuple[str, ...]
    inputs: tuple[str, ...] = ()
    sla: Sla | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    origin: Location | None = None


@attrs.frozen(kw_only=True)
class DbtNode:
    """A node of a dbt project as `--select` matches it by name (`fqn` selection)."""

    unique_id: str
    fqn: tuple[str, ...]
    versioned: bool = False
    #: Tests only: what they read, which decides whether dbt picks them indirectly.
    parents: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class DbtProject:
    """Every enabled node of a dbt project that a name selector can match (all but sources).

    Backends need the whole project, not only what they build, to name many nodes
    with a few selectors that provably match nothing else (`compiler/selection.py`).
    """

    project_dir: str
    nodes: tuple[DbtNode, ...] = ()


@attrs.frozen(kw_only=True)
class Project:
    """A whole compiled input: assets, the pipelines that run them, and checks."""

    name: str
    assets: tuple[Asset, ...] = ()
    pipelines: tuple[Pipeline, ...] = ()
    checks: tuple[Check, ...] = ()
    dbt_projects: tuple[DbtProject, ...] = ()

    def asset_map(self) -> dict[str, Asset]:
        return {asset.key: asset for asset in self.assets}

    def checks_by_asset(self) -> dict[str, tuple[Check, ...]]:
        """Asset key -> the checks attached to it (its primary asset)."""
        out: dict[str, list[Check]] = {}
        for check in self.checks:
            out.setdefault(check.asset, []).append(check)
        return {key: tuple(checks) for key, checks in out.items()}

    def dbt_project(self, project_dir: str) -> DbtProject | None:
        """The dbt project in `project_dir`, however the path is written."""
        where = os.path.abspath(project_dir)
        return next((p for p in self.dbt_projects if os.path.abspath(p.project_dir) == where), None)

    def pipeline_of(self) -> dict[str, str]:
        """Asset key -> name of the pipeline that runs it."""
        return {key: p.name for p in self.pipelines for key in p.assets}
