"""dbt frontend: lowers a `manifest.json` (schemas v7 to v12) into IR.

Models, seeds and snapshots become assets that dbt builds; sources and
exposures become assets with no runner, upstream and downstream of them.
Ephemeral models are inlined by dbt, so they get no task: their upstreams
become direct upstreams of their dependents. dbt tests become checks.

orch's own settings live in `meta` (node level or `config.meta`, the latter
winning as in dbt 1.10+): schedule, sla_hours, freshness_hours,
freshness_column, critical, owner, timezone, retries, retry_delay_minutes,
runner, conn_id, partition_start, and partition_by for adapters whose config
has no BigQuery-shaped one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from orch.compiler import ir
from orch.compiler.diagnostics import Code, CompileError, Diagnostic, error, warning
from orch.compiler.frontends import dbt_select
from orch.compiler.frontends.dbt_manifest import (
    _as_dict,
    _as_str_list,
    _enabled,
    default_project_dir,
    load_manifest,
    node_problem,
)
from orch.compiler.frontends.dbt_meta import NodeSettings
from orch.compiler.grouping import infer_layer

_BUILDABLE = {"model": ir.AssetKind.MODEL, "seed": ir.AssetKind.SEED, "snapshot": ir.AssetKind.SNAPSHOT}
# Nodes that produce no table of their own: lineage passes through them.
_TRANSPARENT = frozenset({"model", "metric", "semantic_model", "saved_query"})


RUNNERS = ("dbt", "bigquery", "sql")


@attrs.frozen(kw_only=True)
class DbtOptions:
    select: str | None = None
    exclude: str | None = None
    project_dir: str | None = None
    profiles_dir: str | None = None
    target: str | None = None
    #: How models run: through dbt, or as their compiled SQL on BigQuery or
    #: another warehouse. `meta.runner` overrides it per model.
    runner: str = "dbt"
    #: unique_id -> runner, set by a spec's asset overlays; wins over meta.
    runners: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Lowered:
    """What one input contributes to a project."""

    name: str
    assets: tuple[ir.Asset, ...]
    checks: tuple[ir.Check, ...]
    diagnostics: tuple[Diagnostic, ...]
    dbt_projects: tuple[ir.DbtProject, ...] = ()


# The manifest sections whose nodes dbt's `fqn` selector method searches (all but sources).
_FQN_SECTIONS = ("nodes", "unit_tests", "exposures", "metrics", "semantic_models", "saved_queries", "functions")








def lower(manifest: Mapping[str, Any], path: str, options: DbtOptions = DbtOptions()) -> Lowered:
    """Turn a loaded manifest into assets and checks."""
    return _Lowering(manifest, path, options).run()




















class _Lowering(NodeSettings):
    def __init__(self, manifest: Mapping[str, Any], path: str, options: DbtOptions):
        self.manifest = manifest
        self.path = path
        self.options = options
        self.project_dir = options.project_dir or default_project_dir(path)
        engine = _as_dict(manifest.get("metadata")).get("adapter_type")
        self.engine = engine if isinstance(engine, str) and engine else None
        self.diagnostics: list[Diagnostic] = []
        self.nodes: dict[str, dict] = {}
        self.disabled: set[str] = set()
        self._disabled_tests: list[tuple[str, str]] = []
        for section in ("nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries"):
            for uid, node in _as_dict(manifest.get(section)).items():
                problem = node_problem(node)
                if problem is not None:
                    self.diagnostics.append(error(Code.MALFORMED_NODE, f"{section}.{uid}: {problem}",
                                                  self.where(uid)))
                elif _enabled(node):
                    self.nodes[uid] = node
                else:
                    self.disabled.add(uid)
                    if node.get("resource_type") == "test" and isinstance(node.get("attached_node"), str):
                        self._disabled_tests.append((uid, node["attached_node"]))
        # dbt keeps disabled nodes apart, under their unique_id; a node may
        # still depend on one (an exposure on a disabled model), which dbt accepts.
        self.disabled.update(uid for uid in _as_dict(manifest.get("disabled")) if uid not in self.nodes)
        self._resolved: dict[str, tuple[str, ...]] = {}
        # test -> a disabled node it reads: such a test is left out whole.
        self._reads_disabled: dict[str, str] = {}

    def where(self, uid: str) -> ir.Location:
        return ir.Location(path=self.path, unique_id=uid)

    # -- graph -----------------------------------------------------------------

    def depends_on(self, uid: str) -> list[str]:
        deps = _as_dict(self.nodes[uid].get("depends_on")).get("nodes")
        return [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []

    def is_asset(self, uid: str) -> bool:
        node = self.nodes.get(uid)
        if node is None:
            return False
        rtype = node.get("resource_type")
        if rtype in _BUILDABLE:
            return _as_dict(node.get("config")).get("materialized") != "ephemeral" or rtype != "model"
        return rtype in ("source", "exposure")

    def resolve(self, uid: str, trail: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Upstream assets of `uid`, looking through ephemeral models and metrics."""
        if uid in self._resolved:
            return self._resolved[uid]
        out: list[str] = []
        for dep in self.depends_on(uid):
            if dep not in self.nodes and dep in self.disabled:
                if self.nodes[uid].get("resource_type") == "test":
                    self._reads_disabled.setdefault(uid, dep)
                else:
                    self.diagnostics.append(warning(
                        Code.DISABLED_DEPENDENCY,
                        f"{uid} depends on {dep}, which is disabled: that dependency is left out",
                        self.where(uid)))
            elif dep not in self.nodes:
                self.diagnostics.append(
                    error(
                        Code.DANGLING_REFERENCE,
                        f"{uid} depends on {dep}, which is not in the manifest",
                        self.where(uid),
                    )
                )
            elif self.is_asset(dep):
                out.append(dep)
            elif self.nodes[dep].get("resource_type") in _TRANSPARENT:
                if dep == uid or dep in trail:
                    loop = (*trail[trail.index(dep):], uid, dep) if dep in trail else (dep, dep)
                    self.diagnostics.append(
                        error(
                            Code.CYCLE,
                            "dependency cycle through ephemeral models: " + " -> ".join(loop),
                            self.where(uid),
                        )
                    )
                    continue
                out.extend(self.resolve(dep, (*trail, uid)))
        result = tuple(sorted(set(out)))
        self._resolved[uid] = result
        return result

    def selection_graph(self) -> dbt_select.SelectionGraph:
        nodes = []
        for uid, node in self.nodes.items():
            config = _as_dict(node.get("config"))
            fqn = node.get("fqn")
            fqn = tuple(str(p) for p in fqn) if isinstance(fqn, list) and fqn else (str(node.get("name", uid)),)
            patch = node.get("patch_path")
            nodes.append(
                dbt_select.GraphNode(
                    unique_id=uid,
                    resource_type=str(node.get("resource_type", "")),
                    name=str(node.get("name", "")),
                    package=str(node.get("package_name", "")),
                    fqn=fqn,
                    path=str(node.get("original_file_path") or ""),
                    patch_path=patch.split("://", 1)[-1] if isinstance(patch, str) else None,
                    tags=tuple(_as_str_list(node.get("tags"))),
                    config=config,
                    source_name=node.get("source_name"),
                    versioned=node.get("version") is not None,
                )
            )
        return dbt_select.SelectionGraph(nodes, {uid: self.depends_on(uid) for uid in self.nodes})

    def dbt_project(self) -> ir.DbtProject | None:
        """What dbt's name selectors can match in this project; None if a node's fqn is unreadable."""
        nodes = []
        for section in _FQN_SECTIONS:
            for uid, node in _as_dict(self.manifest.get(section)).items():
                if not isinstance(node, Mapping) or not _enabled(node):
                    continue
                fqn = node.get("fqn")
                if not isinstance(fqn, list) or not fqn or not all(isinstance(p, str) and p for p in fqn):
                    return None
                parents = ()
                if node.get("resource_type") in ("test", "unit_test") or section == "unit_tests":
                    parents = tuple(str(p) for p in _as_dict(node.get("depends_on")).get("nodes") or ())
                nodes.append(ir.DbtNode(unique_id=uid, fqn=tuple(fqn), versioned=node.get("version") is not None,
                                        parents=parents))
        return ir.DbtProject(project_dir=self.project_dir, nodes=tuple(sorted(nodes, key=lambda n: n.unique_id)))

    # -- nodes -----------------------------------------------------------------

    def asset(self, uid: str, node: dict) -> ir.Asset:
        rtype = node.get("resource_type")
        meta = self.meta(node)
        common = self.common_fields(uid, node)
        if rtype == "source":
            return ir.Asset(
                kind=ir.AssetKind.SOURCE,
                relation=ir.Relation(
                    database=node.get("database") or None,
                    schema=node.get("schema") or None,
                    name=str(node.get("identifier") or node.get("name") or uid),
                    engine=self.engine,
                ),
                freshness=self.source_freshness(uid, node),
                owner=self.meta_str(uid, meta, "owner"),
                layer="sources",
                **common,
            )
        if rtype == "exposure":
            owner = _as_dict(node.get("owner"))
            return ir.Asset(
                kind=ir.AssetKind.EXPOSURE,
                upstream=self.resolve(uid),
                owner=owner.get("email") or owner.get("name") or None,
                layer="exposures",
                **common,
            )
        return self.built_asset(uid, node, meta, common)

    def common_fields(self, uid: str, node: dict) -> dict[str, Any]:
        """The fields of an asset that every kind of node has."""
        name = str(node.get("name", uid))
        version = node.get("version")
        if version is not None:
            name = f"{name}_v{version}"
        description = node.get("description") or None
        return dict(
            key=uid,
            name=name,
            origin=self.where(uid),
            tags=tuple(dict.fromkeys(_as_str_list(node.get("tags")))),
            description=description if isinstance(description, str) else None,
            path=str(node.get("original_file_path") or "").replace("\\", "/") or None,
            package=node.get("package_name") if isinstance(node.get("package_name"), str) else None,
            columns=tuple(_as_dict(node.get("columns"))),
        )

    def built_asset(self, uid: str, node: dict, meta: Mapping[str, Any], common: dict[str, Any]) -> ir.Asset:
        """A model, seed or snapshot: what dbt builds, with orch's `meta` on it."""
        config = _as_dict(node.get("config"))
        kind = _BUILDABLE[node.get("resource_type")]
        fqn = node.get("fqn") if isinstance(node.get("fqn"), list) else [common["name"]]
        sla_within = self.meta_duration(uid, meta, "sla_hours")
        critical = self.meta_bool(uid, meta, "critical")
        freshness = None
        max_age = self.meta_duration(uid, meta, "freshness_hours")
        if max_age is not None:
            freshness = ir.Freshness(
                timestamp_column=self.meta_str(uid, meta, "freshness_column"), max_age=max_age
            )
        compiled = node.get("compiled_code", node.get("compiled_sql"))
        relation = ir.Relation(
            database=node.get("database") or None,
            schema=node.get("schema") or None,
            name=str(node.get("alias") or node.get("name") or uid),
            engine=self.engine,
        )
        runner: ir.Runner = ir.DbtBuild(
            select=".".join(str(p) for p in fqn),
            project_dir=self.project_dir,
            profiles_dir=self.options.profiles_dir,
            target=self.options.target,
        )
        if kind is ir.AssetKind.MODEL:
            runner = self.sql_runner(uid, node, meta, relation, compiled) or runner
        retries = self.meta_retries(uid, meta)
        retry_delay = self.meta_duration(uid, meta, "retry_delay_minutes", "minutes")
        return ir.Asset(
            kind=kind,
            relation=relation,
            upstream=self.resolve(uid),
            runner=runner,
            materialization=config.get("materialized") if isinstance(config.get("materialized"), str) else None,
            unique_key=tuple(_as_str_list(config.get("unique_key"))),
            partitioning=self.partitioning(uid, node, meta),
            freshness=freshness,
            schedule=self.schedule(uid, meta),
            sla=ir.Sla(complete_within=sla_within, critical=critical) if sla_within is not None else None,
            owner=self.meta_str(uid, meta, "owner"),
            critical=critical,
            layer=infer_layer(str(node.get("name", "")), common["path"], kind),
            compiled_sql=compiled if isinstance(compiled, str) else None,
            columns_enforced=_as_dict(node.get("contract") or config.get("contract")).get("enforced") is True,
            retries=retries,
            retry_delay=retry_delay,
            **common,
        )

    def sql_runner(self, uid: str, node: Mapping[str, Any], meta: Mapping[str, Any],
                   relation: ir.Relation, compiled: Any) -> ir.SqlQuery | None:
        """The model as its compiled SQL, when `--runner` or `meta.runner` asks for that."""
        choice = self.options.runners.get(uid) or self.meta_str(uid, meta, "runner") or self.options.runner
        if choice not in RUNNERS:
            self.bad_meta(uid, "runner", choice, f"one of {', '.join(RUNNERS)}")
            return None
        if choice == "dbt":
            return None

        def unavailable(why: str) -> None:
            self.diagnostics.append(
                error(Code.RUNNER_UNAVAILABLE, f"{node.get('name')}: the {choice} runner {why}", self.where(uid))
            )

        if node.get("language", "sql") != "sql":
            unavailable("cannot run a Python model; use the dbt runner for it (meta.runner: dbt)")
            return None
        if not isinstance(compiled, str) or not compiled.strip():
            unavailable("needs the model's compiled SQL, which this manifest lacks; run `dbt compile` "
                        "before orch, or use the dbt runner")
            return None
        config = _as_dict(node.get("config"))
        materialized = config.get("materialized")
        unique_key = tuple(_as_str_list(config.get("unique_key")))
        modes = {"table": "truncate", "view": "view", "incremental": "merge" if unique_key else "append"}
        if materialized not in modes:
            unavailable(f"cannot express materialized={materialized!r}; use the dbt runner for it")
            return None
        return ir.SqlQuery(
            sql=compiled.strip().rstrip(";"),
            dialect="bigquery" if choice == "bigquery" else (self.engine or "ansi"),
            destination=relation,
            write_mode=modes[materialized],
            unique_key=unique_key,
            connection=self.meta_str(uid, meta, "conn_id"),
        )

    def check(self, uid: str, node: dict, assets: Mapping[str, ir.Asset]) -> ir.Check | None:
        attached = node.get("attached_node")
        targets = list(self.resolve(uid))
        if isinstance(attached, str) and attached in targets:
            targets.remove(attached)
            targets.insert(0, attached)
        if uid in self._reads_disabled:
            return None
        targets = [t for t in targets if t in assets]
        if not targets:
            return None
        config = _as_dict(node.get("config"))
        severity = ir.Severity.WARN if str(config.get("severity", "error")).lower() == "warn" else ir.Severity.ERROR
        metadata = _as_dict(node.get("test_metadata"))
        fqn = node.get("fqn") if isinstance(node.get("fqn"), list) else [node.get("name", uid)]
        params = ir.DbtTestParams(test=str(metadata.get("name") or "singular"),
                                  column=node["column_name"] if isinstance(node.get("column_name"), str) else None,
                                  dbt_select=".".join(str(p) for p in fqn))
        primary = assets[targets[0]]
        return ir.Check(
            key=uid,
            name=str(node.get("name", uid)),
            asset=primary.key,
            also=tuple(targets[1:]),
            origin=self.where(uid),
            params=params,
            severity=severity,
            blocking=primary.critical and severity is ir.Severity.ERROR,
        )

    # -- whole manifest --------------------------------------------------------

    def run(self) -> Lowered:
        all_assets = {uid: self.asset(uid, node) for uid, node in self.nodes.items() if self.is_asset(uid)}
        selected = set(all_assets)
        if self.options.select or self.options.exclude:
            try:
                picked = dbt_select.select(self.selection_graph(), self.options.select, self.options.exclude)
            except dbt_select.SelectorError as exc:
                raise CompileError(error(Code.INVALID_SELECTOR, str(exc), ir.Location(path=self.path)))
            selected = {uid for uid in picked if uid in all_assets}
            if not any(all_assets[uid].runner for uid in selected):
                self.diagnostics.append(
                    warning(
                        Code.EMPTY_SELECTION,
                        f"--select {self.options.select or ''!r} --exclude {self.options.exclude or ''!r} "
                        "matches no model, seed or snapshot",
                        ir.Location(path=self.path),
                    )
                )
        assets = self._close_over_inputs(all_assets, selected)
        checks = []
        for uid, node in self.nodes.items():
            if node.get("resource_type") != "test":
                continue
            check = self.check(uid, node, assets)
            # A test runs after its asset is built, or (for sources) on its own;
            # tests of unselected models are not this compile's to run.
            if check is not None and (
                assets[check.asset].runner is not None or assets[check.asset].kind is ir.AssetKind.SOURCE
            ):
                checks.append(check)
        self._warn_tests_of_disabled()
        metadata = _as_dict(self.manifest.get("metadata"))
        name = metadata.get("project_name")
        if not isinstance(name, str) or not name:
            name = os.path.basename(os.path.dirname(os.path.abspath(self.path))) or "dbt"
        return Lowered(
            name=name,
            assets=tuple(sorted(assets.values(), key=lambda a: a.key)),
            checks=tuple(sorted(checks, key=lambda c: c.key)),
            diagnostics=tuple(self.diagnostics),
            dbt_projects=tuple(p for p in [self.dbt_project()] if p is not None),
        )

    def _warn_tests_of_disabled(self) -> None:
        """One warning per disabled node whose tests are left out: those dbt
        disabled with it, and enabled ones that still read it."""
        left_out: dict[str, list[str]] = {}
        for uid, attached in self._disabled_tests:
            if attached in self.disabled:
                left_out.setdefault(attached, []).append(uid)
        for uid, dep in self._reads_disabled.items():
            left_out.setdefault(dep, []).append(uid)
        for dep, tests in sorted(left_out.items()):
            names = sorted(str(_as_dict(self.nodes.get(t)).get("name") or t.split(".")[-2]) for t in tests)
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            self.diagnostics.append(warning(
                Code.DISABLED_DEPENDENCY,
                f"{dep} is disabled: its {len(tests)} test{'s' if len(tests) != 1 else ''} ({shown}) "
                f"{'are' if len(tests) != 1 else 'is'} left out", self.where(dep)))

    def _close_over_inputs(self, all_assets: Mapping[str, ir.Asset], selected: set[str]) -> dict[str, ir.Asset]:
        """Selected assets plus what they read; unselected inputs lose their runner."""
        keep = {uid: all_assets[uid] for uid in selected}
        for asset in list(keep.values()):
            for up in asset.upstream:
                if up not in keep:
                    keep[up] = attrs.evolve(all_assets[up], runner=None)
        return keep


def lower_file(path: str, options: DbtOptions = DbtOptions()) -> Lowered:
    return lower(load_manifest(path), path, options)


def selection_graph(manifest: Mapping[str, Any]) -> dbt_select.SelectionGraph:
    """The manifest's graph as `--select` sees it (every enabled node, tests included)."""
    return _Lowering(manifest, "manifest.json", DbtOptions()).selection_graph()
