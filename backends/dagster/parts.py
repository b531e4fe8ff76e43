"""What an asset is to Dagster, shared by the modules of the Dagster backend:
its key, owners, tags, kinds and partitions, and the names the generated
modules reserve."""

from __future__ import annotations

import re
from collections import defaultdict

from orch.compiler.plugin import ir, slug

SUPPORT_MODULE = "orch_dagster_support"


_PARTITIONS = {
    "hour": "HourlyPartitionsDefinition",
    "day": "DailyPartitionsDefinition",
    "month": "MonthlyPartitionsDefinition",
}


_TAG = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _key_part(text: str) -> str:
    # Dagster key parts are [A-Za-z0-9_]+.
    return re.sub(r"[^A-Za-z0-9_]", "_", text, flags=re.ASCII) or "_"


def asset_key(asset: ir.Asset) -> list[str]:
    """The asset key path: the relation's schema and name (e.g. marts/fct_orders)."""
    if asset.relation is not None:
        return [_key_part(p) for p in (asset.relation.schema, asset.relation.name) if p]
    return [asset.kind.value, _key_part(asset.name)]


def asset_keys(project: ir.Project) -> dict[str, list[str]]:
    """IR key -> Dagster key path.

    Assets naming the same table are one Dagster asset: a dbt source that
    reads the table a seed writes takes the seed's key, so the lineage runs
    through it. Two assets that both build one key path are told apart by
    their database, then by their name.
    """
    paths = {a.key: asset_key(a) for a in project.assets}
    builders: dict[tuple, list[ir.Asset]] = defaultdict(list)
    for asset in project.assets:
        if asset.runner is not None:
            builders[tuple(paths[asset.key])].append(asset)
    for path, clashing in builders.items():
        if len(clashing) < 2:
            continue
        for asset in clashing:
            relation = asset.relation
            prefix = [_key_part(relation.database)] if relation is not None and relation.database else []
            paths[asset.key] = [*prefix, *path]
        if len({tuple(paths[a.key]) for a in clashing}) < len(clashing):
            for asset in clashing:
                paths[asset.key] = [*paths[asset.key], _key_part(asset.name)]
    # Names that differ only in characters a key part cannot hold ("a-b",
    # "a.b", "a b") still clash: number them in key order, so the same project
    # always gets the same keys. An unbuilt asset over a table something builds
    # shares the builder's key (that is the lineage); unbuilt assets over
    # different tables do not share.
    owners: dict[tuple[str, ...], tuple] = {}
    for asset in sorted(project.assets, key=lambda a: (a.runner is None, a.key)):
        path = tuple(paths[asset.key])
        if asset.runner is not None:
            identity: tuple = ("built", asset.key)
        elif asset.relation is not None:
            identity = ("table", (asset.relation.schema or "").lower(), asset.relation.name.lower())
        else:
            identity = ("asset", asset.key)
        owner = owners.get(path)
        if owner is None or owner == identity or (asset.runner is None and owner[0] == "built"):
            owners.setdefault(path, identity)
            continue
        n = 2
        while (*path[:-1], f"{path[-1]}_{n}") in owners:
            n += 1
        path = (*path[:-1], f"{path[-1]}_{n}")
        paths[asset.key] = list(path)
        owners[path] = identity
    return paths


def _owners(owner: str | None) -> list[str]:
    if not owner:
        return []
    return [owner] if _EMAIL.match(owner) else [f"team:{slug(owner)}"]


def _tags(asset: ir.Asset) -> dict[str, str]:
    return {t: "" for t in asset.tags if _TAG.match(t)}


def _kinds(asset: ir.Asset) -> set[str]:
    kinds = set()
    if isinstance(asset.runner, ir.DbtBuild) or (asset.runner is None and asset.kind is not ir.AssetKind.TASK):
        kinds.add("dbt")
    if isinstance(asset.runner, ir.SqlmeshRun):
        kinds.add("sqlmesh")
    if asset.relation is not None and asset.relation.engine:
        kinds.add(asset.relation.engine)
    return kinds


def _start_date(part: ir.Partitioning) -> str:
    start = part.start.isoformat() if part.start else "2025-01-01"
    # Hourly partitions want the hour too, and refuse a plain date.
    return f"{start}-00:00" if part.granularity == "hour" else start


#: What an assets module imports or defines under fixed names (see package.py, `asset_modules`).
_ASSETS_MODULE_NAMES = ("os", "timedelta", "dg", "run_command", "run_dbt", "after_upstream", "sql_checks", "DBT",
                        "assets", "asset_checks")


#: The same for the package's __init__.py, whose module names are imported into it.
_INIT_MODULE_NAMES = ("timedelta", "dg", "DuckDBResource", "BigQueryResource", "sensors", "partitioned_schedule",
                      "external_assets", "schedules", "automation", "defs", SUPPORT_MODULE)
