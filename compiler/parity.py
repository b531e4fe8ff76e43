"""`orch diff`: read generated outputs back through the platforms themselves, and
prove they mean the same pipelines.

Each side is loaded by its own platform in a child process, by its backend's
`read_back` (Airflow: a real `DagBag`; Dagster: a real `Definitions`, validated
as `dagster dev` would), and reduced to what every platform can express:

- the assets each runs, and the pipeline (DAG / tagged schedule) that runs them;
- each pipeline's schedule (cron aliases spelled out, with the timezone);
- edges between assets of one pipeline;
- reads across pipelines, as (upstream asset, reading pipeline), by its assets
  and by its checks: Airflow waits for another DAG with one sensor per
  upstream DAG, so this is the finest cross-pipeline grain both sides have;
- which other pipelines each pipeline waits for: on Airflow the DAGs its
  sensors wait for; on Dagster the pipelines whose tables its assets' and
  checks' automation conditions wait to see updated since their cron tick (a
  pipeline its schedule runs waits for nothing);
- checks, by their IR id, with the assets each one reads. A table that no
  pipeline builds (a source) is waited for by neither platform and is left
  out; a check after a sensor reads, of the tables the sensor waits for, those
  the DAG's `ORCH_LINEAGE` says it reads, and only if the sensor waits for them.

Assets are named by their IR keys: Dagster keeps them in `orch/unique_id`
metadata, the Airflow files in their `ORCH_LINEAGE` table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable

from orch.compiler import backend

PLATFORMS = ("airflow", "dagster")



class UnreadableOutput(Exception):
    """A side could not be loaded by its platform at all."""


# -- reading back (in child processes) ---------------------------------------------------------


def read(platform: str, folder: str) -> dict:
    """One side, loaded by its platform in a child process."""
    return read_many(platform, [folder])[0]


def read_many(platform: str, folders: list[str]) -> list[dict]:
    """Each folder's side, loaded one after another by its platform in one child process."""
    for folder in folders:
        if not os.path.isdir(folder):
            raise UnreadableOutput(f"{folder}: no such folder (compile with --target {platform} first)")
    env = dict(os.environ, AIRFLOW__CORE__LOAD_EXAMPLES="False", ORCH_DUCKDB_DATABASE=":memory:")
    child = subprocess.run([sys.executable, "-m", "orch.compiler.parity", platform, *map(os.path.abspath, folders)],
                           capture_output=True, text=True, env=env, check=False)
    lines = [line for line in child.stdout.splitlines() if line.startswith(_RESULT)]
    if child.returncode != 0 or len(lines) != len(folders):
        tail = (child.stderr or child.stdout).strip().splitlines()[-1:] or ["no output"]
        where = folders[len(lines)] if len(lines) < len(folders) else folders[-1]
        raise UnreadableOutput(f"{where}: {platform} could not load it: {tail[0]}")
    return [json.loads(line[len(_RESULT):]) for line in lines]


# -- comparing ----------------------------------------------------------------------------------------


def compare(a: dict, b: dict, names: tuple[str, str] = PLATFORMS) -> list[str]:
    """Every difference between two sides, as sentences; empty when they agree."""
    left, right = names
    out = [f"{left}: {p}" for p in a["problems"]] + [f"{right}: {p}" for p in b["problems"]]

    def only(kind: str, items_a: Iterable, items_b: Iterable, show) -> None:
        sa, sb = set(items_a), set(items_b)
        out.extend(f"{kind} {show(x)}: only in {left}" for x in sorted(sa - sb))
        out.extend(f"{kind} {show(x)}: only in {right}" for x in sorted(sb - sa))

    only("asset", a["assets"], b["assets"], str)
    for key in sorted(set(a["assets"]) & set(b["assets"])):
        if a["assets"][key] != b["assets"][key]:
            out.append(f"asset {key}: in pipeline {a['assets'][key]} in {left}, {b['assets'][key]} in {right}")
    only("pipeline", a["pipelines"], b["pipelines"], str)
    for name in sorted(set(a["pipelines"]) & set(b["pipelines"])):
        sa, sb = a["pipelines"][name], b["pipelines"][name]
        if sa != sb:
            out.append(f"pipeline {name}: scheduled {sa[0]} ({sa[1]}) in {left}, {sb[0]} ({sb[1]}) in {right}")
        wa, wb = a["waits"].get(name, []), b["waits"].get(name, [])
        if wa != wb:
            out.append(f"pipeline {name}: waits for {', '.join(wa) or 'nothing'} in {left}, "
                       f"{', '.join(wb) or 'nothing'} in {right}")
    only("edge", map(tuple, a["edges"]), map(tuple, b["edges"]), lambda e: f"{e[0]} -> {e[1]}")
    only("cross-pipeline read", map(tuple, a["cross"]), map(tuple, b["cross"]),
         lambda e: f"of {e[0]} by pipeline {e[1]}")
    only("check", a["checks"], b["checks"], str)
    for check in sorted(set(a["checks"]) & set(b["checks"])):
        if a["checks"][check] != b["checks"][check]:
            out.append(f"check {check}: reads {', '.join(a['checks'][check])} in {left}, "
                       f"{', '.join(b['checks'][check])} in {right}")
    return out


def summary(side: dict) -> str:
    return (f"{len(side['assets'])} assets in {len(side['pipelines'])} pipelines, {len(side['edges'])} edges, "
            f"{len(side['cross'])} cross-pipeline reads, {len(side['checks'])} checks")


# Marks the child's result lines among whatever the platforms print.
_RESULT = "orch-parity-result "


def _child() -> int:
    platform, folders = sys.argv[1], sys.argv[2:]
    read_back = backend.load(platform).read_back
    for folder in folders:
        before = set(sys.modules)
        result = read_back(folder)
        sys.stdout.write("\n" + _RESULT + json.dumps(result) + "\n")
        sys.stdout.flush()
        # The next folder's modules have the same names (orch_definitions,
        # orch_airflow_support): forget this one's.
        for name in set(sys.modules) - before:
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if module_file.startswith(folder + os.sep):
                del sys.modules[name]
        if folder in sys.path:
            sys.path.remove(folder)
    return 0


if __name__ == "__main__":
    sys.exit(_child())
