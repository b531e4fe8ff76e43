"""The monitors' configs: the seed's files load verbatim, the published JSON
Schemas are valid, and every bad config gets file:line:col and exit 2."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from orch.monitor import config
from orch.monitor.config import ConfigError
from tests.conftest import DATA, orch

SEED = DATA / "monitor"


def test_the_seed_health_config_loads_verbatim():
    cfg = config.load(str(SEED / "seed-health-config.json"), config.HEALTH)
    assert cfg.warehouse.engine == "bigquery" and cfg.warehouse.project == "acme-analytics"
    assert [(c.key, c.kind) for c in cfg.checks] == [
        ("acme-analytics.analytics.fct_orders/freshness", "freshness"),
        ("acme-analytics.analytics.fct_orders/row_count", "row_count"),
        ("acme-analytics.analytics.dim_customers/freshness", "freshness"),
        ("acme-analytics.staging.stg_events/row_count", "row_count"),
    ]
    rows = cfg.checks[1].params
    assert (rows["min_rows"], rows["partition_column"], rows["lookback_days"]) == (1000, "order_date", 7)
    assert cfg.checks[0].params["max_age_hours"] == 6
    assert cfg.jobs.check_failures and cfg.jobs.check_costs and cfg.jobs.cost_threshold_usd == 100
    assert cfg.history_path == str(SEED / "orch-history.sqlite") and not cfg.warnings


def test_the_seed_sla_config_loads_verbatim():
    cfg = config.load(str(SEED / "seed-sla-config.json"), config.SLA)
    assert [(p.name, p.dag_id, p.target_minutes) for p in cfg.pipelines] == [
        ("daily_etl", "daily_etl", 120), ("hourly_events", "hourly_events", 15)]
    assert [(c.key, c.params["max_age_hours"]) for c in cfg.checks] == [
        ("acme-analytics.analytics.fct_orders/freshness_sla", 6)]


@pytest.mark.parametrize("kind", [config.HEALTH, config.SLA])
def test_published_schemas_are_valid_json_schema(kind):
    Draft202012Validator.check_schema(config.schema(kind))
    seed = json.loads((SEED / f"seed-{kind}-config.json").read_text())
    assert not list(Draft202012Validator(config.schema(kind)).iter_errors(seed))


GOOD_TABLE = {"table_id": "wh.main.t", "freshness": {"timestamp_column": "ts", "max_age_hours": 1}}
DUCK = {"engine": "duckdb", "path": "wh.duckdb"}

# (name, config text or document, kind, the words the error must contain, line, col)
BAD = [
    ("invalid_json", '{\n  "tables": [\n    {"table_id": "t",}\n  ]\n}', config.HEALTH, "not valid JSON", 3, 22),
    ("negative_age", {"warehouse": DUCK, "tables": [
        {"table_id": "wh.main.t", "freshness": {"timestamp_column": "ts", "max_age_hours": -1}}]},
     config.HEALTH, "tables[0].freshness", None, None),
    ("typo_in_table", {"warehouse": DUCK, "tables": [{"table_id": "wh.main.t", "freshnes": {}}]},
     config.HEALTH, "did you mean 'freshness'", None, None),
    ("typo_in_check", {"warehouse": DUCK, "tables": [
        {"table_id": "wh.main.t", "row_count": {"min_row": 3}}]},
     config.HEALTH, "tables[0].row_count", None, None),
    ("missing_table_id", {"warehouse": DUCK, "tables": [{"freshness": GOOD_TABLE["freshness"]}]},
     config.HEALTH, "'table_id' is a required property", None, None),
    ("bad_table_id", {"warehouse": DUCK, "tables": [{**GOOD_TABLE, "table_id": "a.b.c.d"}]},
     config.HEALTH, "tables[0].table_id", None, None),
    ("duckdb_without_path", {"warehouse": {"engine": "duckdb"}, "tables": [GOOD_TABLE]},
     config.HEALTH, "'path' is a required property", None, None),
    ("unknown_engine", {"warehouse": {"engine": "snowflake"}, "tables": [GOOD_TABLE]},
     config.HEALTH, "warehouse.engine", None, None),
    ("job_checks_on_duckdb", {"warehouse": DUCK, "tables": [GOOD_TABLE], "check_failures": True},
     config.HEALTH, "keeps none", None, None),
    ("costs_without_threshold", {"tables": [GOOD_TABLE], "check_costs": True},
     config.HEALTH, "needs cost_threshold_usd", None, None),
    ("duplicate_check", {"warehouse": DUCK, "tables": [GOOD_TABLE, GOOD_TABLE]},
     config.HEALTH, "defined twice", None, None),
    ("warn_after_max", {"warehouse": DUCK, "tables": [{"table_id": "t", "freshness": {
        "timestamp_column": "ts", "max_age_hours": 2, "warn_after_hours": 3}}]},
     config.HEALTH, "must be below max_age_hours", None, None),
    ("duckdb_freshness_without_column", {"warehouse": DUCK, "tables": [
        {"table_id": "t", "freshness": {"max_age_hours": 2}}]},
     config.HEALTH, "give the freshness check a timestamp_column", None, None),
    ("sla_zero_target", {"pipelines": [{"name": "p", "completion_time_sla": {"target_duration_minutes": 0}}]},
     config.SLA, "pipelines[0].completion_time_sla.target_duration_minutes", None, None),
    ("sla_duplicate_pipeline", {"pipelines": [{"name": "p", "completion_time_sla": {"target_duration_minutes": 5}}] * 2},
     config.SLA, "defined twice", None, None),
    ("sla_nothing_to_track", {"project": "x"}, config.SLA, "(top level)", 1, 1),
    ("sla_bad_airflow_url", {"pipelines": [], "airflow": {"url": "ftp://x"}}, config.SLA, "airflow.url", None, None),
]


@pytest.mark.parametrize("name, doc, kind, words, line, col", BAD, ids=[b[0] for b in BAD])
def test_bad_configs_name_file_line_and_col(tmp_path, name, doc, kind, words, line, col):
    path = tmp_path / f"{kind}-config.json"
    text = doc if isinstance(doc, str) else json.dumps(doc, indent=2)
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load(str(path), kind)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert words in message, message
    where = message.split(": ", 1)[0]
    got_line, got_col = (int(x) for x in where.rsplit(":", 2)[1:])
    if line is not None:
        assert (got_line, got_col) == (line, col)
    else:
        # The position points at the offending part of the document, not at its start.
        assert got_line > 1, message
    proc = orch(kind, "--config", str(path))
    assert proc.returncode == 2
    assert words in proc.stderr and "Traceback" not in proc.stderr


def test_error_position_is_the_offending_value(tmp_path):
    path = tmp_path / "health-config.json"
    doc = {"warehouse": DUCK, "tables": [GOOD_TABLE, {"table_id": "wh.main.u",
                                                       "freshness": {"timestamp_column": "ts", "max_age_hours": "6"}}]}
    text = json.dumps(doc, indent=2)
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load(str(path), config.HEALTH)
    line = int(str(info.value).split(":")[1])
    assert '"max_age_hours": "6"' in text.splitlines()[line - 1]


def test_unknown_top_level_keys_are_warnings_with_a_suggestion(tmp_path):
    path = tmp_path / "health-config.json"
    path.write_text(json.dumps({"tables": [], "dataset": "analytics", "check_failure": True}, indent=2))
    cfg = config.load(str(path), config.HEALTH)
    assert len(cfg.warnings) == 2
    assert any("'check_failure'" in w and "did you mean 'check_failures'" in w for w in cfg.warnings)


def test_missing_config_file_exits_2(tmp_path):
    proc = orch("health", "--config", str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "cannot read the health config" in proc.stderr


def test_seed_command_names_are_installed(tmp_path):
    for prog, kind in (("pipeline-health-monitor", "health"), ("sla-tracker", "sla")):
        proc = orch("--help", prog=prog)
        assert proc.returncode == 0 and "--cost-report" in proc.stdout if kind == "health" else "--run-results" in proc.stdout
        proc = orch("--config", str(tmp_path / "missing.json"), prog=prog)
        assert proc.returncode == 2 and f"cannot read the {kind} config" in proc.stderr
