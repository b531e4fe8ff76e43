"""`orch diff`: the Airflow and Dagster outputs of every example, read back through
real Airflow (DagBag) and real Dagster, mean the same pipelines; and an edit to
one side is reported exactly."""

from __future__ import annotations

import re

import pytest

from tests.conftest import orch

EXAMPLES = ["jaffle_overlay.orch", "shop_metrics.orch", "mixed.orch", "marts.orch"]


def _compile(inputs, out):
    # With a connection, Airflow runs the SQL health checks that Dagster runs too.
    result = orch("compile", *map(str, inputs), "-t", "airflow", "-t", "dagster", "-o", str(out), "-O", "conn_id=wh")
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("spec", EXAMPLES)
def test_every_example_means_the_same_on_both_platforms(specs, spec, tmp_path):
    out = _compile([specs / spec], tmp_path / "out")
    result = orch("diff", "--from", "airflow", "--to", "dagster", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "the same pipelines" in result.stderr
    airflow, dagster = re.findall(r"orch: \w+: (.*)", result.stderr)[:2]
    assert airflow == dagster and not airflow.startswith("0 assets")


def test_the_dbt_example_means_the_same(example_manifest, tmp_path):
    out = _compile([example_manifest], tmp_path / "out")
    result = orch("diff", str(out), "--format", "json")
    assert result.returncode == 0, result.stderr
    import json

    doc = json.loads(result.stdout)
    assert doc["differences"] == []
    assert doc["airflow"]["assets"] == doc["dagster"]["assets"]
    assert ["model.jaffle_shop.stg_orders", "model.jaffle_shop.fct_orders"] not in doc["airflow"]["edges"]
    assert ["model.jaffle_shop.stg_orders", "dbt_marts_daily"] in doc["airflow"]["cross"]
    assert doc["airflow"]["pipelines"]["dbt_marts_daily"] == ["0 0 * * *", "UTC"]


def test_every_corpus_manifest_means_the_same_on_both_platforms(tmp_path):
    """Every public manifest of v7 or later, compiled to both platforms and read back
    through both (one child process per platform for the lot): no difference."""
    from orch.compiler import parity
    from orch.compiler.cli import main
    from tests.test_airflow import SUPPORTED

    outs = []
    for manifest in SUPPORTED:
        out = tmp_path / manifest.name.removesuffix(".json.gz")
        assert main(["compile", str(manifest), "-t", "airflow", "-t", "dagster", "-o", str(out),
                     "-O", "conn_id=wh"]) == 0, manifest.name
        outs.append(out)
    airflow = parity.read_many("airflow", [str(out / "airflow") for out in outs])
    dagster = parity.read_many("dagster", [str(out / "dagster") for out in outs])
    differences = {out.name: found for out, a, b in zip(outs, airflow, dagster, strict=True)
                   if (found := parity.compare(a, b))}
    assert differences == {}
    # Not vacuous: the corpus has tests across pipelines and reads between them.
    assert sum(len(a["cross"]) for a in airflow) > 100
    assert any(len(reads) > 1 for a in airflow for reads in a["checks"].values())


def test_a_removed_edge_and_a_changed_schedule_are_reported_exactly(specs, tmp_path):
    out = _compile([specs / "marts.orch"], tmp_path / "out")
    dag = out / "airflow" / "marts_daily.py"
    text = dag.read_text()
    assert "[stg_orders, stg_payments] >> fct_orders" in text
    dag.write_text(text.replace("[stg_orders, stg_payments] >> fct_orders", "stg_orders >> fct_orders"))
    result = orch("diff", str(out))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "edge model.jaffle_shop.stg_payments -> model.jaffle_shop.fct_orders: only in dagster"]

    dag.write_text(text)
    definitions = out / "dagster" / "orch_definitions" / "__init__.py"
    code = definitions.read_text()
    seeds = 'name="dbt_seeds_daily_schedule",\n        cron_schedule="@daily",'
    assert seeds in code
    definitions.write_text(code.replace(seeds, seeds.replace("@daily", "0 3 * * *")))
    result = orch("diff", str(out))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "pipeline dbt_seeds_daily: scheduled 0 0 * * * (UTC) in airflow, 0 3 * * * (UTC) in dagster"]


def test_a_check_one_side_skips_is_a_difference(specs, tmp_path):
    # Without a connection the Airflow backend leaves the SQL checks out (W062); Dagster runs them.
    out = tmp_path / "out"
    assert orch("compile", str(specs / "marts.orch"), "-t", "airflow", "-t", "dagster", "-o", str(out)).returncode == 0
    result = orch("diff", str(out))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "check orch.check.model.jaffle_shop.fct_orders.amounts_not_negative: only in dagster" in lines
    assert "check model.jaffle_shop.fct_orders#freshness: only in dagster" in lines
    assert all(line.startswith("check ") and line.endswith("only in dagster") for line in lines)


def test_unreadable_side_is_exit_2(tmp_path):
    result = orch("diff", str(tmp_path))
    assert result.returncode == 2 and "compile with --target airflow first" in result.stderr
    (tmp_path / "airflow").mkdir()
    (tmp_path / "airflow" / "broken_dag.py").write_text("from airflow.sdk import DAG\nraise ValueError('x')\n")
    (tmp_path / "dagster").mkdir()
    result = orch("diff", str(tmp_path))
    assert result.returncode == 2


def test_only_backends_that_read_their_output_back_are_compared(tmp_path):
    result = orch("diff", str(tmp_path), "--from", "ir")
    assert result.returncode == 2
    assert "backend 'ir' cannot read its output back; orch diff compares airflow, dagster" in result.stderr
    unknown = orch("diff", str(tmp_path), "--to", "nosuch")
    assert unknown.returncode == 2 and "error[E060]: unknown backend 'nosuch'" in unknown.stderr


def test_a_pipeline_that_does_not_wait_on_one_side_is_a_difference(specs, tmp_path):
    """Dagster's runs of a pipeline wait for the pipelines it reads, as Airflow's
    sensors do; automation conditions that no longer wait are reported per pipeline."""
    out = _compile([specs / "marts.orch"], tmp_path / "out")
    clean = orch("diff", str(out), "--format", "json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    import json

    waits = json.loads(clean.stdout)["airflow"]["waits"]
    assert waits and waits == json.loads(clean.stdout)["dagster"]["waits"]
    support = out / "dagster" / "orch_definitions" / "orch_dagster_support.py"
    code = support.read_text()
    # The condition still runs on the pipeline's cron, but no longer waits for what it reads.
    changed = re.sub(r"\n\s*& dg\.AutomationCondition\.all_deps_updated_since_cron\(.*?\)\)\n", "\n", code,
                     flags=re.DOTALL)
    assert changed != code
    support.write_text(changed)
    result = orch("diff", str(out))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"pipeline {name}: waits for {', '.join(upstream)} in airflow, "
                                          "nothing in dagster" for name, upstream in sorted(waits.items())]
