"""One measurement in a fresh interpreter: `python bench/probe.py ACTION ARGS...`.

Prints one JSON line: the seconds the action took (timed from before its
imports, so import cost counts, as it does for a user), the peak RSS of the
process, and what the action reports about itself. Each measurement gets its
own process so no run warms another's caches.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

START = time.perf_counter()


def json_load(path: str) -> dict:
    import json as std

    with open(path, "rb") as fh:
        std.load(fh)
    return {}


def orjson_load(path: str) -> dict:
    import orjson

    with open(path, "rb") as fh:
        orjson.loads(fh.read())
    return {}


def compile_all(manifest: str, out: str, *extra: str) -> dict:
    from orch.compiler import cli

    code = cli.main(["compile", manifest, "--target", "ir", "--target", "airflow", "--target", "dagster",
                     "--target", "health", "--target", "sla", "--out", out, "-O", "duckdb_path=warehouse.duckdb",
                     "-O", "conn_id=warehouse", *extra])
    if code != 0:
        raise SystemExit(f"compile exited {code}")
    return {}


def build(manifest: str) -> dict:
    """Everything before the backends: read, lower, group, check. Any compile
    that reads its input afresh pays at least this, cached outputs or not."""
    from orch.compiler.driver import BuildOptions
    from orch.compiler.driver import build as run_build

    project, _ = run_build([manifest], BuildOptions())
    return {"assets": len(project.assets)}


def dagbag(folder: str) -> dict:
    from airflow.dag_processing.dagbag import DagBag

    # As Airflow's dag-processor has it: the DAGs folder on the import path, so
    # orch's DAGs import the support module beside them.
    sys.path.insert(0, folder)
    bag = DagBag(dag_folder=folder)
    return {"dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values()),
            "edges": sum(len(t.downstream_task_ids) for d in bag.dags.values() for t in d.tasks),
            "import_errors": {os.path.basename(k): _gist(v) for k, v in bag.import_errors.items()}}


def _gist(error: str) -> str:
    """The line of an import error that says what happened (a timeout says so first)."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    said = [line for line in lines if "import timeout" in line.lower() or line.startswith(("airflow.", "Error"))]
    return (said or lines or [""])[0][:300]


def dagster_load(folder: str, module: str) -> dict:
    import importlib

    sys.path.insert(0, folder)
    mod = importlib.import_module(module)
    defs = mod.defs
    graph = defs.resolve_asset_graph()
    checks = sum(1 for _ in graph.asset_check_keys)
    return {"assets": len(list(graph.get_all_asset_keys())), "checks": checks}


ACTIONS = {"json_load": json_load, "orjson_load": orjson_load, "compile": compile_all, "build": build,
           "dagbag": dagbag, "dagster": dagster_load}


def main() -> None:
    action, args = sys.argv[1], sys.argv[2:]
    report = ACTIONS[action](*args)
    seconds = time.perf_counter() - START
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(json.dumps({"seconds": seconds, "max_rss_mb": rss_mb, **report}) + "\n")
    sys.stdout.flush()
    # Skip interpreter teardown: freeing a large heap is not part of any measurement.
    os._exit(0)


if __name__ == "__main__":
    main()
