"""A compile whose inputs and outputs have not changed is skipped, and gives
the same answer; any change to an input, an option or an output undoes that."""

from __future__ import annotations

import json

from tests.conftest import orch, snapshot_tree


def _compile(manifest, out, cache, *extra):
    return orch("compile", str(manifest), "--target", "airflow", "--target", "ir", "--out", str(out), *extra,
                env={"ORCH_CACHE_DIR": str(cache)})


def test_unchanged_compile_is_skipped_with_the_same_answer(example_manifest, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = _compile(example_manifest, out, cache)
    assert first.returncode == 0, first.stderr
    assert list((cache / "compile").glob("*.json"))  # the stamp
    before = snapshot_tree(out)
    second = _compile(example_manifest, out, cache)
    assert second.returncode == 0
    # The same diagnostics, and a summary of what is there.
    warnings = [line for line in first.stderr.splitlines() if "warning[" in line]
    assert warnings and [line for line in second.stderr.splitlines() if "warning[" in line] == warnings
    assert f"{out / 'airflow'}: 0 written, 0 removed, 6 unchanged" in second.stderr
    assert snapshot_tree(out) == before
    check = orch("compile", str(example_manifest), "--target", "airflow", "--target", "ir", "--out", str(out),
                 "--check", env={"ORCH_CACHE_DIR": str(cache)})
    assert check.returncode == 0 and "up to date" in check.stderr


def test_an_edited_or_deleted_output_is_restored(example_manifest, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert _compile(example_manifest, out, cache).returncode == 0
    before = snapshot_tree(out)
    dag = out / "airflow" / "dbt_marts_daily.py"
    dag.write_text(dag.read_text() + "# edited by hand\n")
    (out / "ir" / "project.ir.json").unlink()
    again = _compile(example_manifest, out, cache)
    assert "1 written" in again.stderr and snapshot_tree(out) == before


def test_a_changed_input_or_option_compiles_again(example_manifest, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert _compile(example_manifest, out, cache).returncode == 0
    assert "\"retries\": 7" not in (out / "airflow" / "dbt_marts_daily.py").read_text()
    optioned = _compile(example_manifest, out, cache, "-O", "retries=7")
    assert "\"retries\": 7" in (out / "airflow" / "dbt_marts_daily.py").read_text()
    edited = tmp_path / "manifest.json"
    doc = json.loads(example_manifest.read_text())
    node = next(n for k, n in doc["nodes"].items() if k.endswith(".fct_orders"))
    node["description"] = "Edited description."
    edited.write_text(json.dumps(doc))
    changed = _compile(edited, out, cache, "-O", "retries=7")
    assert changed.returncode == 0
    assert "Edited description." in (out / "ir" / "project.ir.json").read_text()
