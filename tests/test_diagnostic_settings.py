"""What a project chooses to hear: --warn, --ignore, --warn-error, [tool.orch] and a
spec's `diagnostics` block, the per-code cap of text output, and E051's two levels."""

from __future__ import annotations

import json
import textwrap

import pytest

from orch.compiler.diagnostics import Code, Level
from orch.compiler.driver import BuildOptions, build
from tests.conftest import orch, snapshot_tree
from tests.manifest_edit import add_model


def _infeasible(manifest: dict) -> str:
    """A model whose daily schedule cannot keep it an hour fresh: E041."""
    return add_model(manifest, "fct_orders", meta={"schedule": "daily", "freshness_hours": 1})


def _faster_than_upstream(manifest: dict, count: int = 1) -> None:
    """`count` hourly models reading one daily model: one W031 each."""
    up = add_model(manifest, "stg_daily", meta={"schedule": "daily"})
    for i in range(count):
        add_model(manifest, f"fct_hourly_{i:03d}", (up,), meta={"schedule": "hourly"})


def _compile(manifest_path, out, *extra):
    return orch("compile", str(manifest_path), "-t", "ir", "-o", str(out), *extra)


# -- the command line ----------------------------------------------------------


def test_warn_lets_a_project_with_a_policy_error_compile(small_manifest, write_manifest, tmp_path):
    _infeasible(small_manifest)
    path = write_manifest(small_manifest)
    refused = _compile(path, tmp_path / "o")
    assert refused.returncode == 1
    assert "error[E041]" in refused.stderr
    assert not (tmp_path / "o").exists()

    result = _compile(path, tmp_path / "o", "--warn", "E041")
    assert result.returncode == 0, result.stderr
    assert "model.test.fct_orders: warning[E041]: fct_orders must be at most 1h old" in result.stderr
    assert (tmp_path / "o" / "ir" / "project.ir.json").exists()


@pytest.mark.parametrize(
    ("flag", "code", "says"),
    [
        ("--warn", "E020", "E020 (cycle) means the input cannot be compiled faithfully and cannot be made a warning"),
        ("--warn", "E010", ("E010 (dangling reference) means the input cannot be compiled faithfully and cannot "
                            "be made a warning; the policy checks are E041, E042, E051")),
        ("--ignore", "E020", "E020 (cycle) means the input cannot be compiled faithfully and cannot be ignored"),
        ("--warn", "W031", "W031 is a warning already"),
        ("--warn", "E401", "'E401' is not a diagnostic code; did you mean 'E051' or 'E041'?"),
        ("--ignore", "W0311", "'W0311' is not a diagnostic code; did you mean 'W031'"),
    ],
)
def test_structural_errors_and_unknown_codes_are_refused(flag, code, says, small_manifest, write_manifest,
                                                          tmp_path):
    result = _compile(write_manifest(small_manifest), tmp_path / "o", flag, code)
    assert result.returncode == 2
    assert f"orch: error: {flag} {code}: {says}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_a_cycle_stays_an_error_whatever_is_warned(small_manifest, write_manifest):
    a = add_model(small_manifest, "a", ("model.test.b",))
    add_model(small_manifest, "b", (a,))
    _infeasible(small_manifest)
    result = orch("check", str(write_manifest(small_manifest)), "--warn", "E041", "--warn", "E051")
    assert result.returncode == 1
    assert "error[E020]" in result.stderr and "warning[E041]" in result.stderr


def test_ignore_silences_a_warning_and_a_policy_check(small_manifest, write_manifest):
    _faster_than_upstream(small_manifest)
    _infeasible(small_manifest)
    path = write_manifest(small_manifest)
    loud = orch("check", str(path))
    assert "warning[W031]" in loud.stderr and "error[E041]" in loud.stderr

    quiet = orch("check", str(path), "--ignore", "W031", "--ignore", "e041")
    assert quiet.returncode == 0, quiet.stderr
    assert "W031" not in quiet.stderr and "E041" not in quiet.stderr
    assert "orch: 0 error(s), 0 warning(s)" in quiet.stderr


def test_warn_error_makes_warnings_fail_the_compile(small_manifest, write_manifest, tmp_path):
    _faster_than_upstream(small_manifest)
    path = write_manifest(small_manifest)
    result = _compile(path, tmp_path / "o", "--warn-error")
    assert result.returncode == 1
    assert "model.test.fct_hourly_000: error[W031]" in result.stderr
    assert "orch: 1 error(s); nothing written" in result.stderr
    assert not (tmp_path / "o").exists()


def test_a_code_warned_by_name_stays_a_warning_under_warn_error(small_manifest, write_manifest):
    _faster_than_upstream(small_manifest)
    _infeasible(small_manifest)
    result = orch("check", str(write_manifest(small_manifest)), "--format", "json", "--warn-error",
                  "--warn", "E041")
    levels = {d["code"]: d["level"] for d in json.loads(result.stderr)}
    assert levels == {"W031": "error", "E041": "warning"}
    assert result.returncode == 1


# -- [tool.orch] in pyproject.toml ------------------------------------------------


def _pyproject(manifest_path, body: str):
    """pyproject.toml in the dbt project's folder, the manifest being target/manifest.json."""
    path = manifest_path.parent.parent / "pyproject.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_pyproject_beside_the_dbt_project_sets_warn_and_ignore(small_manifest, write_manifest, tmp_path):
    _infeasible(small_manifest)
    _faster_than_upstream(small_manifest)
    path = write_manifest(small_manifest)
    _pyproject(path, """
        [project]
        name = "shop"

        [tool.orch]
        warn = ["E041"]
        ignore = ["W031"]
    """)
    result = _compile(path, tmp_path / "o")
    assert result.returncode == 0, result.stderr
    assert "warning[E041]" in result.stderr and "W031" not in result.stderr
    assert (tmp_path / "o" / "ir" / "project.ir.json").exists()


def test_a_changed_pyproject_is_not_answered_from_the_last_compile(small_manifest, write_manifest, tmp_path):
    """The compile stamp skips unchanged inputs; settings decide the output too."""
    _faster_than_upstream(small_manifest)
    path = write_manifest(small_manifest)
    config = _pyproject(path, "[tool.orch]\nwarn-error = false\n")
    env = {"ORCH_CACHE_DIR": str(tmp_path / "cache")}
    first = orch("compile", str(path), "-t", "ir", "-o", str(tmp_path / "o"), env=env)
    assert first.returncode == 0, first.stderr
    again = orch("compile", str(path), "-t", "ir", "-o", str(tmp_path / "o"), env=env)
    assert "0 written, 0 removed" in again.stderr

    config.write_text("[tool.orch]\nwarn-error = true\n", encoding="utf-8")
    hardened = orch("compile", str(path), "-t", "ir", "-o", str(tmp_path / "o"), env=env)
    assert hardened.returncode == 1
    assert "error[W031]" in hardened.stderr


def test_the_nearest_pyproject_with_a_tool_orch_table_applies(small_manifest, write_manifest):
    _infeasible(small_manifest)
    path = write_manifest(small_manifest)
    (path.parent.parent.parent / "pyproject.toml").write_text('[tool.orch]\nwarn = ["E041"]\n')
    # The dbt project's own pyproject.toml has no [tool.orch]: orch looks further up.
    _pyproject(path, '[project]\nname = "shop"\n')
    assert orch("check", str(path)).returncode == 0


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        ('[tool.orch]\nwarn = ["E041"]\nwarn_error = true\n', ":3:1:",
         "unknown setting 'warn_error'; did you mean 'warn-error'?"),
        ('[tool.orch]\n\nignore = ["W031", "E020"]\n', ":3:1:",
         "ignore: E020 (cycle) means the input cannot be compiled faithfully and cannot be ignored"),
        ('[tool.orch]\nwarn = "E041"\n', ":2:1:", 'warn expects a list of codes such as ["W031"], not \'E041\''),
        ('[tool.orch]\nwarn-error = "yes"\n', ":2:1:", "warn-error expects true or false, not 'yes'"),
        ('[tool.orch]\nwarn = [E041]\n', ":2:9:", "not valid TOML"),
    ],
)
def test_a_pyproject_orch_cannot_use_is_refused_at_its_line(body, where, says, small_manifest, write_manifest,
                                                             tmp_path):
    path = write_manifest(small_manifest)
    config = _pyproject(path, body)
    result = _compile(path, tmp_path / "o")
    assert result.returncode == 2
    assert f"{config}{where} error[E097]:" in result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot_tree(tmp_path / "o") == {}


# -- a spec's diagnostics block -------------------------------------------------


def test_a_spec_warns_and_ignores_for_the_manifests_it_imports(small_manifest, write_manifest, tmp_path):
    _infeasible(small_manifest)
    _faster_than_upstream(small_manifest)
    manifest = write_manifest(small_manifest)
    spec = tmp_path / "shop.orch"
    spec.write_text(textwrap.dedent(f"""
        dbt "shop" {{
          manifest = "{manifest}"
        }}

        diagnostics {{
          warn   = ["E041"]
          ignore = ["W031"]
        }}
    """), encoding="utf-8")
    _, diagnostics = build([str(spec)], BuildOptions())
    assert [(d.code, d.level) for d in diagnostics] == [(Code.INFEASIBLE_FRESHNESS, Level.WARNING)]


def test_a_spec_can_ask_for_warnings_as_errors(small_manifest, write_manifest, tmp_path):
    _faster_than_upstream(small_manifest)
    manifest = write_manifest(small_manifest)
    spec = tmp_path / "shop.orch"
    spec.write_text(f'dbt "shop" {{\n  manifest = "{manifest}"\n}}\n\ndiagnostics {{\n  warn_error = true\n}}\n')
    result = orch("check", str(spec))
    assert result.returncode == 1
    assert "error[W031]" in result.stderr


def test_a_spec_naming_a_code_it_cannot_use_is_an_error_at_that_code(small_manifest, write_manifest, tmp_path):
    manifest = write_manifest(small_manifest)
    spec = tmp_path / "shop.orch"
    spec.write_text(f'dbt "shop" {{\n  manifest = "{manifest}"\n}}\n\ndiagnostics {{\n'
                    f'  warn = ["E041", "E020"]\n}}\n')
    result = orch("check", str(spec))
    assert result.returncode == 1
    assert f"{spec}:6:19: error[E094]: warn: E020 (cycle) means the input cannot be compiled" in result.stderr


# -- how much is printed ---------------------------------------------------------


def test_five_hundred_warnings_of_one_code_take_a_few_lines(small_manifest, write_manifest):
    _faster_than_upstream(small_manifest, count=500)
    path = write_manifest(small_manifest)
    result = orch("check", str(path))
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert len(lines) < 20, result.stderr
    assert sum("warning[W031]" in line for line in lines) == 3
    assert "W031 x 500 (3 shown; --verbose for all)" in lines

    verbose = orch("check", str(path), "--verbose")
    assert sum("warning[W031]" in line for line in verbose.stderr.splitlines()) == 500
    machine = orch("check", str(path), "--format", "json")
    assert [d["code"] for d in json.loads(machine.stderr)] == ["W031"] * 500


def test_codes_with_a_few_diagnostics_are_printed_whole(small_manifest, write_manifest):
    _faster_than_upstream(small_manifest, count=3)
    result = orch("check", str(write_manifest(small_manifest)))
    assert sum("warning[W031]" in line for line in result.stderr.splitlines()) == 3
    assert "shown" not in result.stderr


# -- E051: certain or not -------------------------------------------------------


def _partitioned(manifest, *, columns=("order_date", "id"), contract=None, sql=None):
    uid = add_model(manifest, "fct_p", config={"partition_by": {"field": "created_at", "data_type": "date"},
                                               **({"contract": contract} if contract else {})},
                    columns=columns)
    if contract:
        manifest["nodes"][uid]["contract"] = {**contract, "alias_types": True, "checksum": None}
    manifest["nodes"][uid]["compiled_code"] = sql
    return uid


def _e051(write_manifest, manifest):
    _, diagnostics = build([str(write_manifest(manifest))], BuildOptions())
    return [(d.level, d.message) for d in diagnostics if d.code is Code.UNKNOWN_PARTITION_FIELD]


def test_a_field_missing_from_documented_columns_is_a_warning(small_manifest, write_manifest):
    _partitioned(small_manifest)
    ((level, message),) = _e051(write_manifest, small_manifest)
    assert level is Level.WARNING
    assert "partition field 'created_at' is not among its documented columns" in message


def test_a_field_missing_from_an_enforced_contract_is_an_error(small_manifest, write_manifest):
    _partitioned(small_manifest, contract={"enforced": True})
    ((level, message),) = _e051(write_manifest, small_manifest)
    assert level is Level.ERROR
    assert "not among the columns of its enforced contract" in message


def test_compiled_sql_that_lacks_the_field_is_an_error_even_undocumented(small_manifest, write_manifest):
    _partitioned(small_manifest, columns=(), sql="select id, cast(ts as date) as created_on from raw.orders")
    ((level, message),) = _e051(write_manifest, small_manifest)
    assert level is Level.ERROR
    assert "not among the columns its compiled SQL produces (id, created_on); did you mean 'created_on'?" in message


def test_compiled_sql_that_has_the_field_outweighs_partial_documentation(small_manifest, write_manifest):
    _partitioned(small_manifest, sql="select id, order_date, cast(ts as date) as created_at from raw.orders")
    assert _e051(write_manifest, small_manifest) == []


@pytest.mark.parametrize("sql", ["select * from raw.orders", "select id, cast(ts as date) from raw.orders",
                                 "select o.* from raw.orders o", "not sql at all ((("])
def test_sql_that_does_not_name_every_column_proves_nothing(sql, small_manifest, write_manifest):
    _partitioned(small_manifest, sql=sql)
    ((level, _),) = _e051(write_manifest, small_manifest)
    assert level is Level.WARNING
