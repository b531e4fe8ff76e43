"""What a dbt node's config and `meta` say to orch: schedule, SLA, freshness,
retries, partitioning, and source freshness. A value of the wrong type is an
error at the node's unique_id (E011), and the setting is left out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from orch.compiler import ir
from orch.compiler.diagnostics import Code, Diagnostic, error
from orch.compiler.durations import LONGEST
from orch.compiler.frontends.dbt_manifest import _as_dict
from orch.compiler.grouping import SCHEDULE_WORDS

_PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class NodeSettings:
    """The settings part of the dbt lowering (dbt.py), which supplies `diagnostics` and `where`."""

    diagnostics: list[Diagnostic]

    def where(self, uid: str) -> ir.Location:
        raise NotImplementedError

    def meta(self, node: Mapping[str, Any]) -> dict:
        merged = dict(_as_dict(node.get("meta")))
        merged.update(_as_dict(_as_dict(node.get("config")).get("meta")))
        return merged

    def bad_meta(self, uid: str, key: str, value: Any, expected: str) -> None:
        self.diagnostics.append(
            error(Code.INVALID_META, f"meta.{key} must be {expected}, got {value!r}", self.where(uid))
        )

    def meta_duration(self, uid: str, meta: Mapping[str, Any], key: str, unit: str = "hours") -> timedelta | None:
        value = meta.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.bad_meta(uid, key, value, f"a number of {unit}")
            return None
        seconds = value * {"hours": 3600, "minutes": 60}[unit]
        # Ten years: past it a value is a typo (or a unit mix-up), and far past
        # it no date arithmetic can hold it.
        if not math.isfinite(seconds) or seconds > LONGEST.total_seconds():
            self.bad_meta(uid, key, value, f"a number of {unit} up to ten years")
            return None
        return timedelta(seconds=round(seconds))

    def meta_str(self, uid: str, meta: Mapping[str, Any], key: str) -> str | None:
        value = meta.get(key)
        if value is None or isinstance(value, str):
            return value or None
        self.bad_meta(uid, key, value, "a string")
        return None

    def meta_bool(self, uid: str, meta: Mapping[str, Any], key: str) -> bool:
        value = meta.get(key, False)
        if isinstance(value, bool):
            return value
        self.bad_meta(uid, key, value, "true or false")
        return False

    def meta_retries(self, uid: str, meta: Mapping[str, Any]) -> int | None:
        retries = meta.get("retries")
        if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
            self.bad_meta(uid, "retries", retries, "a whole number, 0 or more")
            return None
        return retries

    def schedule(self, uid: str, meta: Mapping[str, Any]) -> ir.Schedule | None:
        cron = self.meta_str(uid, meta, "schedule")
        timezone = self.meta_str(uid, meta, "timezone") or "UTC"
        if cron is None:
            return None
        cron = " ".join(cron.split())
        return ir.Schedule(cron=SCHEDULE_WORDS.get(cron.lower(), cron), timezone=timezone)

    def partitioning(self, uid: str, node: Mapping[str, Any], meta: Mapping[str, Any]) -> ir.Partitioning | None:
        spec = _as_dict(node.get("config")).get("partition_by")
        if not isinstance(spec, dict):
            # Adapters without BigQuery's partition_by config (DuckDB, for one)
            # declare the partitioning orch schedules by in meta instead.
            spec = meta.get("partition_by", spec)
        if spec is None:
            return None
        # Adapters other than BigQuery take a list of columns; that is not
        # time partitioning and orch has nothing to schedule from it.
        if not isinstance(spec, dict):
            return None
        field = spec.get("field")
        if not isinstance(field, str) or not field:
            self.diagnostics.append(
                error(Code.INVALID_PARTITION, f"partition_by needs a field name, got {spec!r}", self.where(uid))
            )
            return None
        data_type = str(spec.get("data_type") or "date").lower()
        granularity = spec.get("granularity")
        if data_type == "int64":
            granularity = None
        else:
            granularity = str(granularity or "day").lower()
        start = None
        raw_start = meta.get("partition_start")
        if raw_start is not None:
            try:
                start = date.fromisoformat(str(raw_start))
            except ValueError:
                self.bad_meta(uid, "partition_start", raw_start, "a date (YYYY-MM-DD)")
        return ir.Partitioning(field=field, data_type=data_type, granularity=granularity, start=start)

    def source_freshness(self, uid: str, node: Mapping[str, Any]) -> ir.Freshness | None:
        spec = node.get("freshness")
        if spec is None:
            spec = _as_dict(node.get("config")).get("freshness")
        spec = _as_dict(spec)

        def after(key: str) -> timedelta | None:
            block = _as_dict(spec.get(key))
            count, period = block.get("count"), block.get("period")
            if isinstance(count, (int, float)) and not isinstance(count, bool) and period in _PERIOD_SECONDS:
                seconds = count * _PERIOD_SECONDS[period]
                if math.isfinite(seconds) and abs(seconds) <= LONGEST.total_seconds():
                    return timedelta(seconds=round(seconds))
                self.diagnostics.append(error(
                    Code.INVALID_META, f"freshness.{key}.count must be at most ten years, got {count!r}",
                    self.where(uid)))
            return None

        max_age, warn_age = after("error_after"), after("warn_after")
        if max_age is None and warn_age is None:
            return None
        column = node.get("loaded_at_field") or _as_dict(node.get("config")).get("loaded_at_field")
        return ir.Freshness(
            timestamp_column=column if isinstance(column, str) else None,
            max_age=max_age,
            warn_age=warn_age,
        )
