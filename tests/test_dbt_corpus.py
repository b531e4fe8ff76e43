"""Every real manifest in the corpus either lowers to the right IR or is
refused with the unsupported-schema diagnostic."""

from __future__ import annotations

import re

import pytest

from orch.compiler.diagnostics import Code, CompileError
from orch.compiler.driver import BuildOptions, build
from tests.conftest import CORPUS_FILES, load_json


def _schema(manifest: dict) -> int | None:
    match = re.search(r"/v(\d+)\.json$", str(manifest.get("metadata", {}).get("dbt_schema_version", "")))
    return int(match.group(1)) if match else None


def _enabled(node: dict) -> bool:
    return node.get("config", {}).get("enabled", True) is not False


def _expected(manifest: dict) -> tuple[set[str], set[str], dict[str, set[str]]]:
    """Asset keys, check keys and each asset's upstream, straight from the raw JSON."""
    nodes = {k: n for k, n in manifest["nodes"].items() if _enabled(n)}
    ephemeral = {
        k for k, n in nodes.items()
        if n["resource_type"] == "model" and n.get("config", {}).get("materialized") == "ephemeral"
    }
    assets = {
        k for k, n in nodes.items()
        if n["resource_type"] in ("model", "seed", "snapshot") and k not in ephemeral
    }
    assets |= {k for k, n in manifest.get("sources", {}).items() if _enabled(n)}
    assets |= {k for k, n in manifest.get("exposures", {}).items() if _enabled(n)}

    def reaches_asset(uid: str, seen: frozenset = frozenset()) -> bool:
        for dep in nodes.get(uid, {}).get("depends_on", {}).get("nodes", []):
            if dep in assets or (dep in ephemeral and dep not in seen and reaches_asset(dep, seen | {uid})):
                return True
        return False

    checks = {k for k, n in nodes.items() if n["resource_type"] == "test" and reaches_asset(k)}

    everything = {**nodes, **manifest.get("exposures", {}), **manifest.get("metrics", {}),
                  **manifest.get("semantic_models", {})}

    def upstream(uid: str) -> set[str]:
        out = set()
        for dep in everything.get(uid, {}).get("depends_on", {}).get("nodes", []):
            out |= {dep} if dep in assets else upstream(dep)
        return out

    # A source over a table that a model, seed or snapshot builds stands for that builder.
    def table(node: dict, name_key: str) -> tuple:
        return tuple(str(node.get(k) or "").lower() for k in ("database", "schema")) + (
            str(node.get(name_key) or node.get("name")).lower(),)

    built = {}
    for k in sorted(assets):
        if k in nodes and nodes[k]["resource_type"] in ("model", "seed", "snapshot"):
            built.setdefault(table(nodes[k], "alias"), k)
    stands_for = {k: built[table(n, "identifier")] for k, n in manifest.get("sources", {}).items()
                  if k in assets and table(n, "identifier") in built}
    return assets, checks, {k: {stands_for.get(u, u) for u in upstream(k)} - {k} for k in assets}


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name.removesuffix(".json.gz"))
def test_corpus_manifest(path):
    raw = load_json(path)
    version = _schema(raw)
    if version is None or version < 7:
        with pytest.raises(CompileError) as caught:
            build([str(path)], BuildOptions())
        (diag,) = caught.value.diagnostics
        assert diag.code is Code.UNSUPPORTED_SCHEMA
        assert diag.span.path == str(path)
        expected = f"unsupported manifest schema v{version}" if version else "unsupported manifest schema"
        assert expected in diag.message
        return

    project, diagnostics = build([str(path)], BuildOptions())
    assert not [d for d in diagnostics if d.is_error], diagnostics
    want_assets, want_checks, want_upstream = _expected(raw)
    assert {a.key for a in project.assets} == want_assets
    assert {c.key for c in project.checks} == want_checks
    assert len(project.assets) == len(want_assets)
    assert {a.key: set(a.upstream) for a in project.assets} == want_upstream
    # Every buildable asset is in exactly one pipeline; nothing else is.
    scheduled = [k for p in project.pipelines for k in p.assets]
    assert sorted(scheduled) == sorted(a.key for a in project.assets if a.runner is not None)
    assert {a.key for a in project.assets if a.runner is not None} == {
        k for k in want_assets if k.split(".")[0] in ("model", "seed", "snapshot")
    }
