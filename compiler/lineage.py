"""Pictures of the lineage: a self-contained HTML page, Mermaid and Graphviz text.

`view` turns a checked project into what every picture shows: assets grouped
by pipeline and coloured by layer, with their schedules, SLAs, freshness
targets, checks and what the passes said about them, and the edges that cross
pipelines marked. The layout is computed here (layers left to right, each
pipeline a box), so the page draws at once even with thousands of assets.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from html import escape as _escape

import attrs

from orch.compiler import ir
from orch.compiler.diagnostics import Diagnostic
from orch.compiler.durations import format_duration
from orch.compiler.shared import look

COL_WIDTH = 230
ROW_HEIGHT = 56
GROUP_GAP = 90
HEADER = 40
INPUTS, OUTPUTS = "(external inputs)", "(external readers)"


@attrs.frozen(kw_only=True)
class Node:
    key: str
    name: str
    kind: str
    layer: str
    group: str
    pipeline: str | None
    critical: bool
    schedule: str | None
    sla: str | None
    freshness: str | None
    checks: tuple[str, ...]
    owner: str | None
    origin: str
    notes: tuple[str, ...]
    x: float = 0.0
    y: float = 0.0


@attrs.frozen(kw_only=True)
class Edge:
    up: str
    down: str
    cross: bool


@attrs.frozen(kw_only=True)
class View:
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    groups: tuple[tuple[str, str], ...]  # (name, caption)


def _schedule(schedule: ir.Schedule) -> str:
    return schedule.cron + ("" if schedule.timezone == "UTC" else f" ({schedule.timezone})")


def _check_text(check: ir.Check) -> str:
    # What a reader needs to judge the check; dbt's own bookkeeping stays out.
    params = ", ".join(f"{name}={value}" for name, value in ir.param_items(check.params)
                       if name not in ("sql", "dbt_select", "test"))
    return f"{check.name} ({check.kind.value}, {check.severity.value}{', ' + params if params else ''})"


def about(diagnostics: Iterable[Diagnostic], asset: ir.Asset) -> list[Diagnostic]:
    """The diagnostics that are about this asset: located at it, or at its unique_id."""
    return [d for d in diagnostics if d.span == asset.origin or (d.span.unique_id is not None
                                                                 and d.span.unique_id == asset.key)]


def view(project: ir.Project, diagnostics: Sequence[Diagnostic] = ()) -> View:
    assets = project.asset_map()
    pipeline_of = project.pipeline_of()
    pipelines = {p.name: p for p in project.pipelines}
    checks = project.checks_by_asset()
    notes: dict[str, list[str]] = defaultdict(list)
    for asset in project.assets:
        for d in about(diagnostics, asset):
            notes[asset.key].append(f"{d.level.value}[{d.code.value}]: {d.message}")

    def group(asset: ir.Asset) -> str:
        if asset.key in pipeline_of:
            return pipeline_of[asset.key]
        return OUTPUTS if any(u in assets for u in asset.upstream) else INPUTS

    nodes: dict[str, Node] = {}
    for asset in project.assets:
        pipeline = pipeline_of.get(asset.key)
        schedule = pipelines[pipeline].schedule if pipeline else asset.schedule
        fresh = asset.freshness
        freshness = None
        if fresh is not None:
            parts = [f"max {format_duration(fresh.max_age)}" if fresh.max_age else "",
                     f"warn after {format_duration(fresh.warn_age)}" if fresh.warn_age else "",
                     f"on {fresh.timestamp_column}" if fresh.timestamp_column else ""]
            freshness = ", ".join(p for p in parts if p)
        sla = asset.sla or (pipelines[pipeline].sla if pipeline else None)
        nodes[asset.key] = Node(
            key=asset.key, name=asset.name, kind=asset.kind.value, layer=asset.layer or "models",
            group=group(asset), pipeline=pipeline, critical=asset.critical,
            schedule=_schedule(schedule) if schedule else None,
            sla=(format_duration(sla.complete_within) + (" (critical)" if sla.critical else "")) if sla else None,
            freshness=freshness, checks=tuple(_check_text(c) for c in checks.get(asset.key, ())),
            owner=asset.owner, origin=str(asset.origin), notes=tuple(notes[asset.key]),
        )
    edges = []
    for asset in project.assets:
        for up in asset.upstream:
            if up in nodes:
                a, b = pipeline_of.get(up), pipeline_of.get(asset.key)
                edges.append(Edge(up=up, down=asset.key, cross=a is not None and b is not None and a != b))
    placed = _layout(nodes, edges)
    captions = []
    for name in dict.fromkeys(n.group for n in placed):
        p = pipelines.get(name)
        if p is None:
            captions.append((name, name))
            continue
        bits = [name, _schedule(p.schedule)]
        if p.sla:
            bits.append(f"SLA {format_duration(p.sla.complete_within)}")
        captions.append((name, " · ".join(bits)))
    return View(title=project.name, nodes=tuple(placed), edges=tuple(edges), groups=tuple(captions))


def _depths(keys: Iterable[str], parents: dict[str, list[str]]) -> dict[str, int]:
    """Longest path from a root, for each key (edges that close a cycle are ignored)."""
    depth: dict[str, int] = {}
    state: dict[str, int] = {}
    for start in sorted(keys):
        stack = [(start, iter(parents.get(start, ())))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[node] = 2
                depth[node] = max((depth[p] + 1 for p in parents.get(node, ()) if state.get(p) == 2), default=0)
                continue
            if state.get(nxt) is None:
                state[nxt] = 1
                stack.append((nxt, iter(parents.get(nxt, ()))))
    return depth


def _layout(nodes: dict[str, Node], edges: list[Edge]) -> list[Node]:
    """Pipelines as boxes in columns by how far downstream they are; inside a
    box, assets in columns by depth."""
    groups: dict[str, list[str]] = defaultdict(list)
    for key, node in nodes.items():
        groups[node.group].append(key)
    group_parents: dict[str, set[str]] = defaultdict(set)
    inner_parents: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        a, b = nodes[e.up].group, nodes[e.down].group
        if a == b:
            inner_parents[e.down].append(e.up)
        else:
            group_parents[b].add(a)
    group_depth = _depths(groups, {g: sorted(p) for g, p in group_parents.items()})
    for g in groups:
        if g == INPUTS:
            group_depth[g] = -1
    inner = _depths(nodes, inner_parents)
    columns: dict[int, list[str]] = defaultdict(list)
    for g in sorted(groups, key=lambda g: (group_depth[g], g)):
        columns[group_depth[g]].append(g)
    out: list[Node] = []
    x = 0.0
    for col in sorted(columns):
        y = 0.0
        width = 0.0
        for g in columns[col]:
            members = sorted(groups[g], key=lambda k: (inner[k], nodes[k].name, k))
            rows: dict[int, int] = defaultdict(int)
            for key in members:
                d = inner[key]
                out.append(attrs.evolve(nodes[key], x=x + d * COL_WIDTH + COL_WIDTH / 2,
                                        y=y + HEADER + rows[d] * ROW_HEIGHT + ROW_HEIGHT / 2))
                rows[d] += 1
            width = max(width, (max(inner[k] for k in members) + 1) * COL_WIDTH)
            y += HEADER + max(rows.values()) * ROW_HEIGHT + GROUP_GAP
        x += width + GROUP_GAP
    return out


# -- text formats -------------------------------------------------------------------------------


def _ids(view: View) -> dict[str, str]:
    return {n.key: f"n{i}" for i, n in enumerate(view.nodes)}


def _mermaid_text(text: str) -> str:
    # Mermaid labels are quoted; it has its own entity for the quote itself.
    return text.replace('"', "#quot;").replace("\n", " ")


def mermaid(view: View) -> str:
    ids = _ids(view)
    lines = ["flowchart LR"]
    by_group: dict[str, list[Node]] = defaultdict(list)
    for node in view.nodes:
        by_group[node.group].append(node)
    for gi, (group, caption) in enumerate(view.groups):
        lines.append(f'  subgraph g{gi}["{_mermaid_text(caption)}"]')
        for node in by_group[group]:
            lines.append(f'    {ids[node.key]}["{_mermaid_text(node.name)}"]')
        lines.append("  end")
    for edge in view.edges:
        arrow = "-.->" if edge.cross else "-->"
        lines.append(f"  {ids[edge.up]} {arrow} {ids[edge.down]}")
    for layer, color in look.LAYER_COLORS.items():
        members = [ids[n.key] for n in view.nodes if n.layer == layer]
        if members:
            lines.append(f"  classDef {layer} fill:{color},color:#fff")
            lines.append(f"  class {','.join(members)} {layer}")
    critical = [ids[n.key] for n in view.nodes if n.critical]
    if critical:
        lines.append(f"  classDef critical stroke:{look.CRITICAL},stroke-width:3px")
        lines.append(f"  class {','.join(critical)} critical")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(view: View) -> str:
    ids = _ids(view)
    lines = [f"digraph {_dot_text(view.title)} {{", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontcolor=white];']
    by_group: dict[str, list[Node]] = defaultdict(list)
    for node in view.nodes:
        by_group[node.group].append(node)
    for gi, (group, caption) in enumerate(view.groups):
        lines.append(f"  subgraph cluster_{gi} {{")
        lines.append(f"    label={_dot_text(caption)}; style=rounded; color=\"#cbd2d9\";")
        for node in by_group[group]:
            color = look.LAYER_COLORS.get(node.layer, look.OTHER_COLOR)
            extra = f', color="{look.CRITICAL}", penwidth=3' if node.critical else ""
            lines.append(f"    {ids[node.key]} [label={_dot_text(node.name)}, fillcolor=\"{color}\"{extra}];")
        lines.append("  }")
    for edge in view.edges:
        style = f' [style=dashed, color="{look.CROSS_PIPELINE}", penwidth=2]' if edge.cross else ""
        lines.append(f"  {ids[edge.up]} -> {ids[edge.down]}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- the page -----------------------------------------------------------------------------------

_STATIC = os.path.join(os.path.dirname(__file__), "static")


def _script_json(data) -> str:
    """JSON that cannot end the <script> element it sits in, whatever the names say."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return re.sub(r"</", r"<\\/", text).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def html(view: View) -> str:
    with open(os.path.join(_STATIC, "vendor", "cytoscape.min.js"), encoding="utf-8") as fh:
        library = fh.read()
    with open(os.path.join(_STATIC, "lineage.js"), encoding="utf-8") as fh:
        app = fh.read()
    captions = dict(view.groups)
    elements = []
    for gi, (group, caption) in enumerate(view.groups):
        elements.append({"data": {"id": f"g{gi}", "label": caption, "box": True,
                                  "pipeline": group if group not in (INPUTS, OUTPUTS) else None}})
    group_ids = {group: f"g{gi}" for gi, (group, _) in enumerate(view.groups)}
    for node in view.nodes:
        data = attrs.asdict(node)
        del data["x"], data["y"]
        data.update(id=node.key, parent=group_ids[node.group], label=node.name,
                    color=look.LAYER_COLORS.get(node.layer, look.OTHER_COLOR),
                    caption=captions[node.group])
        elements.append({"data": data, "position": {"x": node.x, "y": node.y}})
    for i, edge in enumerate(view.edges):
        elements.append({"data": {"id": f"e{i}", "source": edge.up, "target": edge.down, "cross": edge.cross}})
    layers = sorted({n.layer for n in view.nodes})
    legend = "".join(f'<span><i style="background:{look.LAYER_COLORS.get(layer, look.OTHER_COLOR)}"></i>'
                     f"{_escape(layer)}</span>" for layer in layers)
    legend += (f'<span><i style="background:#fff;border:3px solid {look.CRITICAL}"></i>critical</span>'
               f'<span><i style="background:{look.CROSS_PIPELINE}"></i>edge across pipelines</span>')
    style = {"critical": look.CRITICAL, "cross": look.CROSS_PIPELINE}
    n_cross = sum(e.cross for e in view.edges)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>orch lineage: {_escape(view.title)}</title>
<style>{look.STYLE}
body{{max-width:none;margin:0;padding:0;height:100vh;display:flex;flex-direction:column}}
header{{padding:.6rem 1rem;border-bottom:1px solid #e4e7eb;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}}
header h1{{margin:0;font-size:1.15rem}}#graph{{flex:1;min-height:0}}
#tip{{position:fixed;display:none;max-width:34rem;background:#fff;border:1px solid #cbd2d9;border-radius:.4rem;
padding:.6rem .8rem;box-shadow:0 4px 14px rgba(0,0,0,.12);font-size:13px;pointer-events:none;z-index:5}}
#tip h3{{margin:0 0 .3rem;font-size:14px}}#tip dt{{font-weight:600;float:left;clear:left;width:6.5rem}}
#tip dd{{margin:0 0 .15rem 6.8rem}}#tip .note{{color:#c53030}}</style></head>
<body>
<header><h1>{_escape(view.title)}</h1>
<span id="count">{len(view.nodes)} assets, {len(view.edges)} edges ({n_cross} across pipelines), {sum(1 for g, _ in view.groups if g not in (INPUTS, OUTPUTS))} pipelines</span>
<input type="search" id="search" placeholder="Search assets, pipelines, owners" aria-label="Search">
<span id="matches"></span><span class="legend">{legend}</span></header>
<div id="graph"></div><div id="tip"></div>
<script>{library}</script>
<script type="application/json" id="orch-data">{_script_json({"elements": elements, "style": style})}</script>
<script>{app}</script>
</body></html>
"""
