"""dbt's node selection syntax, evaluated on a manifest without running dbt.

Covers the forms people write in `--select`/`--exclude`: bare names and
dotted FQNs (with `*` wildcards), file paths, `tag:`, `path:`, `fqn:`,
`package:`, `source:`, `exposure:`, `resource_type:`, `config.<key>:`, the
graph operators `+x`, `x+`, `n+x`, `x+n`, `@x`, unions (spaces) and
intersections (commas). The semantics follow dbt-core's `graph/` package and
are checked against real `dbt ls` in the test suite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatch
from typing import Any

import attrs

_RAW_SELECTOR = re.compile(
    r"\A"
    r"(?P<childrens_parents>@)?"
    r"(?P<parents>(?P<parents_depth>\d*)\+)?"
    r"((?P<method>[\w.]+):)?(?P<value>.*?)"
    r"(?P<children>\+(?P<children_depth>\d*))?"
    r"\Z"
)

_METHODS = frozenset(
    {"fqn", "tag", "path", "file", "package", "source", "exposure", "resource_type", "config"}
)


class SelectorError(ValueError):
    """A selector that dbt would reject too."""


@attrs.frozen(kw_only=True)
class GraphNode:
    """The fields of a manifest node that selection looks at."""

    unique_id: str
    resource_type: str
    name: str
    package: str
    fqn: tuple[str, ...]
    path: str
    patch_path: str | None = None
    tags: tuple[str, ...] = ()
    config: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    source_name: str | None = None
    versioned: bool = False


class SelectionGraph:
    """Nodes and parent/child edges, in dbt's terms."""

    def __init__(self, nodes: Iterable[GraphNode], parents: Mapping[str, Iterable[str]]):
        self.nodes = {n.unique_id: n for n in nodes}
        self.parents: dict[str, set[str]] = {uid: set() for uid in self.nodes}
        self.children: dict[str, set[str]] = {uid: set() for uid in self.nodes}
        for child, ups in parents.items():
            if child not in self.nodes:
                continue
            for parent in ups:
                if parent in self.nodes:
                    self.parents[child].add(parent)
                    self.children[parent].add(child)

    def _walk(self, start: set[str], edges: dict[str, set[str]], depth: int | None) -> set[str]:
        seen: set[str] = set()
        frontier = start
        level = 0
        while frontier and (depth is None or level < depth):
            nxt = {n for node in frontier for n in edges[node] if n not in seen}
            seen |= nxt
            frontier = nxt
            level += 1
        return seen

    def ancestors(self, start: set[str], depth: int | None = None) -> set[str]:
        return self._walk(start, self.parents, depth)

    def descendants(self, start: set[str], depth: int | None = None) -> set[str]:
        return self._walk(start, self.children, depth)


def _probably_path(value: str) -> bool:
    return "/" in value or "\\" in value


def _fqn_matches(fqn: tuple[str, ...], selector: str, versioned: bool) -> bool:
    if versioned:
        parts = selector.split(".")
        if fqn[-2] == selector or "_".join(fqn[-2:]) == "_".join(parts[-2:]):
            return True
    elif fqn[-1] == selector:
        return True
    flat = [item for segment in fqn for item in segment.split(".")]
    sel_parts = selector.split(".")
    if len(flat) < len(sel_parts):
        return False
    for i, part in enumerate(sel_parts):
        if any(w in part for w in "*?[]"):
            if fnmatch(".".join(flat[i:]), ".".join(sel_parts[i:])):
                return True
            if "." not in selector:
                return fnmatch(fqn[-2] if versioned else fqn[-1], selector)
            return False
        if flat[i] != part:
            return False
    return True


def _path_matches(node_path: str, selector: str) -> bool:
    pattern = selector.replace("\\", "/").rstrip("/")
    if pattern.startswith("./"):
        pattern = pattern[2:]
    path = node_path.replace("\\", "/")
    candidates = [path]
    parts = path.split("/")
    candidates += ["/".join(parts[:i]) for i in range(1, len(parts))]
    return any(c == pattern or fnmatch(c, pattern) for c in candidates)


def _config_matches(value: Any, selector: str) -> bool:
    values = value if isinstance(value, list) else [value]
    lowered = selector.lower()
    return any(
        v == selector
        or (lowered == "true" and v is True)
        or (lowered == "false" and v is False)
        for v in values
    )


_NON_SOURCE_FQN_TYPES = frozenset(
    {"model", "seed", "snapshot", "test", "analysis", "operation", "sql_operation",
     "exposure", "metric", "semantic_model", "saved_query", "unit_test", "function"}
)


def _by_fqn(nodes, args: list[str], value: str) -> set[str]:
    return {
        n.unique_id
        for n in nodes
        if n.resource_type in _NON_SOURCE_FQN_TYPES
        and (_fqn_matches(n.fqn, value, n.versioned)
             or (len(n.fqn) > 1 and _fqn_matches(n.fqn[1:], value, n.versioned)))
    }


def _by_tag(nodes, args: list[str], value: str) -> set[str]:
    return {n.unique_id for n in nodes if any(fnmatch(t, value) for t in n.tags)}


def _by_path(nodes, args: list[str], value: str) -> set[str]:
    return {
        n.unique_id
        for n in nodes
        if _path_matches(n.path, value)
        or (n.patch_path is not None and _path_matches(n.patch_path, value))
    }


def _by_file(nodes, args: list[str], value: str) -> set[str]:
    out = set()
    for n in nodes:
        base = n.path.replace("\\", "/").rsplit("/", 1)[-1]
        if fnmatch(base, value) or fnmatch(base.rsplit(".", 1)[0], value):
            out.add(n.unique_id)
    return out


def _by_package(nodes, args: list[str], value: str) -> set[str]:
    return {n.unique_id for n in nodes if fnmatch(n.package, value)}


def _by_source(nodes, args: list[str], value: str) -> set[str]:
    parts = value.split(".")
    if not 1 <= len(parts) <= 3:
        raise SelectorError(
            f"invalid source selector {value!r}: use source_name, "
            "source_name.table or package.source_name.table"
        )
    if len(parts) == 1:
        package, source, table = "*", parts[0], "*"
    elif len(parts) == 2:
        package, source, table = "*", *parts
    else:
        package, source, table = parts
    return {
        n.unique_id
        for n in nodes
        if n.resource_type == "source"
        and fnmatch(n.package, package)
        and fnmatch(n.source_name or "", source)
        and fnmatch(n.name, table)
    }


def _by_exposure(nodes, args: list[str], value: str) -> set[str]:
    parts = value.split(".")
    if len(parts) > 2:
        raise SelectorError(f"invalid exposure selector {value!r}")
    package, name = (["*", parts[0]] if len(parts) == 1 else parts)
    return {
        n.unique_id
        for n in nodes
        if n.resource_type == "exposure" and fnmatch(n.package, package) and fnmatch(n.name, name)
    }


def _by_resource_type(nodes, args: list[str], value: str) -> set[str]:
    known = _NON_SOURCE_FQN_TYPES | {"source"}
    if value not in known:
        raise SelectorError(f"invalid resource_type {value!r}; expected one of {sorted(known)}")
    return {n.unique_id for n in nodes if n.resource_type == value}


def _by_config(nodes, args: list[str], value: str) -> set[str]:
    if not args:
        raise SelectorError("config selectors name a key, as in config.materialized:table")
    out = set()
    for n in nodes:
        if n.resource_type not in ("model", "seed", "snapshot", "test", "analysis",
                                   "operation", "source"):
            continue
        value_at: Any = n.config
        try:
            for key in args:
                value_at = value_at[key]
        except (KeyError, TypeError):
            continue
        selector = value
        if args == ["severity"] and isinstance(value_at, str):
            value_at, selector = value_at.lower(), value.lower()
        if _config_matches(value_at, selector):
            out.add(n.unique_id)
    return out


#: The selector methods orch evaluates as dbt does, each over every node of the graph.
_METHODS = {"fqn": _by_fqn, "tag": _by_tag, "path": _by_path, "file": _by_file, "package": _by_package,
            "source": _by_source, "exposure": _by_exposure, "resource_type": _by_resource_type,
            "config": _by_config}


def _search(graph: SelectionGraph, method: str, args: list[str], value: str) -> set[str]:
    search = _METHODS.get(method)
    if search is None:
        raise SelectorError(f"{method!r} is not a selector method orch supports")
    return search(graph.nodes.values(), args, value)


def _select_one(graph: SelectionGraph, raw: str) -> set[str]:
    match = _RAW_SELECTOR.match(raw)
    if match is None or not match.group("value"):
        raise SelectorError(f"invalid selector {raw!r}")
    groups = match.groupdict()
    value = groups["value"]
    if groups["method"]:
        method, *args = groups["method"].split(".")
        if method not in _METHODS:
            raise SelectorError(f"{method!r} is not a valid selector method")
    elif _probably_path(value):
        method, args = "path", []
    elif value.lower().endswith((".sql", ".py", ".csv")):
        method, args = "file", []
    else:
        method, args = "fqn", []
    if groups["childrens_parents"] and groups["children"]:
        raise SelectorError(f'invalid selector {raw!r}: "@" and a trailing "+" cannot be combined')
    selected = _search(graph, method, args, value)
    result = set(selected)
    if groups["childrens_parents"]:
        down = graph.descendants(selected) | selected
        result = down | graph.ancestors(down)
    else:
        if groups["parents"]:
            depth = int(groups["parents_depth"]) if groups["parents_depth"] else None
            result |= graph.ancestors(selected, depth)
        if groups["children"]:
            depth = int(groups["children_depth"]) if groups["children_depth"] else None
            result |= graph.descendants(selected, depth)
    return result


def select(graph: SelectionGraph, include: str | None, exclude: str | None = None) -> set[str]:
    """Unique ids selected by dbt-style `--select` / `--exclude` strings."""

    def union(text: str) -> set[str]:
        out: set[str] = set()
        for term in text.split():
            parts = [_select_one(graph, part) for part in term.split(",")]
            out |= set.intersection(*parts)
        return out

    chosen = union(include) if include and include.strip() else set(graph.nodes)
    if exclude and exclude.strip():
        chosen -= union(exclude)
    return chosen
