"""Loading `health-config.json` and `sla-config.json`: validated against their
published JSON Schemas, then turned into one list of checks the monitors run.

Both configs accept the seed format (`table_id`, `freshness.max_age_hours`,
`row_count.min_rows`, `completion_time_sla.target_duration_minutes`, ...)
verbatim. Every error names `file:line:col` and the JSON path.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import attrs

from orch.compiler.shared import checksql
from orch.monitor.jsonpos import locate

HEALTH = "health"
SLA = "sla"
DEFAULT_HISTORY = "orch-history.sqlite"
#: BigQuery on-demand price per TiB billed (US multi-region); `price_per_tib_usd` overrides it.
DEFAULT_PRICE_PER_TIB_USD = 6.25
DEFAULT_TIMEOUT_SECONDS = 300.0


class ConfigError(Exception):
    """A config that cannot be used; the message names the file and position."""


@attrs.frozen(kw_only=True)
class WarehouseSpec:
    engine: str
    path: str | None = None  # DuckDB file, absolute
    project: str | None = None
    location: str | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


CRITICAL_CHANNELS = ("pagerduty",)
DEFAULT_CHANNELS = ("slack", "email")


@attrs.frozen(kw_only=True)
class AlertRouting:
    enabled: bool = True
    critical: tuple[str, ...] = CRITICAL_CHANNELS
    default: tuple[str, ...] = DEFAULT_CHANNELS

    def channels(self, critical: bool) -> tuple[str, ...]:
        return (self.critical if critical else self.default) if self.enabled else ()


@attrs.frozen(kw_only=True)
class CheckSpec:
    """One check of one table. `key` is stable across runs: history and alert
    dedup are keyed by it."""

    key: str
    subject: str
    kind: str  # freshness | row_count | custom_sql
    name: str
    params: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    severity: str = "error"
    critical: bool = False
    owner: str | None = None
    where: str = ""


@attrs.frozen(kw_only=True)
class PipelineSpec:
    name: str
    dag_id: str
    target_minutes: float
    critical: bool = False
    owner: str | None = None
    assets: tuple[str, ...] = ()
    where: str = ""

    @property
    def key(self) -> str:
        return f"pipeline:{self.name}/completion_time"


@attrs.frozen(kw_only=True)
class JobsSpec:
    """The BigQuery job checks of a health config."""

    check_failures: bool = False
    check_costs: bool = False
    cost_threshold_usd: float | None = None
    price_per_tib_usd: float = DEFAULT_PRICE_PER_TIB_USD
    region: str = "us"
    lookback_hours: int = 24


@attrs.frozen(kw_only=True)
class Config:
    kind: str
    path: str
    project: str | None
    warehouse: WarehouseSpec
    history_path: str
    alerts: AlertRouting
    checks: tuple[CheckSpec, ...] = ()
    pipelines: tuple[PipelineSpec, ...] = ()
    jobs: JobsSpec = JobsSpec()
    airflow_url: str | None = None
    airflow_runs: int = 25
    run_results: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def schema(kind: str) -> dict:
    text = resources.files("orch.monitor.schemas").joinpath(f"{kind}-config.schema.json").read_text("utf-8")
    return json.loads(text)


def load(path: str, kind: str, history: str | None = None) -> Config:
    """Read, validate and normalise one config; raises ConfigError."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {kind} config: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a {kind} config: JSON nested too deeply") from None
    _validate(doc, text, path, kind)
    return _normalise(doc, text, path, kind, history)


def _where(path: str, text: str, json_path: Sequence) -> str:
    line, col = locate(text, json_path)
    return f"{path}:{line}:{col}"


def _pointer(json_path: Sequence) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
                   for i, p in enumerate(json_path)) or "(top level)"


def _deepest(err):
    """Of the alternatives a oneOf tried, the error deepest in the document: for
    `freshness` (an object or a list of them) with a bad field, that is the
    field, not "is not of type 'array'"."""
    from jsonschema.exceptions import best_match

    candidates = list(err.context)
    depth = max(len(e.absolute_path) for e in candidates)
    deepest = [e for e in candidates if len(e.absolute_path) == depth]
    preferred = [e for e in deepest if e.validator != "type"] or deepest
    return best_match(preferred)


def _validate(doc: Any, text: str, path: str, kind: str) -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema(kind))
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        leaf = _deepest(err) if err.context else err
        json_path = list(leaf.absolute_path)
        message = leaf.message
        if leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
            allowed = list(leaf.schema.get("properties", {}))
            extra = [k for k in leaf.instance if k not in allowed]
            hints = []
            for key in extra:
                close = difflib.get_close_matches(key, allowed, n=1)
                hints.append(f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
                json_path = [*json_path, key, ":key"]
            message = "; ".join(hints) + f"; allowed: {', '.join(sorted(allowed))}"
        problems.append(f"{_where(path, text, json_path)}: {_pointer([p for p in json_path if p != ':key'])}: "
                        f"{message}")
    if problems:
        shown = problems[:20]
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ConfigError("\n".join(shown) + more)


def _list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _relative(config_path: str, value: str) -> str:
    base = os.path.dirname(os.path.abspath(config_path))
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def _normalise(doc: dict, text: str, path: str, kind: str, history: str | None) -> Config:
    return _Reader(doc, text, path, kind).config(history)


class _Reader:
    """A validated config document made into a `Config`; positions come from its text."""

    def __init__(self, doc: dict, text: str, path: str, kind: str):
        self.doc, self.text, self.path, self.kind = doc, text, path, kind
        self.warehouse = self.warehouse_spec()
        self.checks: list[CheckSpec] = []
        self.seen: dict[str, str] = {}

    def where(self, json_path: list) -> str:
        return _where(self.path, self.text, json_path)

    def config(self, history: str | None) -> Config:
        doc, path = self.doc, self.path
        for i, table in enumerate(doc.get("tables") or []):
            self.table_checks(i, table)
        al = doc.get("alerts") or {}
        airflow = doc.get("airflow") or {}
        return Config(
            kind=self.kind, path=path, project=doc.get("project"), warehouse=self.warehouse,
            history_path=history or _relative(path, (doc.get("history") or {}).get("path", DEFAULT_HISTORY)),
            alerts=AlertRouting(enabled=al.get("enabled", True),
                                critical=tuple(al.get("critical", CRITICAL_CHANNELS)),
                                default=tuple(al.get("default", DEFAULT_CHANNELS))),
            checks=tuple(self.checks), pipelines=tuple(self.pipelines()), jobs=self.jobs(),
            airflow_url=airflow.get("url"), airflow_runs=airflow.get("runs", 25),
            run_results=tuple(_relative(path, p) for p in doc.get("dbt_run_results", ())),
            warnings=tuple(self.unknown_keys()),
        )

    def unknown_keys(self) -> list[str]:
        known = set(schema(self.kind)["properties"])
        warnings = []
        for key in self.doc:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                warnings.append(f"{self.where([key, ':key'])}: unknown top-level key {key!r} is ignored"
                                + (f" (did you mean {close[0]!r}?)" if close else ""))
        return warnings

    def warehouse_spec(self) -> WarehouseSpec:
        doc = self.doc
        wh = doc.get("warehouse") or {}
        return WarehouseSpec(
            engine=wh.get("engine", "bigquery"),
            path=_relative(self.path, wh["path"]) if wh.get("path") else None,
            project=wh.get("project") or doc.get("project_id"),
            location=wh.get("location") or doc.get("region"),
            timeout_seconds=float(wh.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
        )

    def add(self, spec: CheckSpec) -> None:
        if spec.key in self.seen:
            raise ConfigError(f"{spec.where}: check {spec.name!r} of {spec.subject} is defined twice "
                              f"(first at {self.seen[spec.key]}); give one of them a different `name`")
        self.seen[spec.key] = spec.where
        self.checks.append(spec)

    def table_checks(self, i: int, table: dict) -> None:
        if self.kind != HEALTH:
            self.freshness(table, table["freshness_sla"], ["tables", i, "freshness_sla"], "freshness_sla")
            return
        for j, fresh in enumerate(_list(table.get("freshness"))):
            json_path = ["tables", i, "freshness"] + ([j] if isinstance(table["freshness"], list) else [])
            self.freshness(table, fresh, json_path, "freshness" if j == 0 else f"freshness_{j + 1}")
        for j, rows in enumerate(_list(table.get("row_count"))):
            json_path = ["tables", i, "row_count"] + ([j] if isinstance(table["row_count"], list) else [])
            name = rows.get("name", "row_count" if j == 0 else f"row_count_{j + 1}")
            params = {"min_rows": rows["min_rows"], "partition_column": rows.get("partition_column"),
                      "lookback_days": rows.get("lookback_days", checksql.DEFAULT_LOOKBACK_DAYS)}
            self.add(CheckSpec(key=f"{table['table_id']}/{name}", subject=table["table_id"], kind="row_count",
                               name=name, params=params, severity=rows.get("severity", "error"),
                               critical=table.get("critical", False), owner=table.get("owner"),
                               where=self.where(json_path)))
        for j, custom in enumerate(table.get("custom_sql") or []):
            self.add(CheckSpec(key=f"{table['table_id']}/{custom['name']}", subject=table["table_id"],
                               kind="custom_sql", name=custom["name"], params={"sql": custom["sql"]},
                               severity=custom.get("severity", "error"), critical=table.get("critical", False),
                               owner=table.get("owner"), where=self.where(["tables", i, "custom_sql", j])))

    def freshness(self, table: dict, fresh: dict, json_path: list, default_name: str) -> None:
        where = self.where(json_path)
        max_age, warn_after = fresh["max_age_hours"], fresh.get("warn_after_hours")
        if warn_after is not None and warn_after >= max_age:
            raise ConfigError(f"{where}: warn_after_hours ({warn_after}) must be below "
                              f"max_age_hours ({max_age})")
        if not fresh.get("timestamp_column") and self.warehouse.engine != "bigquery":
            raise ConfigError(f"{where}: {self.warehouse.engine} keeps no last-modified time of tables; "
                              "give the freshness check a timestamp_column")
        name = fresh.get("name", default_name)
        params = {"timestamp_column": fresh.get("timestamp_column"), "max_age_hours": max_age,
                  "warn_after_hours": warn_after}
        self.add(CheckSpec(key=f"{table['table_id']}/{name}", subject=table["table_id"], kind="freshness",
                           name=name, params=params, severity=fresh.get("severity", "error"),
                           critical=table.get("critical", False), owner=table.get("owner"), where=where))

    def pipelines(self) -> list[PipelineSpec]:
        pipelines = []
        names: dict[str, str] = {}
        for i, p in enumerate(self.doc.get("pipelines") or []):
            where = self.where(["pipelines", i])
            if p["name"] in names:
                raise ConfigError(f"{where}: pipeline {p['name']!r} is defined twice "
                                  f"(first at {names[p['name']]})")
            names[p["name"]] = where
            pipelines.append(PipelineSpec(
                name=p["name"], dag_id=p.get("dag_id", p["name"]),
                target_minutes=float(p["completion_time_sla"]["target_duration_minutes"]),
                critical=p.get("critical", False), owner=p.get("owner"), assets=tuple(p.get("assets", ())),
                where=where,
            ))
        return pipelines

    def jobs(self) -> JobsSpec:
        if self.kind != HEALTH:
            return JobsSpec()
        doc, engine = self.doc, self.warehouse.engine
        jobs = JobsSpec(
            check_failures=doc.get("check_failures", False), check_costs=doc.get("check_costs", False),
            cost_threshold_usd=doc.get("cost_threshold_usd"),
            price_per_tib_usd=doc.get("price_per_tib_usd", DEFAULT_PRICE_PER_TIB_USD),
            region=doc.get("region") or self.warehouse.location or "us",
            lookback_hours=doc.get("lookback_hours", 24),
        )
        if (jobs.check_failures or jobs.check_costs) and engine != "bigquery":
            key = "check_failures" if jobs.check_failures else "check_costs"
            raise ConfigError(f"{self.where([key])}: {key} reads BigQuery's job history "
                              f"(INFORMATION_SCHEMA.JOBS); the {engine} warehouse keeps none")
        if jobs.check_costs and jobs.cost_threshold_usd is None:
            raise ConfigError(f"{self.where(['check_costs'])}: check_costs needs cost_threshold_usd")
        return jobs
