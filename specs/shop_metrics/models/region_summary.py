"""A Python model: SQLMesh runs it in-process and writes the frame it returns."""

import typing as t
from datetime import datetime

import pandas as pd
from sqlmesh import ExecutionContext, model


@model(
    "shop.region_summary",
    kind="FULL",
    cron="@daily",
    grains=["region_id"],
    owner="ops",
    columns={"region_id": "int", "region_name": "text", "label": "text"},
    depends_on=["shop.regions"],
)
def execute(
    context: ExecutionContext,
    start: datetime,
    end: datetime,
    execution_time: datetime,
    **kwargs: t.Any,
) -> pd.DataFrame:
    regions = context.fetchdf(f"SELECT region_id, region_name FROM {context.resolve_table('shop.regions')}")
    regions["label"] = regions["region_name"].str.upper()
    return regions
