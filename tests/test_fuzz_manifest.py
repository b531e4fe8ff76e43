"""The manifest loader under hypothesis: any input ends in IR or in diagnostics
with a location, never a traceback, within a time bound per input.

Budgets (examples per run): 250 manifests with node fields set to arbitrary
JSON or removed, each lowered, checked and, when error-free, emitted by all
five backends; 400 byte-level mutations (truncation, byte flips, splices) of
the manifest text. Each input must finish within 10 s (hypothesis' deadline).
"""

from __future__ import annotations

import copy
import json
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch.compiler import backend
from orch.compiler.diagnostics import CompileError
from orch.compiler.driver import BuildOptions, build
from orch.compiler.frontends import dbt_manifest
from tests.conftest import corpus, load_json

_BASE = load_json(corpus("dbt-artifacts-parser_v12_jaffle_shop_1.10"))
_UIDS = sorted(uid for section in ("nodes", "sources") for uid in _BASE.get(section, {}))
_DELETE = object()

# Where lowering looks: the node fields and the meta and config keys orch reads.
_FIELDS = [
    *dbt_manifest._NODE_FIELDS, "depends_on.nodes", "config.enabled", "config.materialized", "config.unique_key",
    "config.partition_by", "config.severity", "config.meta", "freshness.error_after",
    "freshness.warn_after.count", "freshness.warn_after.period",
    *(f"config.meta.{key}" for key in (
        "schedule", "timezone", "sla_hours", "freshness_hours", "freshness_column", "critical", "owner", "retries",
        "retry_delay_minutes", "runner", "conn_id", "partition_start", "partition_by")),
]
_INTERESTING = ["@daily", "0 25 * * *", "model.ghost.x", "../../x", "ephemeral", "incremental", "bigquery", "sql",
                "day", "hour", "2026-13-01", "", "\x00", "é" * 3, "x" * 300, 1e308, -1, 0, 10**30]
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(_INTERESTING),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_mutation = st.tuples(st.sampled_from(_UIDS), st.sampled_from(_FIELDS), st.one_of(_json, st.just(_DELETE)))


def _set(node: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    if value is _DELETE:
        node.pop(last, None)
    else:
        node[last] = value


def _write(manifest, folder: str) -> str:
    path = str(Path(folder) / "manifest.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)
    return path


def _emit_everything(project) -> None:
    options = {"duckdb_path": "w.duckdb", "conn_id": "wh"}
    for name in ("airflow", "dagster", "health", "sla", "ir"):
        emitter = backend.load(name)(options)
        emitter.unsupported(project)
        files = emitter.emit(project, "manifest.json")
        for f in files:
            if f.path.endswith(".py"):
                compile(f.content, f.path, "exec")


@settings(max_examples=250, deadline=timedelta(seconds=10),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_nodes_end_in_ir_or_located_diagnostics(mutations):
    manifest = copy.deepcopy(_BASE)
    for uid, field, value in mutations:
        section = "nodes" if uid in manifest["nodes"] else "sources"
        _set(manifest[section][uid], field, value)
    with tempfile.TemporaryDirectory() as folder:
        path = _write(manifest, folder)
        try:
            project, diagnostics = build([path], BuildOptions())
        except CompileError as exc:
            assert exc.diagnostics and all(d.span.path == path for d in exc.diagnostics)
            return
        for d in diagnostics:
            assert d.span.path == path and (d.span.unique_id or d.span.line), d.render()
        if not any(d.is_error for d in diagnostics):
            _emit_everything(project)


_TEXT = json.dumps(_BASE).encode()


@st.composite
def _damaged(draw) -> bytes:
    data = bytearray(_TEXT)
    kind = draw(st.sampled_from(["truncate", "flip", "splice"]))
    at = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        return bytes(data[:at])
    if kind == "flip":
        for offset in draw(st.lists(st.integers(0, 64), min_size=1, max_size=4)):
            data[min(at + offset, len(data) - 1)] = draw(st.integers(0, 255))
        return bytes(data)
    return bytes(data[:at]) + draw(st.binary(max_size=40)) + bytes(data[at:])


@settings(max_examples=400, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
@given(_damaged())
def test_damaged_bytes_end_in_ir_or_diagnostics(data):
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "manifest.json")
        Path(path).write_bytes(data)
        try:
            build([path], BuildOptions())
        except CompileError as exc:
            (diag,) = exc.diagnostics
            assert diag.span.path == path
            assert diag.code.value in ("E001", "E002", "E003")
            if diag.code.value == "E001" and "invalid JSON" in diag.message:
                assert diag.span.line is not None and diag.span.col is not None


@pytest.mark.parametrize("field", sorted(dbt_manifest._NODE_FIELDS))
def test_each_node_field_of_the_wrong_type_is_e006_at_the_node(field, tmp_path):
    manifest = copy.deepcopy(_BASE)
    uid = next(u for u, n in manifest["nodes"].items() if n["resource_type"] == "model")
    manifest["nodes"][uid][field] = True  # no field orch reads may be a boolean
    path = _write(manifest, str(tmp_path))
    _, diagnostics = build([path], BuildOptions())
    errors = [d for d in diagnostics if d.is_error]
    assert [(d.code.value, d.span.unique_id) for d in errors][:1] == [("E006", uid)]
    assert f"{field} must be" in errors[0].message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(_mutation, min_size=1, max_size=4))
def test_the_quick_node_check_agrees_with_the_full_one(mutations):
    # Warm the shape cache with the well-formed nodes, then damage copies of
    # them: a shape seen before must not let a bad value through (a list of
    # numbers where strings go, a bool where a number went), and a good node
    # must not be refused.
    for section in ("nodes", "sources"):
        for node in _BASE[section].values():
            assert dbt_manifest.node_problem(node) is None
    nodes = {uid: copy.deepcopy(_BASE["nodes"].get(uid) or _BASE["sources"][uid]) for uid, _, _ in mutations}
    for uid, field, value in mutations:
        _set(nodes[uid], field, value)
    for node in nodes.values():
        assert dbt_manifest.node_problem(node) == dbt_manifest._node_problem(node)
        assert dbt_manifest.node_problem(node) == dbt_manifest._node_problem(node)  # again, with its own shape now cached


@pytest.mark.parametrize("field,value", [
    ("fqn", ["jaffle_shop", 1]), ("tags", ["a", None]), ("depends_on", {"nodes": ["model.a", 2]}),
    ("depends_on", {"nodes": "model.a"}), ("version", True), ("name", 3),
])
def test_a_known_shape_with_a_bad_value_is_still_refused(field, value):
    good = next(n for n in _BASE["nodes"].values() if n["resource_type"] == "model")
    assert dbt_manifest.node_problem(good) is None
    bad = copy.deepcopy(good)
    bad[field] = value
    assert dbt_manifest.node_problem(bad) is not None
