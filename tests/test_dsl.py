"""The .orch language: parsing, fmt, diagnostics with carets, lowering across sources."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch.compiler import ir, serde
from orch.compiler.diagnostics import CompileError
from orch.compiler.driver import BuildOptions, build
from orch.compiler.frontends import dsl_syntax
from tests.conftest import ROOT, orch

SPECS = ROOT / "specs"
EXAMPLES = sorted(p.name for p in SPECS.glob("*.orch"))


def _ir(path: Path, strip_origins: bool = False) -> dict:
    project, diagnostics = build([str(path)], BuildOptions())
    assert not [d for d in diagnostics if d.is_error], [d.render() for d in diagnostics]
    doc = json.loads(serde.dumps(project))

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if not (strip_origins and k == "origin")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(doc)


# -- fmt ----------------------------------------------------------------------------------------------


def test_shipped_specs_are_formatted():
    result = orch("fmt", "--check", *(str(SPECS / name) for name in EXAMPLES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(EXAMPLES) >= 5


MESSY = textwrap.dedent(
    '''\
    # leading comment
    include "common.orch"
    dbt "jaffle" { manifest = "jaffle_shop/target/manifest.json" }   // after the block
    pipeline "marts" { schedule="0 6 * * *" sla=2h # two hours
      assets=["layer:marts",   # the marts
    "+fct_orders"] owner = "a@example.com" }
    asset "fct_orders" { critical=true
      check "sql" "positive" { sql = """SELECT COUNT(*) = 0
    FROM marts.fct_orders WHERE amount < 0""" level=warn }
    }
    # trailing comment
    '''
)

MESSY_FORMATTED = textwrap.dedent(
    '''\
    # leading comment
    include "common.orch"

    dbt "jaffle" {
      manifest = "jaffle_shop/target/manifest.json"
    }  // after the block

    pipeline "marts" {
      schedule = "0 6 * * *"
      sla      = 2h  # two hours
      assets   = [
        "layer:marts",  # the marts
        "+fct_orders",
      ]
      owner    = "a@example.com"
    }

    asset "fct_orders" {
      critical = true

      check "sql" "positive" {
        sql   = """SELECT COUNT(*) = 0
    FROM marts.fct_orders WHERE amount < 0"""
        level = warn
      }
    }

    # trailing comment
    '''
)


def test_fmt_gives_the_canonical_layout_and_keeps_comments(specs):
    path = specs / "messy.orch"
    path.write_text(MESSY)
    before = _ir(path, strip_origins=True)
    assert orch("fmt", "--check", str(path)).returncode == 1
    result = orch("fmt", str(path))
    assert result.returncode == 0, result.stderr
    assert path.read_text() == MESSY_FORMATTED
    # parse -> IR -> fmt -> parse: the same IR (only positions moved), and fmt is settled.
    assert _ir(path, strip_origins=True) == before
    assert orch("fmt", "--check", str(path)).returncode == 0


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_round_trips_through_fmt(specs, name, tmp_path):
    spec = dsl_syntax.read_spec(str(specs / name))
    copy = specs / f"roundtrip_{name}"
    copy.write_text(dsl_syntax.format_spec(spec))
    try:
        got, want = _ir(copy, strip_origins=True), _ir(specs / name, strip_origins=True)
        # Only the file's name differs (a task records the spec it is written in).
        assert json.loads(json.dumps(got).replace(f"roundtrip_{name}", name).replace(
            f"roundtrip_{name[:-5]}", name[:-5])) == want
    finally:
        copy.unlink()


# -- lowering ------------------------------------------------------------------------------------------


def test_mixed_spec_joins_dbt_and_sqlmesh_by_table_and_wires_tasks(specs):
    project, diagnostics = build([str(specs / "mixed.orch")], BuildOptions())
    assert not [d for d in diagnostics if d.is_error]
    assets = project.asset_map()
    # SQLMesh reads marts.fct_orders and marts.dim_customers, which dbt builds.
    assert set(assets["sqlmesh.shop.customer_ltv"].upstream) == {
        "model.jaffle_shop.dim_customers", "model.jaffle_shop.fct_orders"}
    assert not any(k.startswith("sqlmesh.external.") for k in assets)
    assert set(assets["task.export_ltv"].upstream) == {"sqlmesh.shop.customer_ltv", "model.jaffle_shop.fct_orders"}
    assert set(assets["task.notify_finance"].upstream) == {"task.export_ltv", "sqlmesh.shop.daily_revenue"}
    assert assets["task.export_ltv"].runner.argv == ("python3", "export_ltv.py")
    assert assets["task.export_ltv"].runner.cwd.endswith("scripts")
    assert assets["task.export_ltv"].retries == 2
    assert assets["task.notify_finance"].retries == 1  # from defaults in common.orch
    shop = next(p for p in project.pipelines if p.name == "shop_daily")
    assert shop.schedule.cron == "0 5 * * *" and shop.sla.complete_within.total_seconds() == 4 * 3600
    assert "model.jaffle_shop.customers_snapshot" not in shop.assets  # excluded by kind
    assert {"task.export_ltv", "sqlmesh.shop.daily_revenue", "model.jaffle_shop.fct_orders",
            "seed.jaffle_shop.raw_orders"} <= set(shop.assets)
    assert shop.owner == "data-platform@example.com"


def test_marts_spec_carries_health_and_sla_settings(specs):
    project, _ = build([str(specs / "marts.orch")], BuildOptions())
    assets = project.asset_map()
    orders = assets["model.jaffle_shop.fct_orders"]
    assert orders.critical and orders.sla.complete_within.total_seconds() == 90 * 60
    assert orders.freshness.timestamp_column == "updated_at"
    assert orders.freshness.max_age.total_seconds() == 86400 and orders.freshness.warn_age.total_seconds() == 43200
    checks = {c.name: c for c in project.checks if c.key.startswith("orch.check.")}
    assert checks["orders_per_day"].params == ir.RowCountParams(min_rows=1, partition_column="order_date",
                                                                lookback_days=7)
    assert checks["orders_per_day"].severity.value == "warn"
    assert checks["amounts_not_negative"].kind.value == "custom_sql"
    assert checks["row_count_dim_customers"].params == ir.RowCountParams(min_rows=1)
    assert checks["customers_recent"].params == ir.FreshnessParams(column="most_recent_order_date",
                                                                   max_age_seconds=28 * 86400)
    marts = next(p for p in project.pipelines if p.name == "marts_daily")
    assert marts.sla.critical and marts.owner == "analytics@example.com"
    assert "model.jaffle_shop.stg_orders" in marts.assets and "seed.jaffle_shop.raw_orders" not in marts.assets


def test_overlay_spec_sets_schedules_and_tags(specs):
    project, _ = build([str(specs / "jaffle_overlay.orch")], BuildOptions())
    pipelines = {p.name: p for p in project.pipelines}
    assert pipelines["jaffle_staging"].schedule.cron == "0 */6 * * *"
    assert "seed.jaffle_shop.raw_orders" in pipelines["jaffle_staging"].assets
    assert pipelines["jaffle_marts"].tags[:1] and "finance" in pipelines["jaffle_marts"].tags
    assets = project.asset_map()
    assert "sensitive" in assets["model.jaffle_shop.stg_payments"].tags
    assert assets["model.jaffle_shop.fct_orders"].owner == "finance@example.com"
    # Snapshots are in no declared pipeline: grouped as without a spec.
    assert any("model.jaffle_shop.customers_snapshot" in p.assets or
               "snapshot.jaffle_shop.customers_snapshot" in p.assets for p in project.pipelines)


def test_durations():
    from orch.compiler.durations import format_duration, parse_duration

    assert parse_duration("90m").total_seconds() == 5400
    assert parse_duration("1.5h").total_seconds() == 5400
    assert parse_duration("7d").days == 7
    assert parse_duration("1w").days == 7
    assert parse_duration("5x") is None
    assert parse_duration("3651d") is None
    assert format_duration(parse_duration("90m")) == "90m"
    assert format_duration(parse_duration("2d")) == "2d"
    # The comments of generated DAGs stop at hours.
    assert format_duration(parse_duration("2d"), "hm") == "48h"
    assert format_duration(parse_duration("45s")) == "45s"


# -- bad specs ------------------------------------------------------------------------------------------

_HEAD = 'dbt "jaffle" {\n  manifest = "jaffle_shop/target/manifest.json"\n}\n'
BAD = [
    # (id, text, code, line, col, exit code)
    # At the end of the file: just after the last character.
    ("unclosed-block", 'pipeline "p" {\n  assets = ["a"]\n', "E090", 2, 17, 2),
    ("doubled-equals", 'pipeline "p" {\n  sla = = 2h\n}\n', "E090", 2, 9, 2),
    # `schedule "@daily"` reads as a nested block's header until the brace is missing.
    ("missing-equals", 'pipeline "p" {\n  schedule "@daily"\n}\n', "E090", 3, 1, 2),
    ("stray-character", 'pipeline "p" {\n  sla = 2h ;\n}\n', "E090", 2, 12, 2),
    ("unterminated-string", 'pipeline "p {\n}\n', "E090", 1, 10, 2),
    ("unknown-block", _HEAD + 'pipline "p" {\n  assets = ["fct_orders"]\n}\n', "E091", 4, 1, 1),
    ("unknown-attribute", _HEAD + 'pipeline "p" {\n  assets = ["fct_orders"]\n  shedule = "@daily"\n}\n',
     "E091", 6, 3, 1),
    ("missing-assets", _HEAD + 'pipeline "p" {\n  schedule = "@daily"\n}\n', "E091", 4, 1, 1),
    ("unknown-asset-in-after", _HEAD + 'task "t" {\n  command = "true"\n  after = ["fct_order"]\n}\n',
     "E092", 6, 12, 1),
    ("unknown-asset-in-pipeline", _HEAD + 'pipeline "p" {\n  assets = ["layer:mart"]\n}\n', "E092", 5, 13, 1),
    ("unknown-selector-method", _HEAD + 'pipeline "p" {\n  assets = ["lyr:marts"]\n}\n', "E094", 5, 13, 1),
    ("duplicate-pipeline", _HEAD + 'pipeline "p" {\n  assets = ["fct_orders"]\n}\n'
     'pipeline "p" {\n  assets = ["dim_customers"]\n}\n', "E093", 7, 10, 1),
    ("duplicate-attribute", _HEAD + 'pipeline "p" {\n  assets = ["fct_orders"]\n  sla = 1h\n  sla = 2h\n}\n',
     "E093", 7, 3, 1),
    ("asset-in-two-pipelines", _HEAD + 'pipeline "a" {\n  assets = ["fct_orders"]\n}\n'
     'pipeline "b" {\n  assets = ["+fct_orders"]\n}\n', "E093", 8, 12, 1),
    ("task-named-like-a-model", _HEAD + 'task "fct_orders" {\n  command = "true"\n}\n', "E093", 4, 6, 1),
    ("cycle-through-tasks", _HEAD + 'task "a" {\n  command = "true"\n  after = ["fct_orders"]\n'
     '  before = ["stg_orders"]\n}\n', "E020", 4, 1, 1),
    ("bad-duration-unit", _HEAD + 'pipeline "p" {\n  assets = ["fct_orders"]\n  sla = 5x\n}\n', "E094", 6, 9, 1),
    ("zero-duration", _HEAD + 'pipeline "p" {\n  assets = ["fct_orders"]\n  sla = 0h\n}\n', "E040", 6, 9, 1),
    ("absurd-duration", _HEAD + 'pipeline "p" {\n  assets = ["fct_orders"]\n  sla = 99999999999w\n}\n',
     "E094", 6, 9, 1),
    ("duration-as-string", _HEAD + 'pipeline "p" {\n  assets = ["fct_orders"]\n  sla = "2h"\n}\n',
     "E094", 6, 9, 1),
    ("bad-cron", _HEAD + 'pipeline "p" {\n  assets = ["fct_orders"]\n  schedule = "0 25 * * *"\n}\n',
     "E030", 6, 14, 1),
    ("unknown-check-kind", _HEAD + 'asset "fct_orders" {\n  check "rows" {\n    min_rows = 1\n  }\n}\n',
     "E091", 5, 9, 1),
    ("check-missing-sql", _HEAD + 'asset "fct_orders" {\n  check "sql" {\n    level = warn\n  }\n}\n',
     "E091", 5, 3, 1),
    ("bad-level", _HEAD + 'asset "fct_orders" {\n  check "sql" {\n    sql = "select true"\n    level = loud\n'
     '  }\n}\n', "E094", 7, 13, 1),
    ("missing-include", 'include "nowhere.orch"\n', "E095", 1, 9, 2),
    ("include-cycle", 'include "bad.orch"\n', "E095", 1, 9, 2),
    ("task-without-command", _HEAD + 'task "t" {\n  after = ["fct_orders"]\n}\n', "E091", 4, 1, 1),
    ("path-as-pipeline-name", _HEAD + 'pipeline "../../x" {\n  assets = ["fct_orders"]\n}\n', "E094", 4, 10, 1),
    ("space-in-task-name", _HEAD + 'task "a b" {\n  command = "true"\n}\n', "E094", 4, 6, 1),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_spec_gives_a_located_diagnostic(specs, case):
    _, text, code, line, col, exit_code = case
    path = specs / "bad.orch"
    path.write_text(text)
    try:
        result = orch("check", str(path), "--format", "json", cwd=specs)
        assert result.returncode == exit_code, result.stderr
        found = json.loads(result.stderr[:result.stderr.rindex("]") + 1])
        hits = [d for d in found if d["code"] == code]
        assert hits, found
        where = hits[0]["location"]
        assert (where["path"], where["line"], where["col"]) == (str(path), line, col), hits[0]
        # Every spec diagnostic quotes the line and puts a caret under the column.
        message = hits[0]["message"]
        if code != "E020":
            source_line, caret = message.splitlines()[-2:]
            assert source_line.split("| ", 1)[1] == text.split("\n")[line - 1]
            assert caret.index("^") - caret.index("|") - 2 == col - 1
        # The text form is file:line:col first, as editors expect.
        text_form = orch("check", str(path), cwd=specs).stderr
        assert f"{path}:{line}:{col}: error[{code}]" in text_form
        assert "Traceback" not in text_form
    finally:
        path.unlink()


def test_unknown_names_suggest_the_closest(specs):
    path = specs / "typo.orch"
    path.write_text(_HEAD + 'task "t" {\n  command = "true"\n  after = ["fct_order", "dim_customer"]\n}\n'
                    'pipline "p" {\n  assets = []\n}\n')
    try:
        text = orch("check", str(path), cwd=specs).stderr
    finally:
        path.unlink()
    assert "unknown asset in after 'fct_order'; did you mean 'fct_orders' or" in text
    assert "unknown asset in after 'dim_customer'; did you mean 'dim_customers' or" in text
    assert "unknown block 'pipline'; did you mean 'pipeline'?" in text
    assert "Traceback" not in text


def test_syntax_error_says_what_was_expected(tmp_path):
    path = tmp_path / "s.orch"
    path.write_text('pipeline "p" {\n  sla = = 2h\n}\n')
    with pytest.raises(CompileError) as info:
        dsl_syntax.read_spec(str(path))
    message = info.value.diagnostics[0].message
    assert message.startswith("unexpected '='; expected '[', a duration such as 90m, a name, a number or a quoted")
    assert message.endswith("   2 |   sla = = 2h\n     |         ^")


def test_fmt_reports_syntax_errors_without_writing(tmp_path):
    path = tmp_path / "s.orch"
    path.write_text('asset "x" {\n')
    result = orch("fmt", str(path))
    assert result.returncode == 2
    assert f"{path}:1:12: error[E090]: unexpected end of file" in result.stderr
    assert path.read_text() == 'asset "x" {\n'


# -- properties -----------------------------------------------------------------------------------------

_names = st.sampled_from(["schedule", "sla", "owner", "assets", "tags", "critical", "column", "max_age", "x_1"])
_strings = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
_scalars = st.one_of(
    _strings.map(lambda s: dsl_syntax.quote(s)),
    st.integers(0, 10**6).map(str),
    st.tuples(st.integers(1, 999), st.sampled_from("smhdw")).map(lambda t: f"{t[0]}{t[1]}"),
    st.sampled_from(["true", "false", "warn", "error"]),
    st.text(alphabet="abc \nSELECT*=1", max_size=30).filter(lambda s: '"""' not in s).map(lambda s: f'"""{s}"""'),
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
                       max_leaves=6)
_comment = st.one_of(st.just(""), st.text(alphabet="abc #/", max_size=10).map(lambda s: f"  # {s}"))


@st.composite
def _blocks(draw, depth=0):
    kind = draw(st.sampled_from(["pipeline", "asset", "task", "check", "defaults", "freshness"]))
    labels = draw(st.lists(_strings.map(dsl_syntax.quote), max_size=2))
    lines = [f"{kind} {' '.join(labels)} {{{draw(_comment)}"]
    for _ in range(draw(st.integers(0, 4))):
        if depth < 2 and draw(st.booleans()) and draw(st.booleans()):
            lines.extend(draw(_blocks(depth + 1)).split("\n"))
        else:
            sep = draw(st.sampled_from([" = ", "=", "   =  "]))
            lines.append(f"{draw(_names)}{sep}{draw(_values)}{draw(_comment)}")
    lines.append("}" + draw(_comment))
    return "\n".join(lines)


_specs = st.lists(st.one_of(_blocks(), _strings.map(lambda s: f"include {dsl_syntax.quote(s)}"),
                            st.text(alphabet="ab #", max_size=8).map(lambda s: f"# {s}")), max_size=5).map(
    lambda items: "\n".join(items) + "\n")


def _shape(spec: dsl_syntax.Spec):
    """The syntax tree without positions and layout, plus every comment in order."""
    def value(v):
        return ("list", [value(e) for e in v.value]) if v.kind == "list" else (v.kind, v.value)

    def node(n):
        if isinstance(n, dsl_syntax.Include):
            return ("include", n.path.value)
        if isinstance(n, dsl_syntax.Attribute):
            return ("attr", n.name, value(n.value))
        return ("block", n.type, [label.value for label in n.labels], [node(m) for m in n.members])

    return [node(item) for item in spec.items]


def _comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


@settings(max_examples=300, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
@given(_specs)
def test_valid_specs_round_trip_through_fmt(text):
    spec = dsl_syntax.parse(text, "gen.orch")
    formatted = dsl_syntax.format_spec(spec)
    again = dsl_syntax.parse(formatted, "gen.orch")
    assert _shape(again) == _shape(spec)
    assert dsl_syntax.format_spec(again) == formatted
    # No comment is lost: each one is still there, in order.
    original = [c for c in (t.strip() for t in text.splitlines()) if c.startswith("#")]
    kept = "\n".join(formatted.splitlines())
    for comment in original:
        assert comment.split("#", 1)[1].strip() in kept


_tokens = st.sampled_from(['pipeline', 'asset', 'task', '"x"', '{', '}', '[', ']', ',', '=', '2h', '5x', '-1d', '12',
                           'true', '"""', '"', '\\', '#', '\n', ' ', 'include', 'check', '"sql"', 'é', '\x00', '//',
                           '0.5', '1e9', '"\\u12"', '"\\q"', '\t', '\r'])


@settings(max_examples=500, deadline=timedelta(seconds=5))
@given(st.one_of(st.lists(_tokens, max_size=40).map("".join), st.text(max_size=200)))
def test_fuzzed_text_never_raises_anything_but_diagnostics(text):
    try:
        spec = dsl_syntax.parse(text, "fuzz.orch")
    except CompileError as exc:
        d = exc.diagnostics[0]
        assert d.code.value == "E090" and d.span.line is not None and d.span.col is not None
        return
    dsl_syntax.parse(dsl_syntax.format_spec(spec), "fuzz.orch")


@settings(max_examples=60, deadline=timedelta(seconds=10),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_tokens, max_size=30).map("".join))
def test_fuzzed_specs_lower_to_ir_or_diagnostics(specs, text):
    path = specs / "fuzz.orch"
    path.write_text(_HEAD + text, encoding="utf-8", errors="surrogatepass")
    try:
        build([str(path)], BuildOptions())
    except CompileError as exc:
        assert all(d.span.path for d in exc.diagnostics)
    finally:
        path.unlink()


def test_overlay_runner_partition_and_sql_task(specs, tmp_path):
    path = specs / "overlay_more.orch"
    path.write_text(_HEAD + textwrap.dedent('''\
        asset "fct_orders" {
          partition {
            field       = "order_date"
            granularity = month
            start       = "2018-01-01"
          }
        }

        task "vacuum" {
          sql        = "CHECKPOINT"
          connection = "warehouse"
          after      = ["dim_customers"]
        }
        '''))
    try:
        project, diagnostics = build([str(path)], BuildOptions())
        assert not [d for d in diagnostics if d.is_error], [d.render() for d in diagnostics]
        assets = project.asset_map()
        part = assets["model.jaffle_shop.fct_orders"].partitioning  # meta said day, from 2026-11-01
        assert (part.field, part.granularity, str(part.start)) == ("order_date", "month", "2018-01-01")
        vacuum = assets["task.vacuum"].runner
        assert (vacuum.sql, vacuum.dialect, vacuum.connection, vacuum.destination) == (
            "CHECKPOINT", "duckdb", "warehouse", None)
        result = orch("compile", str(path), "-t", "airflow", "-o", str(tmp_path))
        assert result.returncode == 0, result.stderr
        dag = next(p for p in (tmp_path / "airflow").glob("*.py") if "vacuum" in p.read_text())
        assert "SQLExecuteQueryOperator(" in dag.read_text() and 'sql=["CHECKPOINT"]' in dag.read_text()
        # The Dagster backend does not run SQL tasks, and says so by name.
        result = orch("compile", str(path), "-t", "dagster", "-o", str(tmp_path))
        assert result.returncode == 1 and "error[E063]" in result.stderr and "vacuum" in result.stderr

        # A runner overlay reaches the dbt frontend: the sql runner needs compiled SQL,
        # which a `dbt parse` manifest lacks, so the model is named in E080.
        path.write_text(_HEAD + 'asset "fct_orders" {\n  runner = "sql"\n}\n')
        result = orch("check", str(path))
        assert result.returncode == 1 and "error[E080]: fct_orders: the sql runner" in result.stderr
    finally:
        path.unlink()


def test_a_dbt_source_that_sqlmesh_builds_is_joined_to_the_model(specs):
    manifest = json.loads((specs / "jaffle_shop" / "target" / "manifest.json").read_text())
    manifest["sources"]["source.jaffle_shop.raw.orders"].update(schema="shop", identifier="regions")
    edited = specs / "jaffle_shop" / "target" / "edited_manifest.json"
    edited.write_text(json.dumps(manifest))
    path = specs / "reverse.orch"
    path.write_text('dbt "jaffle" {\n  manifest = "jaffle_shop/target/edited_manifest.json"\n}\n\n'
                    'sqlmesh "metrics" {\n  project = "shop_metrics"\n}\n')
    try:
        project, diagnostics = build([str(path)], BuildOptions())
    finally:
        path.unlink()
        edited.unlink()
    assets = project.asset_map()
    assert assets["model.jaffle_shop.stg_orders"].upstream == ("sqlmesh.shop.regions",)
    # ... while SQLMesh reads marts.fct_orders, which dbt builds downstream of it: one graph.
    assert "model.jaffle_shop.fct_orders" in assets["sqlmesh.shop.daily_revenue"].upstream
    assert not [d for d in diagnostics if d.is_error]
