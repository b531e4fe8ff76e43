"""Grouping assets into pipelines, and the layer conventions it relies on.

A pipeline has one schedule, so assets are always split by schedule; within a
schedule they are grouped by layer (the default), folder, tag prefix, or not
at all. Names are stable slugs such as `dbt_marts_daily`, so regenerating
never renames a DAG that Airflow already has history for.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from orch.compiler import ir
from orch.compiler.names import unique

GROUP_BY_CHOICES = ("layer", "schedule", "folder", "tag:PREFIX", "none")

_LAYER_PREFIXES = (
    ("stg_", "staging"),
    ("base_", "staging"),
    ("int_", "intermediate"),
    ("fct_", "marts"),
    ("dim_", "marts"),
    ("mart_", "marts"),
)
_LAYER_FOLDERS = {
    "staging": "staging",
    "stg": "staging",
    "base": "staging",
    "intermediate": "intermediate",
    "int": "intermediate",
    "marts": "marts",
    "mart": "marts",
}
_KIND_LAYERS = {
    ir.AssetKind.SEED: "seeds",
    ir.AssetKind.SNAPSHOT: "snapshots",
    ir.AssetKind.SOURCE: "sources",
    ir.AssetKind.EXPOSURE: "exposures",
    ir.AssetKind.TASK: "tasks",
}
_SOURCE_PREFIX = {
    ir.AssetKind.MODEL: "dbt",
    ir.AssetKind.SEED: "dbt",
    ir.AssetKind.SNAPSHOT: "dbt",
    ir.AssetKind.SQLMESH_MODEL: "sqlmesh",
    ir.AssetKind.TASK: "orch",
}
#: The words dbt meta may use for a schedule (`schedule: daily`), and the cron alias each means.
SCHEDULE_WORDS = {
    "hourly": "@hourly",
    "daily": "@daily",
    "weekly": "@weekly",
    "monthly": "@monthly",
    "yearly": "@yearly",
}
#: Schedule aliases as words in pipeline names (dbt_marts_daily).
_SCHEDULE_LABELS = {alias: word for word, alias in SCHEDULE_WORDS.items()} | {
    "@midnight": "daily", "@annually": "yearly", "@once": "once"}


def infer_layer(name: str, path: str | None, kind: ir.AssetKind) -> str:
    """The seed's convention: name prefix first, then the nearest layer folder."""
    lowered = name.lower()
    for prefix, layer in _LAYER_PREFIXES:
        if lowered.startswith(prefix):
            return layer
    if path:
        folders = path.replace("\\", "/").split("/")[:-1]
        for folder in reversed(folders):
            if folder.lower() in _LAYER_FOLDERS:
                return _LAYER_FOLDERS[folder.lower()]
    return _KIND_LAYERS.get(kind, "models")


def slug(text: str) -> str:
    out = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return out or "x"


def _bounded(group: str, limit: int = 80) -> str:
    """`group` cut to `limit` characters, with a hash of the whole so that long
    names sharing a beginning stay apart: the pipeline name becomes a file name
    (255 bytes at most) and an Airflow DAG id (250 characters)."""
    if len(group) <= limit:
        return group
    return f"{group[:limit - 9]}_{hashlib.sha256(group.encode()).hexdigest()[:8]}"


def schedule_label(schedule: ir.Schedule) -> str:
    label = _SCHEDULE_LABELS.get(schedule.cron)
    if label is None:
        label = "cron_" + slug(schedule.cron.replace("*", "x"))
    if schedule.timezone != "UTC":
        label += "_" + slug(schedule.timezone)
    return label


def _folder(asset: ir.Asset) -> str:
    parts = (asset.path or "").replace("\\", "/").split("/")
    if len(parts) > 2:
        return parts[1]
    return parts[0].rsplit(".", 1)[0] if len(parts) == 1 and parts[0] else "root"


def _group_of(asset: ir.Asset, group_by: str) -> str:
    if group_by == "layer":
        return asset.layer or "models"
    if group_by == "folder":
        return _folder(asset)
    if group_by.startswith("tag:"):
        prefix = group_by[4:]
        tagged = sorted(t for t in asset.tags if t.startswith(prefix))
        return tagged[0][len(prefix):] if tagged else "untagged"
    return ""


def validate_group_by(group_by: str) -> bool:
    return group_by in ("layer", "schedule", "folder", "none") or (
        group_by.startswith("tag:") and len(group_by) > 4
    )


def group_pipelines(
    assets: Sequence[ir.Asset], *, group_by: str, default_schedule: ir.Schedule, taken: Iterable[str] = ()
) -> tuple[ir.Pipeline, ...]:
    """One pipeline per (source, group, schedule) for every asset with a runner;
    names in `taken` (pipelines a spec declares) are not reused."""
    buckets: dict[tuple[str, str, ir.Schedule], list[ir.Asset]] = defaultdict(list)
    for asset in assets:
        if asset.runner is None:
            continue
        schedule = asset.schedule or default_schedule
        prefix = _SOURCE_PREFIX.get(asset.kind, "orch")
        buckets[(prefix, _group_of(asset, group_by), schedule)].append(asset)

    pipelines = []
    used: set[str] = set(taken)
    for (prefix, group, schedule), members in sorted(
        buckets.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2].cron, kv[0][2].timezone)
    ):
        base = "_".join(part for part in (prefix, _bounded(slug(group)) if group else "", schedule_label(schedule))
                        if part)
        name = unique(base, used)
        pipelines.append(_pipeline(name, schedule, prefix, members))
    return tuple(pipelines)


def declared_pipeline(name: str, schedule: ir.Schedule, members: Iterable[ir.Asset], *, sla: ir.Sla | None,
                      owner: str | None, tags: Sequence[str], origin: ir.Location) -> ir.Pipeline:
    """A pipeline a spec declares: its own settings win over what its members say."""
    derived = _pipeline(name, schedule, "", members)
    return ir.Pipeline(
        name=name,
        schedule=schedule,
        assets=derived.assets,
        inputs=derived.inputs,
        sla=sla or derived.sla,
        owner=owner or derived.owner,
        tags=tuple(sorted(set(tags) | {t for t in derived.tags if t})),
        origin=origin,
    )


def _pipeline(name: str, schedule: ir.Schedule, prefix: str, members: Iterable[ir.Asset]) -> ir.Pipeline:
    members = sorted(members, key=lambda a: a.key)
    keys = {a.key for a in members}
    inputs = sorted({up for a in members for up in a.upstream if up not in keys})
    slas = [a.sla for a in members if a.sla is not None]
    sla = None
    if slas:
        sla = ir.Sla(
            complete_within=min(s.complete_within for s in slas),
            critical=any(s.critical for s in slas),
        )
    owners = {a.owner for a in members if a.owner}
    tags = {prefix} - {""} | {a.layer for a in members if a.layer}
    if any(a.critical for a in members):
        tags.add("critical")
    return ir.Pipeline(
        name=name,
        schedule=schedule,
        assets=tuple(a.key for a in members),
        inputs=tuple(inputs),
        sla=sla,
        owner=owners.pop() if len(owners) == 1 else None,
        tags=tuple(sorted(tags)),
    )


def tests_of_several(pipeline: ir.Pipeline, assets: Mapping[str, ir.Asset],
                     checks_of: Mapping[str, Sequence[ir.Check]]) -> list[ir.Check]:
    """The pipeline's dbt tests that read several assets, by key."""
    return sorted((c for key in pipeline.assets for c in checks_of.get(key, ())
                   if c.also and c.kind is ir.CheckKind.DBT_TEST and isinstance(assets[key].runner, ir.DbtBuild)),
                  key=lambda c: c.key)


def upstream_pipelines(pipeline: ir.Pipeline, assets: Mapping[str, ir.Asset],
                       checks_of: Mapping[str, Sequence[ir.Check]],
                       owner_of: Mapping[str, str]) -> dict[str, list[str]]:
    """Each other pipeline whose assets this one reads -> those assets, in the order
    first read: its inputs, then what its tests of several assets read. A run of the
    pipeline waits for these pipelines' runs, on every platform."""
    members = set(pipeline.assets)
    reads = [*pipeline.inputs,
             *(k for c in tests_of_several(pipeline, assets, checks_of) for k in c.also if k not in members)]
    out: dict[str, list[str]] = {}
    for key in reads:
        owner = owner_of.get(key)
        if owner is not None and owner != pipeline.name and key not in out.get(owner, []):
            out.setdefault(owner, []).append(key)
    return out
