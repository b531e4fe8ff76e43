"""Editing a real manifest into the shape a test needs (bad input, graphs)."""

from __future__ import annotations

import copy


def add_model(manifest: dict, name: str, deps: tuple[str, ...] = (), *, meta: dict | None = None,
              config: dict | None = None, folder: str = "models", columns: tuple[str, ...] = ()) -> str:
    """Clone the manifest's first model as `name`, depending on `deps`."""
    template = next(n for n in manifest["nodes"].values() if n["resource_type"] == "model")
    node = copy.deepcopy(template)
    package = node["package_name"]
    uid = f"model.{package}.{name}"
    path = f"{folder}/{name}.sql"
    node.update(
        unique_id=uid,
        name=name,
        alias=name,
        fqn=[package, *folder.split("/")[1:], name],
        path=path.split("/", 1)[1] if "/" in path else path,
        original_file_path=path,
        depends_on={"macros": [], "nodes": list(deps)},
        columns={c: {"name": c} for c in columns},
    )
    node["config"] = {**node["config"], **(config or {}), "meta": meta or {}}
    node["meta"] = {}
    manifest["nodes"][uid] = node
    return uid
