"""The `health` and `sla` backends: configs that the monitors load, for every
manifest of the corpus, and the example end to end: real dbt builds it into
DuckDB, orch compiles it, and the monitors check what dbt built."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess

import pytest
from jsonschema import Draft202012Validator
from syrupy.extensions.json import JSONSnapshotExtension

from orch.backends.health import HealthBackend
from orch.backends.sla import SlaBackend
from orch.compiler.driver import BuildOptions, build
from orch.monitor import config as monitor_config
from tests.conftest import BIN, CORPUS_FILES, EXAMPLE, load_json, orch, snapshot_tree
from tests.test_dbt_corpus import _schema

SUPPORTED = [p for p in CORPUS_FILES if (_schema(load_json(p)) or 0) >= 7]


def emit(project, backend_cls, **options) -> dict:
    backend = backend_cls({"duckdb_path": "wh.duckdb", **options})
    assert not [d for d in backend.unsupported(project) if d.is_error]
    (out,) = backend.emit(project, "manifest.json")
    return json.loads(out.content)


@pytest.mark.parametrize("path", SUPPORTED, ids=lambda p: p.name.removesuffix(".json.gz"))
def test_corpus_configs_validate_and_load(path, tmp_path):
    project, _ = build([str(path)], BuildOptions())
    for kind, cls in (("health", HealthBackend), ("sla", SlaBackend)):
        doc = emit(project, cls)
        errors = list(Draft202012Validator(monitor_config.schema(kind)).iter_errors(doc))
        assert not errors, [e.message for e in errors][:3]
        target = tmp_path / f"{kind}-config.json"
        target.write_text(json.dumps(doc))
        loaded = monitor_config.load(str(target), kind)
        if kind == "sla":
            with_sla = [p for p in project.pipelines if p.sla is not None]
            assert [p.name for p in loaded.pipelines] == [p.name for p in with_sla]
        assert not loaded.warnings


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("kind, cls", [("health", HealthBackend), ("sla", SlaBackend)])
def test_config_snapshot(kind, cls, snapshot_json, example_manifest):
    project, _ = build([str(example_manifest)], BuildOptions())
    assert emit(project, cls) == snapshot_json
    # The same project on BigQuery: a region, and a project the checks run in.
    doc = emit(project, cls, warehouse="bigquery", bigquery_project="acme-analytics", bigquery_region="eu")
    assert doc["warehouse"] == {"engine": "bigquery", "project": "acme-analytics", "location": "eu"}


def test_duckdb_project_without_a_database_file_is_refused(example_manifest, tmp_path):
    out = tmp_path / "out"
    (out / "health").mkdir(parents=True)
    (out / "health" / "keep.txt").write_text("mine")
    before = snapshot_tree(out)
    proc = orch("compile", str(example_manifest), "--target", "health", "--target", "sla", "--out", str(out))
    assert proc.returncode == 1
    assert "E064" in proc.stderr and "-O duckdb_path=FILE" in proc.stderr
    assert snapshot_tree(out) == before


@pytest.fixture(scope="module")
def built_example(tmp_path_factory):
    """The example built by real dbt into DuckDB, and compiled by orch for the monitors."""
    dest = tmp_path_factory.mktemp("monitored") / "jaffle_shop"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", ".user.yml"))
    env = dict(os.environ, ORCH_EXAMPLE_DUCKDB=str(dest.parent / "jaffle_shop.duckdb"))
    where = ["--project-dir", str(dest), "--profiles-dir", str(dest)]
    for command in ("seed", "build"):
        subprocess.run([str(BIN / "dbt"), command, "--quiet", *where], check=True, env=env, cwd=dest, timeout=600)
    # As `python3 dev.py example` does: the loader stamps the raw tables, one feed stale on purpose.
    subprocess.run([str(BIN / "python"), str(dest / "load_raw.py"), env["ORCH_EXAMPLE_DUCKDB"]], check=True,
                   timeout=120)
    out = dest.parent / "build"
    proc = orch("compile", str(dest / "target" / "manifest.json"), "--target", "health", "--target", "sla",
                "--out", str(out), "-O", "duckdb_path=../../jaffle_shop.duckdb")
    assert proc.returncode == 0, proc.stderr
    return dest, out


def test_example_health_checks_what_dbt_built(built_example):
    project, out = built_example
    # dbt and the loader stamped the tables when the example was set up: whatever the
    # date, an hour later the one feed the loader left stale is the one finding.
    later = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    proc = orch("health", "--as-of", later.isoformat(), "--config", str(out / "health" / "health-config.json"),
                "--no-alerts", "--output", str(out / "health.json"))
    doc = json.loads((out / "health.json").read_text())
    status = {r["key"]: r["status"] for r in doc["results"]}
    assert status == {
        "jaffle_shop.marts.fct_orders/freshness": "pass",
        "jaffle_shop.raw.raw_customers/freshness": "pass",
        "jaffle_shop.raw.raw_orders/freshness": "pass",
        "jaffle_shop.raw.raw_payments/freshness": "fail",
    }
    assert proc.returncode == 1
    stale = next(r for r in doc["results"] if "raw_payments" in r["key"])
    assert stale["observed"] == pytest.approx(73, abs=0.1)
    fct = next(r for r in doc["results"] if "fct_orders" in r["key"])
    assert fct["critical"] is True and fct["threshold"] == 26


def test_example_sla_times_the_dbt_run(built_example):
    project, out = built_example
    proc = orch("sla", "--config", str(out / "sla" / "sla-config.json"), "--no-alerts",
                "--run-results", str(project / "target" / "run_results.json"), "--output", str(out / "sla.json"))
    doc = json.loads((out / "sla.json").read_text())
    marts = next(r for r in doc["results"] if r["key"] == "pipeline:dbt_marts_daily/completion_time")
    assert marts["status"] == "pass" and marts["threshold"] == 240
    invocation = json.loads((project / "target" / "run_results.json").read_text())["metadata"]["invocation_id"]
    assert invocation in marts["message"]
    assert proc.returncode in (0, 1)
