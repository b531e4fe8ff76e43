"""Few selectors for many nodes (compiler/selection.py): dbt selects exactly the same nodes.

The oracle is orch's emulation of dbt's `fqn` selector method, which
tests/test_dbt_select.py checks against real `dbt ls`; the same file checks
covers of the example project against `dbt ls` itself.
"""

from __future__ import annotations

import random

import pytest

from orch.compiler import ir, selection
from orch.compiler.frontends import dbt_select


def node(uid: str, *fqn: str, versioned: bool = False, parents: tuple[str, ...] = ()) -> ir.DbtNode:
    return ir.DbtNode(unique_id=uid, fqn=fqn, versioned=versioned, parents=parents)


def selected(project: ir.DbtProject, selectors: list[str], *, cautious: bool) -> set[str]:
    """What dbt builds for `--select *selectors` with that indirect selection, by dbt's matching rules."""
    graph = dbt_select.SelectionGraph(
        [dbt_select.GraphNode(unique_id=n.unique_id, resource_type=n.unique_id.split(".")[0], name=n.fqn[-1],
                              package=n.fqn[0], fqn=n.fqn, path="", versioned=n.versioned)
         for n in project.nodes], {})
    direct: set[str] = set()
    for sel in selectors:
        direct |= dbt_select._search(graph, "fqn", [], sel)
    if cautious:
        direct |= {n.unique_id for n in project.nodes if n.parents and set(n.parents) <= direct}
    return direct


def own(project: ir.DbtProject, uids) -> dict[str, str]:
    by_id = {n.unique_id: n for n in project.nodes}
    return {uid: ".".join(by_id[uid].fqn) for uid in uids}


def assert_same(project: ir.DbtProject, wanted, *, cautious: bool, exact: bool = True) -> list[str]:
    """The cover of `wanted`, checked to select what the nodes' own selectors select.

    Not `exact`: a node's own selector may also match another node by name
    (dbt matches last names too); the cover never selects more than the list,
    and never less than the wanted nodes."""
    selectors = own(project, wanted)
    covered = selection.cover(project, selectors, cautious=cautious)
    ours = selected(project, covered, cautious=cautious)
    theirs = selected(project, sorted(selectors.values()), cautious=cautious)
    if exact:
        assert ours == theirs
    else:
        assert set(wanted) <= ours <= theirs
    return covered


SHOP = ir.DbtProject(project_dir="shop", nodes=(
    node("model.shop.stg_a", "shop", "staging", "stg_a"),
    node("model.shop.stg_b", "shop", "staging", "stg_b"),
    node("test.shop.not_null_stg_a", "shop", "staging", "not_null_stg_a", parents=("model.shop.stg_a",)),
    node("test.shop.source_test", "shop", "staging", "source_test", parents=("source.shop.raw.a",)),
    node("model.shop.fct", "shop", "marts", "fct"),
    node("model.shop.dim", "shop", "marts", "core", "dim"),
    node("test.shop.rel_fct_stg_a", "shop", "marts", "rel_fct_stg_a",
         parents=("model.shop.fct", "model.shop.stg_a")),
))


def test_a_folder_whose_every_node_is_wanted_is_one_selector():
    wanted = ["model.shop.fct", "model.shop.dim", "test.shop.rel_fct_stg_a"]
    assert assert_same(SHOP, wanted, cautious=False) == ["shop.marts"]


def test_a_folder_holding_an_unwanted_node_is_not_named():
    # The source test sits beside the staging models: naming the folder would run it.
    wanted = ["model.shop.stg_a", "model.shop.stg_b", "test.shop.not_null_stg_a"]
    assert assert_same(SHOP, wanted, cautious=False) == [
        "shop.staging.not_null_stg_a", "shop.staging.stg_a", "shop.staging.stg_b"]


def test_cautious_selection_lets_a_folder_name_the_tests_dbt_would_pick_anyway():
    # With stg_a built too, cautious selection picks the test reading fct and
    # stg_a: the marts folder may name it. The source test keeps staging out.
    assert assert_same(SHOP, ["model.shop.stg_a", "model.shop.stg_b", "model.shop.fct", "model.shop.dim"],
                       cautious=True) == ["shop.marts", "shop.staging.stg_a", "shop.staging.stg_b"]
    # Without stg_a that test is not dbt's to pick, so marts is named node by node.
    assert assert_same(SHOP, ["model.shop.fct", "model.shop.dim"], cautious=True) == [
        "shop.marts.core", "shop.marts.fct"]


def test_a_whole_package_is_its_name():
    wanted = [n.unique_id for n in SHOP.nodes]
    assert assert_same(SHOP, wanted, cautious=False) == ["shop"]


@pytest.mark.parametrize("other", [
    # dbt matches a selector against every node's last name: a model called `shop`...
    node("model.lib.shop", "lib", "shop"),
    # ...against the fqn without its package: lib's folder `shop`...
    node("model.lib.x", "lib", "shop", "x"),
    # ...and against a versioned model's name.
    node("model.lib.shop.v2", "lib", "shop", "v2", versioned=True),
])
def test_a_selector_that_would_also_match_elsewhere_is_not_used(other):
    project = ir.DbtProject(project_dir="shop", nodes=(*SHOP.nodes, other))
    wanted = [n.unique_id for n in SHOP.nodes]
    covered = assert_same(project, wanted, cautious=False)
    assert "shop" not in covered
    assert covered == ["shop.marts", "shop.staging"]


def test_folders_named_like_wildcards_are_never_selectors():
    project = ir.DbtProject(project_dir="p", nodes=(
        node("model.p.a", "p", "f[1]", "a"), node("model.p.b", "p", "f[1]", "b"), node("model.p.c", "p", "c")))
    assert assert_same(project, ["model.p.a", "model.p.b"], cautious=False) == ["p.f[1].a", "p.f[1].b"]


def test_unknown_nodes_or_hand_written_selectors_leave_the_list_as_it_is():
    assert selection.cover(SHOP, {"model.shop.gone": "shop.gone", "model.shop.fct": "shop.marts.fct"},
                           cautious=False) == ["shop.gone", "shop.marts.fct"]
    assert selection.cover(SHOP, {"model.shop.fct": "+fct"}, cautious=False) == ["+fct"]
    assert selection.cover(None, {"model.shop.fct": "shop.marts.fct"}, cautious=False) == ["shop.marts.fct"]


def test_random_projects_select_the_same_nodes():
    rng = random.Random(20261207)
    names = ["a", "b", "core", "marts", "shop", "lib", "stg", "x"]
    shrunk = 0
    for _ in range(300):
        nodes: dict[str, ir.DbtNode] = {}
        for i in range(rng.randint(1, 25)):
            package = rng.choice(["shop", "lib"])
            fqn = (package, *rng.sample(names, rng.randint(0, 2)), rng.choice(names + [f"m{i}"]))
            kind = rng.choice(["model", "model", "test", "seed"])
            uid = f"{kind}.{package}.{i}"
            models = [u for u in nodes if u.startswith("model.")]
            parents = tuple(rng.sample(models, min(len(models), rng.randint(1, 2)))) if kind == "test" else ()
            versioned = kind == "model" and rng.random() < 0.1
            if versioned:  # a versioned model's fqn ends in its version
                fqn = (*fqn, f"v{rng.randint(1, 2)}")
            nodes[uid] = node(uid, *fqn, versioned=versioned, parents=parents)
        project = ir.DbtProject(project_dir="p", nodes=tuple(nodes.values()))
        # Whole folders now and then, so that there is something to shrink.
        folder = rng.choice(list(nodes.values())).fqn[:2]
        wanted = [u for u, n in nodes.items() if n.fqn[:2] == folder or rng.random() < 0.3]
        for cautious in (False, True):
            covered = assert_same(project, wanted, cautious=cautious, exact=False)
            shrunk += len(covered) < len(set(own(project, wanted).values()))
    assert shrunk > 50, "the cases should exercise folder selectors, not only the fallback"
