"""orch's scale benchmarks, side by side with the anchors, in one run.

    python3 dev.py bench [--sizes 1000,5000,10000,20000] [--repeat 3]

For each size: a generated dbt-duckdb project parsed by real dbt (cached in
bench/.cache), then, each measured in a fresh process, as a median of
--repeat runs:

  floor      json.load and orjson.loads of the manifest
  compile    every backend: cold (empty output, empty black cache), again with
             no change, again after one model changed (checked byte-identical
             to a cold compile of the changed manifest); peak RSS of the compile;
             the part before any backend (read, lower, group, check), which
             bounds what caching the backends' output could save
  airflow    DagBag parse of our DAG folder; of a minimal hand-written DAG with
             the same tasks and edges; of astronomer-cosmos DbtDag with
             LoadMode.DBT_MANIFEST (under Airflow's 30 s import timeout)
  dagster    import + asset graph of our definitions; of dagster-dbt
             @dbt_assets on the same manifest (tests as asset checks); and
             the floor: bare AssetSpecs and AssetCheckSpecs in the same
             numbers as ours, in one multi-asset per 5,000 assets; then ours and
             dagster-dbt again with their folders compiled to bytecode
             (every other load is from source: no probe writes bytecode)

Writes bench/RESULTS.md (tables, targets, ratios) and bench/results.svg.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from bench import generate, plot  # noqa: E402

BIN = os.path.dirname(sys.executable)
CACHE = os.path.join(HERE, ".cache")
AIRFLOW_TIMEOUT = 30  # Airflow's default dagbag_import_timeout


def probe(*args: str, env: dict | None = None, timeout: float = 900) -> dict:
    full_env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    if args[0] in ("dagbag", "dagster"):
        # A load writes no bytecode, so each repeat starts from the same state:
        # from source, unless a step compiled the folder on purpose.
        full_env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run([sys.executable, os.path.join(HERE, "probe.py"), *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"probe {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(runs: list[dict], key: str = "seconds") -> float:
    return statistics.median(r[key] for r in runs)


def airflow_env(home: str, dags: str) -> dict:
    return {"AIRFLOW_HOME": home, "AIRFLOW__CORE__DAGS_FOLDER": dags, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": str(AIRFLOW_TIMEOUT)}


def write_minimal_dags(graph: dict, folder: str) -> None:
    """A hand-written DAG per generated one: the same task ids and edges, every
    task a plain BashOperator, straight-line code with no loops or helpers."""
    os.makedirs(folder, exist_ok=True)
    for dag_id, dag in graph.items():
        names = {task: f"t{i}" for i, task in enumerate(sorted(dag["tasks"]))}
        lines = [
            "from datetime import datetime",
            "",
            "from airflow.providers.standard.operators.bash import BashOperator",
            "from airflow.sdk import DAG",
            "",
            f"with DAG({dag_id!r}, schedule={dag['schedule']!r}, start_date=datetime(2026, 1, 1), catchup=False):",
        ]
        for task, var in names.items():
            lines.append(f"    {var} = BashOperator(task_id={task!r}, bash_command={'dbt build --select ' + task!r})")
        for up, down in dag["edges"]:
            lines.append(f"    {names[up]} >> {names[down]}")
        with open(os.path.join(folder, f"hand_{dag_id}.py"), "w") as fh:
            fh.write("\n".join(lines) + "\n")


GRAPH_SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
sys.path.insert(0, sys.argv[1])  # as the dag-processor has it: orch's DAGs import their support module
bag = DagBag(dag_folder=sys.argv[1])
out = {}
for dag_id, dag in bag.dags.items():
    out[dag_id] = {"schedule": str(dag.timetable.summary) if not isinstance(getattr(dag, "schedule", None), str)
                   else dag.schedule,
                   "tasks": sorted(dag.task_dict),
                   "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids)}
print(json.dumps(out))
"""

COSMOS_DAG = """# An astronomer-cosmos DAG (airflow) over the same manifest.
from datetime import datetime

from cosmos import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import LoadMode

dag = DbtDag(
    dag_id="cosmos_bench",
    project_config=ProjectConfig(dbt_project_path={project!r}, manifest_path={manifest!r}),
    profile_config=ProfileConfig(profile_name="warehouse", target_name="dev",
                                 profiles_yml_filepath={profiles!r}),
    render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST),
    execution_config=ExecutionConfig(dbt_executable_path={dbt!r}),
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
)
"""

DAGSTER_DBT = """from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

MANIFEST = Path({manifest!r})


@dbt_assets(
    manifest=MANIFEST,
    dagster_dbt_translator=DagsterDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
)
def warehouse_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


defs = dg.Definitions(
    assets=[warehouse_dbt_assets],
    resources={{"dbt": DbtCliResource(project_dir={project!r}, dbt_executable={dbt!r})}},
)
"""


# What Dagster itself costs for this many definitions, with nothing of orch's
# in them: the price of an AssetSpec and an AssetCheckSpec, whoever writes them.
DAGSTER_FLOOR = """import dagster as dg

ASSETS, CHECKS, PER = {assets}, {checks}, 5000
defs_list = []
for start in range(0, ASSETS, PER):
    keys = [["main", f"m{{i}}"] for i in range(start, min(start + PER, ASSETS))]
    specs = [dg.AssetSpec(k, deps=[keys[n - 1]] if n else [], skippable=True) for n, k in enumerate(keys)]
    share = [j for j in range(CHECKS) if j % ASSETS >= start and j % ASSETS < start + len(keys)]
    checks = [dg.AssetCheckSpec(f"c{{j}}", asset=keys[j % ASSETS - start]) for j in share]

    @dg.multi_asset(specs=specs, check_specs=checks, name=f"part_{{start}}")
    def part(context):
        pass

    defs_list.append(part)

defs = dg.Definitions(assets=defs_list)
"""


def change_one_model(manifest: str, dest: str) -> None:
    """The manifest after an edit of one model (its description and SQL), as `dbt parse` would write it."""
    with open(manifest) as fh:
        doc = json.load(fh)
    uid = sorted(k for k in doc["nodes"] if k.startswith("model.") and ".fct_model_" in k)[0]
    node = doc["nodes"][uid]
    node["description"] = (node.get("description") or "") + " Edited."
    node["raw_code"] = node.get("raw_code", "") + "\n-- edited\n"
    with open(dest, "w") as fh:
        json.dump(doc, fh)


def tree_bytes(folder: str) -> dict[str, bytes]:
    out = {}
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = fh.read()
    return out


def bench_size(n: int, repeat: int, work: str) -> dict:
    log = lambda msg: print(f"bench[{n}]: {msg}", file=sys.stderr, flush=True)  # noqa: E731
    manifest = generate.manifest_for(n, CACHE, os.path.join(BIN, "dbt"))
    project = os.path.dirname(os.path.dirname(manifest))
    size_mb = os.path.getsize(manifest) / 2**20
    res: dict = {"models": n, "manifest_mb": round(size_mb, 1)}
    folder = os.path.join(work, str(n))
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)

    log("floor: json.load / orjson.loads")
    loads = [probe("json_load", manifest) for _ in range(repeat)]
    res["json_load_s"] = median(loads)
    res["json_load_rss_mb"] = median(loads, "max_rss_mb")
    res["orjson_load_s"] = median([probe("orjson_load", manifest) for _ in range(repeat)])

    log("compile: cold, no change, one model changed")
    cold = []
    for i in range(repeat):
        out, cache = os.path.join(folder, f"cold{i}"), os.path.join(folder, f"cache{i}")
        cold.append(probe("compile", manifest, out, env={"ORCH_CACHE_DIR": cache}))
    res["compile_cold_s"] = median(cold)
    res["compile_rss_mb"] = median(cold, "max_rss_mb")
    out, cache = os.path.join(folder, "cold0"), os.path.join(folder, "cache0")
    res["compile_nochange_s"] = median([probe("compile", manifest, out, env={"ORCH_CACHE_DIR": cache})
                                        for _ in range(repeat)])
    changed = os.path.join(folder, "changed_manifest.json")
    change_one_model(manifest, changed)
    one = []
    for i in range(repeat):
        # Each run starts from the unchanged output and its warm cache.
        work_out = os.path.join(folder, f"incr{i}")
        shutil.copytree(out, work_out)
        probe("compile", manifest, work_out, env={"ORCH_CACHE_DIR": cache})
        one.append(probe("compile", changed, work_out, env={"ORCH_CACHE_DIR": cache}))
    res["compile_onechange_s"] = median(one)
    res["build_only_s"] = median([probe("build", changed) for _ in range(repeat)])
    fresh = os.path.join(folder, "changed_cold")
    probe("compile", changed, fresh, env={"ORCH_CACHE_DIR": os.path.join(folder, "cache_fresh")})
    res["incremental_identical"] = tree_bytes(fresh) == tree_bytes(os.path.join(folder, "incr0"))

    log("airflow: DagBag of ours, hand-written, cosmos")
    home = os.path.join(folder, "airflow-home")
    ours = os.path.join(out, "airflow")
    env = airflow_env(home, ours)
    runs = [probe("dagbag", ours, env=env) for _ in range(repeat)]
    res["airflow_ours_s"] = median(runs)
    res["airflow_tasks"] = runs[0]["tasks"]
    res["airflow_ours_errors"] = runs[0]["import_errors"]
    graph_proc = subprocess.run([sys.executable, "-c", GRAPH_SCRIPT, ours], capture_output=True, text=True,
                                env=dict(os.environ, **env), check=True)
    graph = json.loads(graph_proc.stdout.strip().splitlines()[-1])
    hand = os.path.join(folder, "hand_dags")
    write_minimal_dags(graph, hand)
    hand_runs = [probe("dagbag", hand, env=airflow_env(home, hand)) for _ in range(repeat)]
    res["airflow_hand_s"] = median(hand_runs)
    assert hand_runs[0]["tasks"] == runs[0]["tasks"] and hand_runs[0]["edges"] == runs[0]["edges"], \
        (hand_runs[0], runs[0])
    cosmos = os.path.join(folder, "cosmos_dags")
    os.makedirs(cosmos)
    with open(os.path.join(cosmos, "cosmos_bench_dag.py"), "w") as fh:
        fh.write(COSMOS_DAG.format(project=project, manifest=manifest, profiles=os.path.join(project, "profiles.yml"),
                                   dbt=os.path.join(BIN, "dbt")))
    cosmos_runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        run = probe("dagbag", cosmos, env=airflow_env(home, cosmos), timeout=1800)
        run["wall"] = time.perf_counter() - started
        cosmos_runs.append(run)
        if run["import_errors"]:
            break  # a timeout takes as long every time
    res["airflow_cosmos_s"] = median(cosmos_runs)
    res["airflow_cosmos_tasks"] = cosmos_runs[0]["tasks"]
    res["airflow_cosmos_errors"] = cosmos_runs[0]["import_errors"]

    log("dagster: ours, dagster-dbt")
    dg_env = {"DAGSTER_HOME": os.path.join(folder, "dagster-home")}
    os.makedirs(dg_env["DAGSTER_HOME"])
    d_runs = [probe("dagster", os.path.join(out, "dagster"), "orch_definitions", env=dg_env) for _ in range(repeat)]
    res["dagster_ours_s"] = median(d_runs)
    res["dagster_ours_assets"], res["dagster_ours_checks"] = d_runs[0]["assets"], d_runs[0]["checks"]
    anchor = os.path.join(folder, "dagster_dbt")
    os.makedirs(anchor)
    with open(os.path.join(anchor, "dbt_defs.py"), "w") as fh:
        fh.write(DAGSTER_DBT.format(manifest=manifest, project=project, dbt=os.path.join(BIN, "dbt")))
    a_runs = [probe("dagster", anchor, "dbt_defs", env=dg_env, timeout=1800) for _ in range(repeat)]
    res["dagster_dbt_s"] = median(a_runs)
    floor = os.path.join(folder, "dagster_floor")
    os.makedirs(floor)
    with open(os.path.join(floor, "floor_defs.py"), "w") as fh:
        fh.write(DAGSTER_FLOOR.format(assets=res["dagster_ours_assets"], checks=res["dagster_ours_checks"]))
    res["dagster_floor_s"] = median([probe("dagster", floor, "floor_defs", env=dg_env) for _ in range(repeat)])
    res["dagster_dbt_assets"], res["dagster_dbt_checks"] = a_runs[0]["assets"], a_runs[0]["checks"]

    # The loads above compile orch's generated modules (10 MB of source at 10k
    # models) every time, while dagster-dbt's code comes from the bytecode pip
    # wrote at install. A code server whose folder is writable keeps bytecode
    # after its first load, and an image built with `compileall` ships it: the
    # like-for-like comparison is both sides from bytecode.
    log("dagster: ours and dagster-dbt, from bytecode")
    for where in (os.path.join(out, "dagster"), anchor):
        subprocess.run([sys.executable, "-m", "compileall", "-q", where], check=True)
    res["dagster_ours_pyc_s"] = median([probe("dagster", os.path.join(out, "dagster"), "orch_definitions",
                                              env=dg_env) for _ in range(repeat)])
    res["dagster_dbt_pyc_s"] = median([probe("dagster", anchor, "dbt_defs", env=dg_env, timeout=1800)
                                       for _ in range(repeat)])
    log(json.dumps(res))
    return res


def main(argv: list[str]) -> int:
    if "--run" in argv or "--triggerer" in argv:
        from bench import runs

        return runs.main(argv)
    parser = argparse.ArgumentParser(prog="dev.py bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000,10000,20000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", default=os.path.join(HERE, ".work"), help="scratch folder")
    parser.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = [bench_size(n, args.repeat, args.work) for n in sizes]
    with open(os.path.join(HERE, "results.json"), "w") as fh:
        json.dump({"machine": machine(), "repeat": args.repeat, "results": results}, fh, indent=2)
    plot.write(results, os.path.join(HERE, "results.svg"))
    from pathlib import Path

    from bench import runs

    kept = runs.kept_section(Path(args.results))
    with open(args.results, "w") as fh:
        fh.write(plot.markdown(results, machine(), args.repeat) + ("\n" + kept if kept else ""))
    print(f"bench: wrote {args.results}", file=sys.stderr)
    return 0


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d")}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
