"""orch's dbt selection agrees with real `dbt ls` on the example project."""

from __future__ import annotations

import json

import pytest

from orch.compiler import selection
from orch.compiler.driver import BuildOptions, build
from orch.compiler.frontends import dbt, dbt_select

pytestmark = pytest.mark.dbt

RESOURCE_TYPES = ("model", "seed", "snapshot", "source", "exposure")

# (select, exclude): the forms people write, one case per line.
CASES = [
    ("stg_orders", None),
    ("jaffle_shop.staging.stg_orders", None),
    ("staging.*", None),
    ("*customers", None),
    ("marts", None),
    ("tag:orders", None),
    ("tag:orders,tag:finance", None),
    ("tag:orders tag:payments", None),
    ("path:models/staging", None),
    ("models/marts", None),
    ("fct_orders.sql", None),
    ("config.materialized:view", None),
    ("config.materialized:ephemeral+", None),
    ("config.materialized:incremental,tag:finance", None),
    ("resource_type:seed", None),
    ("resource_type:snapshot package:jaffle_shop", None),
    ("+fct_orders", None),
    ("fct_orders+", None),
    ("1+fct_orders", None),
    ("2+fct_orders", None),
    ("stg_orders+1", None),
    ("@stg_payments", None),
    ("source:raw+", None),
    ("source:raw.orders+1", None),
    ("+exposure:revenue_dashboard", None),
    ("marts.*,config.materialized:table", None),
    ("+fct_orders", "source:*"),
    ("+dim_customers", "stg_customers"),
    (None, "tag:orders"),
    ("staging marts", "config.materialized:view"),
]


@pytest.fixture(scope="module")
def dbt_ls(example_project):
    from dbt.cli.main import dbtRunner

    common = ["--project-dir", str(example_project), "--profiles-dir", str(example_project), "--quiet"]
    parsed = dbtRunner().invoke(["parse", *common])
    assert parsed.success, parsed.exception
    runner = dbtRunner(manifest=parsed.result)

    def ls(select, exclude, *, indirect: str | None = None, types=RESOURCE_TYPES) -> set[str]:
        args = ["ls", *common, "--output", "json", "--output-keys", "unique_id"]
        for rtype in types:
            args += ["--resource-type", rtype]
        if select:
            args += ["--select", *select.split()]
        if exclude:
            args += ["--exclude", exclude]
        if indirect:
            args += ["--indirect-selection", indirect]
        result = runner.invoke(args)
        assert result.success, result.exception
        return {json.loads(line)["unique_id"] for line in result.result}

    return ls


@pytest.mark.parametrize(("select", "exclude"), CASES, ids=[f"{s}|{e}" for s, e in CASES])
def test_selection_matches_dbt_ls(select, exclude, dbt_ls, example_manifest):
    manifest = json.loads(example_manifest.read_text())
    graph = dbt.selection_graph(manifest)
    ours = {
        uid for uid in dbt_select.select(graph, select, exclude)
        if graph.nodes[uid].resource_type in RESOURCE_TYPES
    }
    theirs = dbt_ls(select, exclude)
    assert theirs, "each case should select something, or it proves little"
    assert ours == theirs


def test_compile_schedules_exactly_the_selected_buildable_nodes(example_manifest):
    project, _ = build([str(example_manifest)], BuildOptions(select="+fct_orders", exclude="source:*"))
    scheduled = {k for p in project.pipelines for k in p.assets}
    assert scheduled == {
        "model.jaffle_shop.fct_orders",
        "model.jaffle_shop.stg_orders",
        "model.jaffle_shop.stg_payments",
    }
    # What the selection reads but does not build stays in the IR, without a runner.
    external = {a.key for a in project.assets if a.runner is None}
    assert "source.jaffle_shop.raw.orders" in external


def test_runner_selectors_pick_exactly_their_node(example_manifest, dbt_ls):
    """The `--select` each generated task passes to dbt matches that one node."""
    project, _ = build([str(example_manifest)], BuildOptions())
    for asset in project.assets:
        if asset.runner is not None:
            assert dbt_ls(asset.runner.select, None) == {asset.key}


@pytest.mark.parametrize("bad", ["nosuchmethod:x", "@x+", "source:a.b.c.d", "resource_type:nope"])
def test_invalid_selectors_are_errors(bad, example_manifest):
    graph = dbt.selection_graph(json.loads(example_manifest.read_text()))
    with pytest.raises(dbt_select.SelectorError):
        dbt_select.select(graph, bad)


@pytest.mark.parametrize("indirect", ["empty", "cautious"])
def test_covers_select_what_the_node_lists_select(indirect, example_manifest, dbt_ls):
    """The few selectors a generated run passes dbt build exactly what one selector per node builds."""
    project, _ = build([str(example_manifest)], BuildOptions())
    (dbt_project,) = project.dbt_projects
    fqn = {n.unique_id: ".".join(n.fqn) for n in dbt_project.nodes}
    built = {n.unique_id for n in dbt_project.nodes if n.unique_id.split(".")[0] in ("model", "seed", "snapshot")}
    tests = {n.unique_id for n in dbt_project.nodes if n.unique_id.startswith("test.")}
    wanted_sets = [
        built,
        built | (tests if indirect == "empty" else set()),
        {u for u in built if ".stg_" in u},
        {u for u in built if ".stg_" not in u},
    ]
    types = ("model", "seed", "snapshot", "test", "unit_test")
    shrunk = 0
    for wanted in wanted_sets:
        own = {u: fqn[u] for u in wanted}
        covered = selection.cover(dbt_project, own, cautious=indirect == "cautious")
        shrunk += len(covered) < len(own)
        assert dbt_ls(" ".join(covered), None, indirect=indirect, types=types) == dbt_ls(
            " ".join(sorted(own.values())), None, indirect=indirect, types=types)
    assert shrunk, "some wanted set should fold into folder selectors"
