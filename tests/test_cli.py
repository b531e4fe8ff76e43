"""The orch command as users and CI run it: diagnostics, exit codes, output folders."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.conftest import corpus, load_json, orch, snapshot_tree
from tests.manifest_edit import add_model

ALL_TARGETS = ("--target", "airflow", "--target", "dagster", "--target", "health", "--target", "sla",
               "--target", "ir", "--option", "duckdb_path=w.duckdb")


@pytest.fixture
def out_dir(tmp_path, small_manifest, write_manifest):
    """An output folder holding a previous good compile to every target and a file of the user's."""
    out = tmp_path / "out"
    good = write_manifest(small_manifest, "good.json")
    result = orch("compile", str(good), *ALL_TARGETS, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {"airflow", "dagster", "health", "sla", "ir"}
    (out / "ir" / "README.md").write_text("notes the user keeps here\n")
    return out


def _bad_manifests(small_manifest):
    def dangling(m):
        add_model(m, "orphan", ("model.test.ghost",))
        return m

    def cycle(m):
        add_model(m, "a", ("model.test.b",))
        add_model(m, "b", ("model.test.a",))
        return m

    def bad_cron(m):
        add_model(m, "hourlyish", meta={"schedule": "0 25 * * *"})
        return m

    def negative_sla(m):
        add_model(m, "late", meta={"sla_hours": -2})
        return m

    def bad_meta(m):
        add_model(m, "typed", meta={"critical": "very"})
        return m

    def old_schema(_):
        return load_json(corpus("dbt-core_state_v4"))

    def meta(**values):
        def edit(m):
            add_model(m, "m", meta=values)
            return m
        return edit

    def node(**fields):
        def edit(m):
            m["nodes"][add_model(m, "m")].update(fields)
            return m
        return edit

    def config(**values):
        def edit(m):
            add_model(m, "m", config=values)
            return m
        return edit

    def metadata(version):
        def edit(m):
            if version is None:
                del m["metadata"]["dbt_schema_version"]
            else:
                m["metadata"]["dbt_schema_version"] = f"https://schemas.getdbt.com/dbt/manifest/v{version}.json"
            return m
        return edit

    def section(name, value):
        def edit(m):
            m[name] = value
            return m
        return edit

    def node_not_object(m):
        m["nodes"]["model.test.m"] = ["not", "a", "node"]
        return m

    m = "model.test.m"
    return {
        "dangling": (dangling, "E010", 1, "model.test.orphan"),
        "cycle": (cycle, "E020", 1, "model.test.a"),
        "bad_cron": (bad_cron, "E030", 1, "model.test.hourlyish"),
        "cron_with_seconds": (meta(schedule="0 0 0 * * *"), "E030", 1, m),
        "unknown_timezone": (meta(schedule="@daily", timezone="Mars/Olympus_Mons"), "E030", 1, m),
        "schedule_as_list": (meta(schedule=["@daily"]), "E011", 1, m),
        "negative_sla": (negative_sla, "E040", 1, "model.test.late"),
        "zero_freshness": (meta(freshness_hours=0), "E040", 1, m),
        "absurd_sla": (meta(sla_hours=10**9), "E011", 1, m),
        "infinite_sla": (meta(sla_hours=float("inf")), "E011", 1, m),
        "nan_freshness": (meta(freshness_hours=float("nan")), "E011", 1, m),
        "sla_as_text": (meta(sla_hours="two"), "E011", 1, m),
        "bad_meta": (bad_meta, "E011", 1, "model.test.typed"),
        "negative_retries": (meta(retries=-1), "E011", 1, m),
        "owner_as_object": (meta(owner={"name": "x"}), "E011", 1, m),
        "unknown_runner": (meta(runner="spark"), "E011", 1, m),
        "bad_partition_start": (meta(partition_by={"field": "d"}, partition_start="2026-13-01"), "E011", 1, m),
        "partition_without_field": (config(partition_by={"data_type": "date"}), "E050", 1, m),
        "tags_as_number": (node(tags=5), "E006", 1, m),
        "depends_on_as_text": (node(depends_on={"nodes": "model.test.x"}), "E006", 1, m),
        "name_as_number": (node(name=7), "E006", 1, m),
        "node_not_object": (node_not_object, "E006", 1, m),
        "old_schema": (old_schema, "E003", 2, None),
        "no_schema_version": (metadata(None), "E003", 2, None),
        "future_schema": (metadata(13), "E003", 2, None),
        "sources_not_object": (section("sources", []), "E002", 2, None),
        "nodes_not_object": (section("nodes", None), "E002", 2, None),
    }


@pytest.mark.parametrize("case", list(_bad_manifests({})))
def test_bad_manifest(case, small_manifest, write_manifest, out_dir):
    edit, code, exit_code, unique_id = _bad_manifests(small_manifest)[case]
    path = write_manifest(edit(small_manifest))
    before = snapshot_tree(out_dir)
    result = orch("compile", str(path), *ALL_TARGETS, "--out", str(out_dir))
    assert result.returncode == exit_code, result.stderr
    where = f"{path}:{unique_id}" if unique_id else str(path)
    assert f"{where}: error[{code}]:" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot_tree(out_dir) == before



@pytest.mark.parametrize("version", range(1, 13))
def test_every_schema_version(version, out_dir):
    """v1 to v6 are refused whole, before anything is written; v7 to v12 compile."""
    path = corpus(f"dbt-core_state_v{version}")
    before = snapshot_tree(out_dir)
    result = orch("compile", str(path), *ALL_TARGETS, "--out", str(out_dir))
    assert "Traceback" not in result.stderr
    if version < 7:
        assert result.returncode == 2
        assert f"{path}: error[E003]: unsupported manifest schema v{version}:" in result.stderr
        assert snapshot_tree(out_dir) == before
    else:
        assert result.returncode == 0, result.stderr
        assert snapshot_tree(out_dir) != before

def _raw_cases(tmp_path):
    manifest_text = gzip.decompress(corpus("dbt-core_state_v12").read_bytes()).decode()
    return {
        "not_json": ("hello, I am not JSON\n", "E001", ":1:1: error[E001]: invalid JSON"),
        "truncated": (manifest_text[:5000], "E001", "looks truncated"),
        "json_not_manifest": (json.dumps({"name": "package.json", "version": "1.0"}), "E002",
                              "not a dbt manifest"),
        "json_list": ("[1, 2, 3]", "E002", "not a dbt manifest"),
        "binary": (b"\x00\xff\xfe garbage \x80", "E001", "not a JSON text file"),
        "empty": ("", "E001", ":1:1: error[E001]: invalid JSON"),
        "utf16": ('{"nodes": {}}'.encode("utf-16"), "E001", "not a JSON text file"),
        "nested_too_deep": ("[" * 100_000, "E001", "nested too deeply"),
        "truncated_gzip": (gzip.compress(manifest_text.encode())[:3000], "E001", "not a JSON text file"),
        "run_results": (json.dumps({"metadata": {"dbt_schema_version":
                        "https://schemas.getdbt.com/dbt/run-results/v6.json"}, "results": []}),
                        "E002", "not a dbt manifest"),
        "catalog": (json.dumps({"metadata": {}, "nodes": [], "sources": {}}), "E002", "not a dbt manifest"),
        "nan_literal": ("NaN", "E002", "not a dbt manifest"),
    }


@pytest.mark.parametrize("case", list(_raw_cases(None)))
def test_unusable_input(case, tmp_path, out_dir):
    content, code, fragment = _raw_cases(tmp_path)[case]
    path = tmp_path / "manifest.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    before = snapshot_tree(out_dir)
    result = orch("compile", str(path), *ALL_TARGETS, "--out", str(out_dir))
    assert result.returncode == 2
    assert str(path) in result.stderr and f"error[{code}]" in result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot_tree(out_dir) == before


def test_truncated_json_points_at_line_and_column(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text('{\n  "metadata": {\n    "dbt_schema_version": "x"\n')
    result = orch("check", str(path), "--format", "json")
    assert result.returncode == 2
    (diag,) = json.loads(result.stderr)
    assert diag["code"] == "E001"
    assert diag["location"]["path"] == str(path)
    assert diag["location"]["line"] == 4


def test_missing_file_and_unknown_input_kind(tmp_path):
    result = orch("check", str(tmp_path / "nope.json"))
    assert result.returncode == 2 and "error[E001]: cannot read manifest" in result.stderr
    other = tmp_path / "notes.txt"
    other.write_text("x")
    result = orch("check", str(other))
    assert result.returncode == 2 and "error[E004]" in result.stderr


def test_usage_errors_exit_2(small_manifest, write_manifest):
    path = write_manifest(small_manifest)
    assert orch("compile", str(path), "--out", "x").returncode == 2  # no --target
    bad_group = orch("check", str(path), "--group-by", "colour")
    assert bad_group.returncode == 2 and "--group-by" in bad_group.stderr
    bad_schedule = orch("check", str(path), "--schedule", "sometimes")
    assert bad_schedule.returncode == 2 and "--schedule" in bad_schedule.stderr
    bad_select = orch("check", str(path), "--select", "nosuch:x")
    assert bad_select.returncode == 2 and "error[E012]" in bad_select.stderr


def test_unknown_backend(small_manifest, write_manifest, tmp_path):
    path = write_manifest(small_manifest)
    result = orch("compile", str(path), "--target", "nosuch", "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "error[E060]: unknown backend 'nosuch'; installed backends:" in result.stderr
    assert " ir" in result.stderr
    assert not (tmp_path / "o").exists()


def test_warnings_exit_0(small_manifest, write_manifest, tmp_path):
    up = add_model(small_manifest, "stg_d", meta={"schedule": "daily"})
    add_model(small_manifest, "fct_h", (up,), meta={"schedule": "hourly"})
    result = orch("compile", str(write_manifest(small_manifest)), "--target", "ir", "--out", str(tmp_path / "o"))
    assert result.returncode == 0
    assert "warning[W031]" in result.stderr
    assert (tmp_path / "o" / "ir" / "project.ir.json").exists()


def test_diagnostics_as_json(small_manifest, write_manifest):
    add_model(small_manifest, "late", meta={"sla_hours": 0})
    result = orch("check", str(write_manifest(small_manifest)), "--format", "json")
    assert result.returncode == 1
    diags = json.loads(result.stderr)
    assert [(d["code"], d["level"], d["location"]["unique_id"]) for d in diags] == [
        ("E040", "error", "model.test.late")
    ]


def test_color_only_when_asked(small_manifest, write_manifest):
    add_model(small_manifest, "late", meta={"sla_hours": 0})
    path = write_manifest(small_manifest)
    assert "\033[" not in orch("check", str(path)).stderr  # piped: plain
    assert "\033[1;31merror[E040]" in orch("check", str(path), "--color", "always").stderr


def test_compile_is_deterministic_and_check_mode(example_manifest, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        result = orch("compile", str(example_manifest), "--target", "ir", "--out", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert snapshot_tree(first) == snapshot_tree(second)

    check = orch("compile", str(example_manifest), "--target", "ir", "--out", str(first), "--check",
                 cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    # A different grouping changes the output: --check reports it and writes nothing.
    before = snapshot_tree(first)
    check = orch("compile", str(example_manifest), "--target", "ir", "--out", str(first), "--check",
                 "--group-by", "none", cwd=tmp_path)
    assert check.returncode == 1
    assert f"would rewrite {first / 'ir' / 'project.ir.json'}" in check.stdout
    assert snapshot_tree(first) == before


def test_ir_command_prints_ir_json(example_manifest):
    result = orch("ir", str(example_manifest))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["format_version"] == 2
    names = {p["name"] for p in document["project"]["pipelines"]}
    assert names == {"dbt_staging_daily", "dbt_marts_daily", "dbt_seeds_daily", "dbt_snapshots_daily"}


def test_backends_lists_builtin_ir(tmp_path):
    result = orch("backends", "--format", "json")
    assert result.returncode == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["ir"]["capabilities"]["partitions"] is True


def test_seed_commands_wrap_compile(example_manifest, tmp_path):
    missing = orch("--project-type", "dbt", "--output-dir", str(tmp_path / "d"), prog="airflow-dag-gen")
    assert missing.returncode == 2 and "needs --manifest-path" in missing.stderr
    # The Airflow and Dagster backends are separate packages of work; until one
    # is installed the wrappers say so instead of writing anything.
    for prog, target in (("airflow-dag-gen", "airflow"), ("dagster-asset-gen", "dagster")):
        result = orch("--project-type", "dbt", "--manifest-path", str(example_manifest),
                      "--output-dir", str(tmp_path / prog), prog=prog)
        if result.returncode == 0:
            assert any((tmp_path / prog).iterdir())
        else:
            assert result.returncode == 2
            assert f"unknown backend {target!r}" in result.stderr
            assert not (tmp_path / prog).exists()


def test_an_input_of_unknown_kind_is_refused_clearly(tmp_path):
    odd = tmp_path / "pipeline.yaml"
    odd.write_text("pipelines: []\n")
    result = orch("check", str(odd))
    assert result.returncode == 2 and f"{odd}: error[E004]" in result.stderr
    assert "manifest.json, a SQLMesh project folder or a .orch spec file" in result.stderr


def test_stale_generated_files_are_removed_and_user_files_kept(example_manifest, tmp_path):
    out = tmp_path / "out"
    assert orch("compile", str(example_manifest), "--target", "ir", "--out", str(out)).returncode == 0
    stale = out / "ir" / "old_pipeline.json"
    stale.write_text('{"$comment": "@generated by orch 0.0.1 from x. Do not edit."}\n')
    mine = out / "ir" / "mine.json"
    mine.write_text('{"hand": "written"}\n')
    assert orch("compile", str(example_manifest), "--target", "ir", "--out", str(out)).returncode == 0
    assert not stale.exists()
    assert mine.read_text() == '{"hand": "written"}\n'


def test_never_overwrites_a_file_it_did_not_generate(example_manifest, tmp_path):
    out = tmp_path / "out"
    (out / "ir").mkdir(parents=True)
    precious = out / "ir" / "project.ir.json"
    precious.write_text("{}\n")
    result = orch("compile", str(example_manifest), "--target", "ir", "--out", str(out))
    assert result.returncode == 1
    assert "error[E070]" in result.stderr and "did not generate" in result.stderr
    assert precious.read_text() == "{}\n"


def test_gzipped_manifest_is_read(tmp_path):
    result = orch("check", str(corpus("dbt-core_state_v12")))
    assert result.returncode == 0, result.stderr


def test_exit_codes_and_diagnostic_codes_are_documented():
    from orch.compiler.diagnostics import Code
    from tests.conftest import ROOT

    cli_doc = (ROOT / "docs" / "cli.md").read_text()
    for exit_code in ("0", "1", "2", "3"):
        assert f"| {exit_code} |" in cli_doc
    codes_doc = (ROOT / "docs" / "diagnostics.md").read_text()
    for code in Code:
        assert f"| {code.value} |" in codes_doc, code
