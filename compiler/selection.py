"""Few dbt selectors for many nodes, selecting exactly the same nodes.

dbt resolves every `--select` selector against every node of the project, so a
build that names a pipeline's models one by one spends time in selection that
grows with models x nodes: on a 1,000-model project, `dbt build` given 2,000
node selectors chose for 57 s before it built anything, longer than the build.
Where every node under a folder of the project (a prefix of the nodes' `fqn`)
is wanted, one selector names the folder instead.

A folder selector is used only if, by dbt's own matching rules (the `fqn`
method, `dbt/graph/selector_methods.py`, emulated in `frontends/dbt_select.py`
and checked against real `dbt ls`), it matches no node that the long list would
not have selected: dbt also matches a selector against a node's last name, a
versioned model's name and the `fqn` without its package, so a folder called
like a model elsewhere is not used. Nodes outside any such folder keep their
own selectors. The result holds for the manifest it was computed from; a node
added to a folder later is selected too, as it would be by a folder selector
written by hand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from orch.compiler import ir

_WILDCARDS = frozenset("*?[]")
# Nodes `dbt build` selects but never runs, and no test waits on: naming them changes nothing.
_INERT = ("exposure.", "metric.", "semantic_model.", "analysis.")


def _flat(fqn: Iterable[str]) -> tuple[str, ...]:
    # dbt splits dotted segments (a dotted model name) before it compares parts.
    return tuple(part for segment in fqn for part in segment.split("."))


def test_selector(check: ir.Check) -> str:
    """The selector that names a dbt test alone (its fqn, from the dbt frontend)."""
    if isinstance(check.params, ir.DbtTestParams) and check.params.dbt_select:
        return check.params.dbt_select
    return check.name


def _keys(node: ir.DbtNode) -> tuple[frozenset[tuple[str, ...]], frozenset[str]]:
    """What a dotted selector must be to match `node` by dbt's `fqn` rules: one of
    these part-prefixes (of its fqn, or of its fqn without the package), or one of these names."""
    prefixes = set()
    for fqn in (node.fqn, node.fqn[1:]):
        flat = _flat(fqn)
        prefixes.update(flat[:i] for i in range(1, len(flat) + 1))
    if node.versioned and len(node.fqn) >= 2:
        names = {node.fqn[-2], "_".join(node.fqn[-2:])}
    else:
        names = {node.fqn[-1]}
    return frozenset(prefixes), frozenset(names)


class _Index:
    """One project's nodes arranged for `cover`, built once: a compile asks for a
    cover per pipeline, and each is then in proportion to that pipeline."""

    def __init__(self, project: ir.DbtProject):
        self.project = project
        self.by_id = {node.unique_id: node for node in project.nodes}
        self.keys = {node.unique_id: _keys(node) for node in project.nodes}
        self.prefix_count: Counter[tuple[str, ...]] = Counter()
        self.name_count: Counter[str] = Counter()
        for prefixes, names in self.keys.values():
            self.prefix_count.update(prefixes)
            self.name_count.update(names)
        self.inert = {n.unique_id for n in project.nodes if n.unique_id.startswith(_INERT)}
        self.tests_of: dict[str, list[ir.DbtNode]] = {}
        self.children: dict[tuple[str, ...], set[str]] = {}
        self.at: dict[tuple[str, ...], list[str]] = {}
        for node in project.nodes:
            for parent in set(node.parents):
                self.tests_of.setdefault(parent, []).append(node)
            flat = _flat(node.fqn)
            self.at.setdefault(flat, []).append(node.unique_id)
            for i in range(1, len(flat) + 1):
                self.children.setdefault(flat[:i - 1], set()).add(flat[i - 1])


_INDEXES: dict[int, _Index] = {}


def _index(project: ir.DbtProject) -> _Index:
    # By identity: the backends pass the same project object for every pipeline.
    found = _INDEXES.get(id(project))
    if found is None or found.project is not project:
        if len(_INDEXES) >= 8:
            _INDEXES.clear()
        found = _INDEXES[id(project)] = _Index(project)
    return found


def cover(project: ir.DbtProject | None, selectors: Mapping[str, str], *, cautious: bool) -> list[str]:
    """Selectors that make dbt select what `selectors` (unique_id -> its own selector) select.

    `cautious` is `--indirect-selection cautious`: a test all of whose parents
    are wanted is picked by dbt anyway, so a folder may also name it. Without
    it (`empty`), only the wanted nodes may be named. The list is returned
    unchanged unless every node is known and named by its `fqn`.
    """
    fallback = sorted(set(selectors.values()))
    if project is None:
        return fallback
    index = _index(project)
    wanted = set(selectors)
    if any(uid not in index.by_id or selectors[uid] != ".".join(index.by_id[uid].fqn) for uid in wanted):
        return fallback
    allowed = wanted | index.inert
    if cautious:
        allowed |= {t.unique_id for uid in wanted for t in index.tests_of.get(uid, ()) if set(t.parents) <= wanted}
    # A selector is safe when every node it matches is allowed: the project's
    # count of nodes matching it is the allowed nodes' count.
    allowed_prefixes: Counter[tuple[str, ...]] = Counter()
    allowed_names: Counter[str] = Counter()
    for uid in allowed:
        prefixes, names = index.keys[uid]
        allowed_prefixes.update(prefixes)
        allowed_names.update(names)

    def matches_others(parts: tuple[str, ...]) -> bool:
        return (index.prefix_count[parts] > allowed_prefixes[parts]
                or any(index.name_count[name] > allowed_names[name]
                       for name in (".".join(parts), "_".join(parts[-2:]))))

    wanted_under: Counter[tuple[str, ...]] = Counter()
    for uid in wanted:
        flat = _flat(index.by_id[uid].fqn)
        wanted_under.update(flat[:i] for i in range(1, len(flat) + 1))

    out: list[str] = []

    def walk(prefix: tuple[str, ...]) -> None:
        if not wanted_under[prefix]:
            return
        if not any(c in _WILDCARDS for part in prefix for c in part) and not matches_others(prefix):
            out.append(".".join(prefix))
            return
        out.extend(selectors[uid] for uid in index.at.get(prefix, ()) if uid in wanted)
        for child in sorted(index.children.get(prefix, ())):
            walk((*prefix, child))

    for root in sorted(index.children.get((), ())):
        walk((root,))
    return sorted(set(out))
