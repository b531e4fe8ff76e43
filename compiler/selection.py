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

from collections.abc import Iterable, Mapping

from compiler import ir

_WILDCARDS = frozenset("*?[]")
# Nodes `dbt build` selects but never runs, and no test waits on: naming them changes nothing.
_INERT = ("exposure.", "metric.", "semantic_model.", "analysis.")


def _flat(fqn: Iterable[str]) -> tuple[str, ...]:
    # dbt splits dotted segments (a dotted model name) before it compares parts.
    return tuple(part for segment in fqn for part in segment.split("."))


class _Matches:
    """Whether a dotted selector could match any of `nodes`, by dbt's `fqn` rules."""

    def __init__(self, nodes: Iterable[ir.DbtNode]):
        self.prefixes: set[tuple[str, ...]] = set()
        self.names: set[str] = set()
        for node in nodes:
            for fqn in (node.fqn, node.fqn[1:]):
                flat = _flat(fqn)
                self.prefixes.update(flat[:i] for i in range(1, len(flat) + 1))
            if node.versioned and len(node.fqn) >= 2:
                self.names.add(node.fqn[-2])
                self.names.add("_".join(node.fqn[-2:]))
            else:
                self.names.add(node.fqn[-1])

    def any(self, parts: tuple[str, ...]) -> bool:
        return (parts in self.prefixes or ".".join(parts) in self.names
                or "_".join(parts[-2:]) in self.names)


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
    by_id = {node.unique_id: node for node in project.nodes}
    wanted = set(selectors)
    if any(uid not in by_id or selectors[uid] != ".".join(by_id[uid].fqn) for uid in wanted):
        return fallback
    allowed = wanted | {n.unique_id for n in project.nodes if n.unique_id.startswith(_INERT)}
    if cautious:
        allowed |= {n.unique_id for n in project.nodes if n.parents and set(n.parents) <= wanted}
    others = _Matches(n for n in project.nodes if n.unique_id not in allowed)

    wanted_under: dict[tuple[str, ...], int] = {}
    children: dict[tuple[str, ...], set[str]] = {}
    at: dict[tuple[str, ...], list[str]] = {}
    for node in project.nodes:
        flat = _flat(node.fqn)
        at.setdefault(flat, []).append(node.unique_id)
        for i in range(1, len(flat) + 1):
            children.setdefault(flat[:i - 1], set()).add(flat[i - 1])
            if node.unique_id in wanted:
                wanted_under[flat[:i]] = wanted_under.get(flat[:i], 0) + 1

    out: list[str] = []

    def walk(prefix: tuple[str, ...]) -> None:
        if not wanted_under.get(prefix):
            return
        if not any(c in _WILDCARDS for part in prefix for c in part) and not others.any(prefix):
            out.append(".".join(prefix))
            return
        out.extend(selectors[uid] for uid in at.get(prefix, ()) if uid in wanted)
        for child in sorted(children.get(prefix, ())):
            walk((*prefix, child))

    for root in sorted(children.get((), ())):
        walk((root,))
    return sorted(set(out))
