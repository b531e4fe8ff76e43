"""The health-check SQL the backends generate: names stay quoted identifiers,
whatever they contain, and the fast freshness query is sqlglot's own."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from orch.compiler import ir, sqlgen
from orch.compiler.shared import checksql

_NAMES = st.text(min_size=1, max_size=30) | st.sampled_from(
    ["__orch_table__", "__orch_column__", "987654321", 'x"y', "it's", "`tick`", "a b", "select"])


@settings(max_examples=300, deadline=None)
@given(_NAMES, st.one_of(st.none(), _NAMES), _NAMES, st.integers(1, 10**9),
       st.sampled_from(["duckdb", "bigquery", "ansi", "postgres", "snowflake"]))
def test_freshness_query_is_what_sqlglot_renders(name, schema, column, seconds, dialect):
    """The query filled into a template rendered once equals the query sqlglot
    renders for these very names, even names that look like the template's
    stand-ins."""
    relation = ir.Relation(schema=schema, name=name)
    tree = checksql.freshness_verdict(sqlgen._table_expr(relation), column, seconds)
    assert sqlgen.freshness_check(relation, column, seconds, dialect) == sqlgen.render(tree, dialect)


def test_freshness_query_runs_on_duckdb_against_tables_named_like_its_stand_ins():
    con = duckdb.connect()
    con.execute('CREATE TABLE "__orch_table__" ("__orch_column__" TIMESTAMP)')
    con.execute('INSERT INTO "__orch_table__" VALUES (now() - INTERVAL 2 HOUR)')
    relation = ir.Relation(name="__orch_table__")
    assert con.execute(sqlgen.freshness_check(relation, "__orch_column__", 3 * 3600, "duckdb")).fetchall() == [(True,)]
    assert con.execute(sqlgen.freshness_check(relation, "__orch_column__", 3600, "duckdb")).fetchall() == [(False,)]
