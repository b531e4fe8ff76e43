"""Reading a dbt `manifest.json` (schemas v7 to v12): the file, its schema
version, and the shape of its nodes, checked before anything is lowered so
that a malformed node is an error naming its unique_id, never a traceback."""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from orch.compiler import ir
from orch.compiler.diagnostics import Code, CompileError, error

SUPPORTED_SCHEMAS = range(7, 13)


_SCHEMA_RE = re.compile(r"/manifest/v(\d+)\.json$")


def load_manifest(path: str) -> dict:
    """Read and sanity-check a manifest; raise `CompileError` if it is unusable."""
    where = ir.Location(path=path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise CompileError(error(Code.UNREADABLE_INPUT, f"cannot read manifest: {exc.strerror}", where))
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise CompileError(error(Code.UNREADABLE_INPUT, f"not a JSON text file: {exc}", where))
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        at = ir.Location(path=path, line=exc.lineno, col=exc.colno)
        hint = " (the file looks truncated)" if exc.pos >= len(text.rstrip()) else ""
        raise CompileError(error(Code.UNREADABLE_INPUT, f"invalid JSON: {exc.msg}{hint}", at))
    except RecursionError:
        raise CompileError(error(Code.UNREADABLE_INPUT, "JSON nested too deeply to be a manifest", where))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("nodes"), dict):
        raise CompileError(
            error(Code.NOT_A_MANIFEST, "not a dbt manifest: no top-level \"nodes\" object", where)
        )
    version = schema_version(manifest)
    if version is None:
        raise CompileError(
            error(
                Code.UNSUPPORTED_SCHEMA,
                "unsupported manifest schema: metadata.dbt_schema_version is missing, "
                "so the dbt version that wrote it is unknown; regenerate it with "
                "`dbt parse` (dbt 1.3 or newer)",
                where,
            )
        )
    if version not in SUPPORTED_SCHEMAS:
        raise CompileError(
            error(
                Code.UNSUPPORTED_SCHEMA,
                f"unsupported manifest schema v{version}: orch reads v{SUPPORTED_SCHEMAS[0]} "
                f"to v{SUPPORTED_SCHEMAS[-1]} (dbt 1.3 and newer); regenerate it with `dbt parse`",
                where,
            )
        )
    for section in ("sources", "exposures", "metrics", "semantic_models"):
        if not isinstance(manifest.get(section, {}), dict):
            raise CompileError(
                error(Code.NOT_A_MANIFEST, f"not a dbt manifest: \"{section}\" is not an object", where)
            )
    return manifest


def schema_version(manifest: Mapping[str, Any]) -> int | None:
    metadata = manifest.get("metadata")
    if not isinstance(metadata, dict):
        return None
    match = _SCHEMA_RE.search(str(metadata.get("dbt_schema_version", "")))
    return int(match.group(1)) if match else None


def default_project_dir(manifest_path: str) -> str:
    """dbt writes manifest.json to `<project>/target/`, so the project is `target/..`."""
    return os.path.normpath(os.path.join(os.path.dirname(manifest_path) or ".", os.pardir))


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _as_str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


# The node fields lowering reads, with the JSON types dbt writes for them. A
# manifest edited by hand or by another tool can carry anything; a node whose
# fields are not these is reported at its unique_id and left out, rather than
# failing somewhere deep in lowering.
_STR = (str, type(None))


_NODE_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    **{key: (_STR, "a string") for key in (
        "resource_type", "name", "alias", "identifier", "schema", "database", "package_name",
        "original_file_path", "patch_path", "description", "compiled_code", "compiled_sql", "language",
        "source_name", "column_name", "attached_node", "loaded_at_field")},
    **{key: ((dict, type(None)), "an object") for key in (
        "config", "meta", "columns", "depends_on", "test_metadata", "freshness", "owner")},
    "fqn": ((list, type(None)), "a list of strings"),
    "tags": ((list, str, type(None)), "a list of strings"),
    "version": ((str, int, float, type(None)), "a string or a number"),
}


_FIELD_NAMES = tuple(_NODE_FIELDS)


_STR_ONLY = frozenset({str})


# The exact types of the checked fields of nodes already found well formed. A
# project's nodes share a handful of these, so most nodes are checked with one
# set lookup; anything else takes the full check below.
_GOOD_SHAPES: set[tuple[type, ...]] = set()


def node_problem(node: Any) -> str | None:
    """Why `node` is not shaped like a manifest node, or None."""
    if type(node) is not dict:
        return _node_problem(node)
    shape = tuple(map(type, map(node.get, _FIELD_NAMES)))
    if shape in _GOOD_SHAPES and _only_str_lists(node):
        return None
    problem = _node_problem(node)
    if problem is None:
        _GOOD_SHAPES.add(shape)
    return problem


def _only_str_lists(node: dict) -> bool:
    for key in ("fqn", "tags"):
        value = node.get(key)
        if type(value) is list and not set(map(type, value)) <= _STR_ONLY:
            return False
    deps = node.get("depends_on")
    deps = deps.get("nodes") if type(deps) is dict else None
    return deps is None or (type(deps) is list and set(map(type, deps)) <= _STR_ONLY)


def _node_problem(node: Any) -> str | None:
    if not isinstance(node, dict):
        return f"must be an object, got {type(node).__name__}"
    for key, (types, expected) in _NODE_FIELDS.items():
        value = node.get(key)
        if not isinstance(value, types) or isinstance(value, bool):
            return f"{key} must be {expected}, got {_show(value)}"
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            return f"{key} must be {expected}, got {_show(value)}"
    deps = _as_dict(node.get("depends_on")).get("nodes")
    if deps is not None and not (isinstance(deps, list) and all(isinstance(d, str) for d in deps)):
        return f"depends_on.nodes must be a list of unique_ids, got {_show(deps)}"
    return None


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _enabled(node: Mapping[str, Any]) -> bool:
    return _as_dict(node.get("config")).get("enabled", True) is not False
