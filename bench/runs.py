"""Run-time benchmarks on a real Airflow deployment (tests/airflow_deployment.py).

    python3 dev.py bench --run [--sizes 100,300,1000] [--cap 4] [--no-peers]

One pipeline run of a generated dbt-duckdb project whose sources hold data,
at each size, on one deployment per size: one `dbt build` (the reference),
Airflow's floor (orch's DAG shape, all EmptyOperator), orch's DAG in its
default mode, Cosmos's DbtDag in watcher mode, and the per-model runs
(orch's dbt_invocation=model, Cosmos LOCAL: whole up to 100 models, sampled
above); then orch's Dagster definitions and dagster-dbt's, materialized.
Every run is bounded; capped and failed runs are reported as such.

    python3 dev.py bench --triggerer [--waiting 1000]

What the triggerer pays for model tasks that wait. A generated dbt-duckdb
project of --waiting independent models is compiled in orch's default mode
(one `dbt build` per run, every model a trigger-started task). Its build is
held at dbt's `on-run-start` by a hook that reads a named pipe, so dbt is
running (its results file started, its heartbeat going) and nothing is
reported yet: every model task is deferred and waits. The triggerer's CPU
(its whole process tree) is sampled over a window while all of them wait,
and over as long a window while it runs no trigger at all; the difference
is what waiting costs. Then the pipe is opened and the time from the build's
end to the run's end is taken: how long the triggerer needs to end every task.

Results are written to the "Run" section of bench/RESULTS.md and to
bench/runs.json.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.airflow_deployment import Deployment

BIN = Path(sys.executable).parent
DAY = "2026-11-28"


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def wide_project(n: int, folder: Path, gate: Path) -> Path:
    """N models that read nothing in the DAG, so all their tasks wait at once; the
    build stops at on-run-start until `gate` (a named pipe) is written."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(
        "name: wide\nversion: '1.0'\nconfig-version: 2\nprofile: wide\n"
        f"on-run-start:\n  - \"select length(content) from read_text('{gate}')\"\n"
        "models:\n  wide:\n    +materialized: table\n    +meta: {schedule: daily}\n")
    (folder / "profiles.yml").write_text(
        "wide:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {folder / 'wide.duckdb'}\n      threads: 2\n")
    for i in range(n):
        (folder / "models" / f"wide_{i}.sql").write_text(f"select {i} as id\n")
    subprocess.run([str(BIN / "dbt"), "parse", "--quiet", "--project-dir", str(folder), "--profiles-dir",
                    str(folder)], check=True, timeout=600, env=dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false"))
    return folder / "target" / "manifest.json"


def compile_airflow(manifest: Path, profiles: Path, out: Path, *options: str, args: tuple[str, ...] = (),
                    target: str = "airflow") -> Path:
    shutil.rmtree(out, ignore_errors=True)
    argv = [str(BIN / "orch"), "compile", str(manifest), "--target", target, "--out", str(out),
            "--profiles-dir", str(profiles), *args]
    for option in options:
        argv += ["-O", option]
    subprocess.run(argv, check=True, timeout=600, env=dict(os.environ, ORCH_CACHE_DIR=str(out / ".cache")))
    return out / target


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and its children now alive (none once it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def process_cpu(pid: int) -> dict[tuple[int, str], float]:
    """CPU seconds of a process and each of its children now alive, by (pid, name)."""
    found = {}
    for process in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            found[process.pid, " ".join(process.cmdline()[:3])[:80]] = times.user + times.system
    return found


def cpu_window(airflow: Deployment, seconds: float) -> dict[str, float]:
    """Share of one core each component (with its children: the scheduler's are
    LocalExecutor's workers and the tasks they run) used over `seconds`, and the
    busiest processes."""
    names = ("triggerer", "scheduler", "dag-processor", "api-server")
    before = {name: process_cpu(airflow.processes[name].pid) for name in names}
    start = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - start
    after = {name: process_cpu(airflow.processes[name].pid) for name in names}
    shares = {name: sum(cpu - before[name].get(key, 0.0) for key, cpu in after[name].items()) / wall
              for name in names}
    busiest = sorted(((cpu - before[name].get(key, 0.0)) / wall, key[1]) for name in names
                     for key, cpu in after[name].items())[-4:]
    rss = {name: rss_mb(airflow.processes[name].pid) for name in names}
    return {**shares, "rss_mb": rss, "busiest": [[round(share, 3), what] for share, what in reversed(busiest)]}


def rss_mb(pid: int) -> float:
    total = 0
    for process in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return round(total / 2**20, 1)


def total_cpu(airflow: Deployment, name: str) -> float:
    return sum(process_cpu(airflow.processes[name].pid).values())


def utc_seconds(stamp: str) -> float:
    """A timestamp of Airflow's metadata database (UTC) as epoch seconds."""
    moment = datetime.datetime.fromisoformat(stamp)
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)).timestamp()


CONTROL = """# The control: orch's model task with a trigger that waits and does nothing,
# which is what Airflow itself charges for a waiting trigger-started task.
import asyncio
import dataclasses

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.triggers.base import BaseTrigger
from orch_airflow_support import DbtNodeSensor as _DbtNodeSensor


class IdleTrigger(BaseTrigger):
    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs

    def serialize(self):
        return ("bench_control.IdleTrigger", self.kwargs)

    async def run(self):
        await asyncio.Event().wait()
        yield None


class DbtBuildOperator(EmptyOperator):
    # No build: the control's tasks wait for nothing.

    def __init__(self, *, argv, cwd, results_dir, dbt_vars=None, stale_seconds=None, lock=None, **kwargs):
        super().__init__(**kwargs)


class DbtNodeSensor(_DbtNodeSensor):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.start_trigger_args = dataclasses.replace(self.start_trigger_args,
                                                      trigger_cls="bench_control.IdleTrigger")
"""


def write_control(dags: Path, dag_id: str) -> str:
    """The same DAG (size, shape, task arguments) with the control's trigger."""
    text = (dags / f"{dag_id}.py").read_text()
    control = f"control_{dag_id}"
    text = text.replace(f'dag_id="{dag_id}"', f'dag_id="{control}"').replace(
        "from orch_airflow_support import DbtBuildOperator, DbtNodeSensor",
        "from bench_control import DbtBuildOperator, DbtNodeSensor")
    assert f'dag_id="{control}"' in text and "from bench_control import" in text
    (dags / "bench_control.py").write_text(CONTROL)
    (dags / f"{control}.py").write_text(text)
    return control


def sample_waiting(airflow: Deployment, dag_id: str, waiting: int, window: float, freeze: Path | None) -> tuple:
    """Trigger a run, wait until `waiting` of its tasks wait in the triggerer, then
    sample CPU over `window`; (run id, what was measured)."""
    measured: dict = {}
    started = time.monotonic()
    cpu_before = total_cpu(airflow, "triggerer")
    run_id = airflow.trigger(dag_id, f"{DAY}T00:00:00Z")

    def deferred() -> int:
        return airflow.db("SELECT count(*) FROM task_instance WHERE dag_id = ? AND run_id = ? AND state = "
                          "'deferred'", dag_id, run_id)[0][0]

    def started_triggers() -> int:
        # A trigger is running once it has logged "trigger ... starting" into its
        # task's log; a trigger only assigned may still queue inside the triggerer.
        logs = airflow.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        return len({path.parent for path in logs.glob("task_id=*/*.trigger.*")})

    airflow.until(f"{waiting} tasks deferred", lambda: deferred() >= waiting, 900)
    measured["seconds_to_defer_all"] = time.monotonic() - started
    airflow.until(f"{waiting} triggers running", lambda: started_triggers() >= waiting, 1200)
    measured["seconds_to_run_all_triggers"] = time.monotonic() - started
    measured["triggerer_cpu_seconds_per_trigger_start"] = (total_cpu(airflow, "triggerer") - cpu_before) / waiting
    time.sleep(15)  # let every trigger reach its wait
    dbt = []
    if freeze is not None:
        producer = airflow.db("SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = "
                              "'dbt_build'", dag_id, run_id)[0][0]
        if producer != "running":
            raise RuntimeError(f"the dbt build is {producer}, not running at the gate; see {airflow.home}/logs")
        # dbt-duckdb spins a core while its hook waits on the pipe; frozen, it
        # leaves both cores to Airflow, as a build busy elsewhere would.
        dbt = [p for p in psutil.process_iter(["cmdline"])
               if "build" in (p.info["cmdline"] or []) and str(freeze) in (p.info["cmdline"] or [])]
    for process in dbt:
        process.suspend()
    log(f"triggerer: {dag_id}: window with {deferred()} tasks waiting ...")
    try:
        measured["window"] = cpu_window(airflow, window)
    finally:
        for process in dbt:
            process.resume()
    measured["deferred_during_window"] = deferred()
    return run_id, measured


def triggerer(waiting: int, work: Path, window: float = 60.0) -> dict:
    home = work / f"triggerer_{waiting}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    gate = home / "gate.fifo"
    os.mkfifo(gate)
    log(f"triggerer: a {waiting}-model project, dbt parse ...")
    manifest = wide_project(waiting, home / "project", gate)
    dags = compile_airflow(manifest, home / "project", home / "build", "retries=0", "critical_retries=0",
                           f"dbt_executable={BIN / 'dbt'}")
    [dag_id] = [path.stem for path in dags.glob("dbt_*.py")]
    control = write_control(dags, dag_id)
    airflow = Deployment(home / "airflow", dags, {
        # Room for every waiting task in one triggerer, and a scheduler that
        # hands many tasks to it per loop.
        "AIRFLOW__TRIGGERER__CAPACITY": str(max(1000, waiting + 100)),
        "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "0",
    })
    (home / "airflow").mkdir()
    result: dict = {"waiting": waiting, "window_seconds": window}
    try:
        airflow.start()
        airflow.wait_for_dags([dag_id, control], timeout=300)
        time.sleep(10)
        log("triggerer: idle window ...")
        result["idle"] = cpu_window(airflow, window)

        # The control first: Airflow's own price for as many waiting tasks.
        run_id, result["control"] = sample_waiting(airflow, control, waiting, window, None)
        airflow.end_run(control, run_id)
        airflow.until("the control's triggers gone", lambda: not airflow.db("SELECT count(*) FROM trigger")[0][0],
                      600)
        time.sleep(10)

        run_id, result["orch"] = sample_waiting(airflow, dag_id, waiting, window, home / "project")
        # Open the gate: dbt builds every model, and the triggerer ends every task.
        opened = time.monotonic()
        threading.Thread(target=lambda: gate.write_text("go\n"), daemon=True).start()
        state, tasks = airflow.wait(dag_id, run_id, timeout=1800)
        result["seconds_gate_to_run_end"] = time.monotonic() - opened
        [results] = results_files(airflow, dag_id, run_id)
        build_end = json.loads(results.read_text().splitlines()[-1])["at"]
        run_end = airflow.db("SELECT end_date FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)[0][0]
        result["seconds_build_end_to_run_end"] = utc_seconds(run_end) - build_end
        result["run_state"] = state
        result["task_states"] = {s: list(tasks.values()).count(s) for s in set(tasks.values())}
    finally:
        airflow.stop()
    share = {what: result[what]["window"]["triggerer"] - result["idle"]["triggerer"] for what in ("control", "orch")}
    result["triggerer_core_share_per_1000_waiting"] = {k: v * 1000 / waiting for k, v in share.items()}
    result["orch_polling_core_share_per_1000_waiting"] = (share["orch"] - share["control"]) * 1000 / waiting
    log(json.dumps(result))
    return result


# -- the run benchmark: one `dbt build`, Airflow's floor, orch's DAG ----------------

FLOOR_DAG = """# Airflow's floor: orch's DAG shape, every task an EmptyOperator.
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, max_active_tasks=10000):
    tasks = {{task: EmptyOperator(task_id=task) for task in {tasks!r}}}
    for up, down in {edges!r}:
        tasks[up] >> tasks[down]
"""


def run_project(n: int, work: Path) -> dict:
    """The run flavour of bench/generate.py's project, parsed, with its sources
    created and filled in a DuckDB file kept as the state every run starts from."""
    from bench import generate

    folder = work / f"run_{n}" / "project"
    shutil.rmtree(folder.parent, ignore_errors=True)
    warehouse = folder.parent / "warehouse.duckdb"
    files = generate.project_files(n, warehouse=str(warehouse))
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    subprocess.run([str(BIN / "dbt"), "parse", "--quiet", "--project-dir", str(folder), "--profiles-dir",
                    str(folder)], check=True, timeout=900, env=dbt_env())
    manifest = json.loads((folder / "target" / "manifest.json").read_text())
    tables = sorted({source["name"] for source in manifest["sources"].values()})
    seed = folder.parent / "seed.duckdb"
    import duckdb

    with duckdb.connect(str(seed)) as db:
        db.execute("create schema raw")
        for table in tables:
            # A thousand rows a table over the last days, up to now, so orch's freshness
            # checks pass; ids unique, as the staging tests expect.
            db.execute(f"create table raw.{table} as select range as id, "
                       "now()::timestamp - (1000 - range) * interval 5 minute as updated_at, "
                       "round(random() * 100, 2) as amount, now()::timestamp as _loaded_at "
                       "from range(1000)")
    return {"n": n, "folder": folder, "manifest": folder / "target" / "manifest.json", "seed": seed,
            "warehouse": warehouse, "sources": len(tables)}


def dbt_env() -> dict:
    return dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false")


def fresh_warehouse(project: dict) -> None:
    """Every run starts from the same warehouse: sources filled, nothing built."""
    for suffix in ("", ".wal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{project['warehouse']}{suffix}")
    shutil.copy(project["seed"], project["warehouse"])


def dbt_build(project: dict, cap: float) -> dict:
    fresh_warehouse(project)
    started = time.monotonic()
    try:
        done = subprocess.run([str(BIN / "dbt"), "build", "--quiet", "--project-dir", str(project["folder"]),
                               "--profiles-dir", str(project["folder"])], timeout=cap, env=dbt_env(),
                              capture_output=True, text=True, check=False)
    except subprocess.TimeoutExpired:
        return {"seconds": cap, "state": "capped"}
    return {"seconds": time.monotonic() - started, "state": "success" if done.returncode == 0 else
            f"failed (dbt exited {done.returncode}): {done.stdout[-500:]}"}


def dag_graph(dags: Path) -> dict:
    """task ids and edges of every DAG in a folder, as Airflow's DagBag reads them."""
    from bench.run import GRAPH_SCRIPT

    done = subprocess.run([sys.executable, "-c", GRAPH_SCRIPT, str(dags)], capture_output=True, text=True, check=True,
                          env=dict(os.environ, AIRFLOW__CORE__LOAD_EXAMPLES="False"), timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_floor(graph: dict, folder: Path) -> list[str]:
    ids = []
    for dag_id, dag in graph.items():
        floor_id = f"floor_{dag_id}"
        (folder / f"{floor_id}.py").write_text(FLOOR_DAG.format(dag_id=floor_id, tasks=dag["tasks"],
                                                                 edges=[tuple(e) for e in dag["edges"]]))
        ids.append(floor_id)
    return ids


def timed_run(airflow: Deployment, dag_id: str, logical_date: str, cap: float) -> dict:
    """One DAG run, timed from its start to its end as the scheduler recorded them;
    a run still going at `cap` is stopped there and reported as capped."""
    run_id = airflow.trigger(dag_id, logical_date)
    try:
        state, _ = airflow.wait(dag_id, run_id, timeout=cap)
        capped = False
    except TimeoutError:
        capped = True
    start, end = airflow.db("SELECT start_date, end_date FROM dag_run WHERE dag_id = ? AND run_id = ?",
                            dag_id, run_id)[0]
    tasks = list(airflow.task_states(dag_id, run_id).values())
    timed = {"seconds": cap if capped else utc_seconds(end) - utc_seconds(start),
             "state": "capped" if capped else state,
             "tasks": {s: tasks.count(s) for s in sorted(set(tasks), key=str)}}
    producer = airflow.db("SELECT queued_dttm, start_date, end_date FROM task_instance WHERE dag_id = ? AND "
                          "run_id = ? AND task_id = 'dbt_build'", dag_id, run_id)
    if producer and all(producer[0]):
        # Where the time went, in seconds from the run's start: the producer queued,
        # running on its worker, dbt's own start and end (from the results file), done.
        queued, began, ended = (utc_seconds(t) - utc_seconds(start) for t in producer[0])
        timed["producer"] = {"queued": queued, "started": began, "ended": ended}
        for results in results_files(airflow, dag_id, run_id):
            records = [json.loads(line) for line in results.read_text().splitlines()]
            timed["producer"]["dbt_started"] = records[0]["at"] - utc_seconds(start)
            timed["producer"]["dbt_ended"] = records[-1]["at"] - utc_seconds(start)
    if timed["state"] != "success":
        timed["cause"] = failure_cause(airflow, dag_id, run_id)
    stalled = triggerer_stalled(airflow, time.time())
    if stalled:
        timed["triggerer"] = stalled
    if capped:
        stop_run(airflow, dag_id, run_id)
    return timed


def stop_run(airflow: Deployment, dag_id: str, run_id: str) -> None:
    """End a run and wait until none of its tasks runs: the next run starts from a quiet warehouse."""
    airflow.end_run(dag_id, run_id)
    airflow.until(f"{dag_id}'s tasks stopped", lambda: not airflow.db(
        "SELECT 1 FROM task_instance WHERE dag_id = ? AND run_id = ? AND state = 'running'", dag_id, run_id), 120)


def results_files(airflow: Deployment, dag_id: str, run_id: str) -> list[Path]:
    """The run's results files, wherever the DAG's dbt_results_dir put them."""
    pattern = f"**/orch_runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}/*.jsonl"
    return sorted(airflow.dags.parent.parent.glob(pattern))


# One materialization of every asset and check of a Definitions module, in
# process on an ephemeral instance: the load and the run timed apart.
MATERIALIZE = """
import json, sys, time
started = time.monotonic()
sys.path.insert(0, sys.argv[1])
import importlib
import dagster as dg
defs = importlib.import_module(sys.argv[2]).defs
graph = defs.resolve_asset_graph()
keys = [k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable]
loaded = time.monotonic()
result = dg.materialize([*(defs.assets or ()), *(defs.asset_checks or ())], selection=keys,
                        resources=defs.resources, raise_on_error=False)
ended = time.monotonic()
checks = [e.passed for e in result.get_asset_check_evaluations()]
print(json.dumps({"load_seconds": loaded - started, "seconds": ended - loaded,
                  "state": "success" if result.success else "failed",
                  "materialized": len(result.get_asset_materialization_events()),
                  "checks": {"passed": checks.count(True), "failed": checks.count(False)}}))
"""

# dagster-dbt's documented way: one multi-asset of every dbt node, one `dbt build`.
DAGSTER_DBT = """from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets


@dbt_assets(manifest=Path({manifest!r}),
            dagster_dbt_translator=DagsterDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)))
def warehouse_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


defs = dg.Definitions(assets=[warehouse_dbt_assets],
                      resources={{"dbt": DbtCliResource(project_dir={project!r}, profiles_dir={project!r},
                                                        dbt_executable={dbt!r})}})
"""


def materialize(project: dict, folder: Path, module: str, cap: float) -> dict:
    """Every asset of `module` (in `folder`) materialized from the fresh warehouse, bounded by `cap`."""
    fresh_warehouse(project)
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", MATERIALIZE, str(folder), module], capture_output=True,
                              text=True, timeout=cap, check=False,
                              env=dict(dbt_env(), ORCH_DUCKDB_DATABASE=str(project["warehouse"])))
    except subprocess.TimeoutExpired:
        return {"seconds": cap, "state": "capped"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"seconds": time.monotonic() - started,
                "state": f"failed (exit {done.returncode}): {done.stderr.strip()[-500:]}"}


def dagster_runs(project: dict, home: Path, cap: float) -> dict:
    """orch's Dagster definitions and dagster-dbt's, each materialized whole."""
    out = compile_airflow(project["manifest"], project["folder"], home / "build_dagster",
                          f"dbt_executable={BIN / 'dbt'}", args=("--group-by", "none"), target="dagster")
    peer = home / "dagster_dbt"
    peer.mkdir(exist_ok=True)
    (peer / "dagster_dbt_defs.py").write_text(DAGSTER_DBT.format(
        manifest=str(project["manifest"]), project=str(project["folder"]), dbt=str(BIN / "dbt")))
    return {"orch": materialize(project, out, "orch_definitions", cap),
            "dagster_dbt": materialize(project, peer, "dagster_dbt_defs", cap)}


# astronomer-cosmos over the same project and manifest, in one of its execution modes.
COSMOS_RUN_DAG = """# An astronomer-cosmos DAG: the words airflow and DAG let safe-mode discovery find it.
from datetime import datetime

from cosmos import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, LoadMode

dag = DbtDag(
    dag_id={dag_id!r},
    project_config=ProjectConfig(dbt_project_path={project!r}, manifest_path={manifest!r}),
    profile_config=ProfileConfig(profile_name="warehouse", target_name="dev", profiles_yml_filepath={profiles!r}),
    # A test of several models runs once all are built, not with the first (Cosmos's advice).
    render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, should_detach_multiple_parents_tests=True),
    execution_config=ExecutionConfig(execution_mode=ExecutionMode.{mode}, dbt_executable_path={dbt!r}),
    operator_args={operator_args!r},
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=10000,
)
"""

# Per-model runs on DuckDB take turns on one writer: an Airflow pool of one slot.
POOL = "bench_duckdb"
# Up to this size per-model runs go whole, bounded by WHOLE_CAP; above, SAMPLE tasks.
WHOLE_UP_TO = 100
WHOLE_CAP = 600.0
SAMPLE = 20


def write_peer_dags(project: dict, dags: Path) -> dict[str, str]:
    """The per-model and Cosmos DAGs beside orch's: kind -> dag id."""
    home = project["folder"].parent
    per_model = compile_airflow(project["manifest"], project["folder"], home / "build_model",
                                f"dbt_executable={BIN / 'dbt'}", "retries=0", "critical_retries=0",
                                "dbt_invocation=model", args=("--group-by", "none"))
    ids = {}
    for path in per_model.glob("*.py"):
        if path.name.startswith("orch_"):
            continue
        text = path.read_text()
        dag_id = path.stem
        # One folder holds both of orch's modes: the per-model DAG takes another id and pool.
        text = text.replace(f'dag_id="{dag_id}"', f'dag_id="model_{dag_id}"', 1)
        text = text.replace('pool="orch_duckdb_warehouse"', f'pool="{POOL}"')
        (dags / f"model_{dag_id}.py").write_text(text)
        ids["orch_model"] = f"model_{dag_id}"
    for kind, mode, args in (("cosmos_watcher", "WATCHER", {}), ("cosmos_local", "LOCAL", {"pool": POOL})):
        (dags / f"{kind}.py").write_text(COSMOS_RUN_DAG.format(
            dag_id=kind, project=str(project["folder"]), manifest=str(project["manifest"]),
            profiles=str(project["folder"] / "profiles.yml"), mode=mode, dbt=str(BIN / "dbt"), operator_args=args))
        ids[kind] = kind
    return ids


def failure_cause(airflow: Deployment, dag_id: str, run_id: str) -> str | None:
    """Why the first task of the run that failed did: its exception and the last
    error its dbt printed, read from the task's log."""
    failed = airflow.db("SELECT task_id FROM task_instance WHERE dag_id = ? AND run_id = ? AND state = 'failed' "
                        "ORDER BY end_date LIMIT 1", dag_id, run_id)
    if not failed:
        return None
    folder = airflow.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={failed[0][0]}"
    exception, dbt_error = None, None
    for path in sorted(folder.rglob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(record.get("event", "")))
            if record.get("error_detail") and exception is None:
                detail = record["error_detail"][0]
                exception = f"{detail.get('exc_type')}: {str(detail.get('exc_value'))[:200]}"
            elif record.get("logger") == "task.stdout" and "Error" in text:
                dbt_error = text.strip()[:300]  # the last one says what went wrong
    return f"{failed[0][0]}: " + ("; ".join(filter(None, [exception, dbt_error])) or "no error in its log")


def triggerer_stalled(airflow: Deployment, until: float) -> str | None:
    """Why the triggerer stopped, when by `until` it had not heartbeaten for a minute:
    its own last word on it from its log, or the time of its last heartbeat."""
    beat = airflow.db("SELECT max(latest_heartbeat) FROM job WHERE job_type = 'TriggererJob'")[0][0]
    if beat is None or until - utc_seconds(beat) < 60:
        return None
    said = [line for line in (airflow.home / "triggerer.log").read_text(errors="replace").splitlines()
            if "appears deadlocked" in line]
    last = re.sub(r"\s+\[airflow.*$", "", said[-1])[:300] if said else "nothing in its log"
    return f"no triggerer heartbeat since {beat} UTC; it said: {last}"


def sampled_run(airflow: Deployment, dag_id: str, logical_date: str, cap: float, tasks: int) -> dict:
    """The first SAMPLE tasks of a serial (one-writer) run, then the run stopped; the
    whole run's estimate is the median time between task ends x its tasks."""
    run_id = airflow.trigger(dag_id, logical_date)

    def ended() -> list[str]:
        return [end for (end,) in airflow.db(
            "SELECT end_date FROM task_instance WHERE dag_id = ? AND run_id = ? AND end_date IS NOT NULL "
            "AND state IN ('success', 'failed') ORDER BY end_date", dag_id, run_id)]

    capped = False
    try:
        airflow.until(f"{SAMPLE} tasks of {dag_id}", lambda: len(ended()) >= SAMPLE, cap)
    except TimeoutError:
        capped = True
    start = airflow.db("SELECT start_date FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)[0][0]
    ends = [utc_seconds(start), *(utc_seconds(e) for e in ended()[:SAMPLE])]
    gaps = sorted(b - a for a, b in itertools.pairwise(ends))
    cause = failure_cause(airflow, dag_id, run_id)
    stop_run(airflow, dag_id, run_id)
    median = gaps[len(gaps) // 2] if gaps else cap
    return {"estimate": True, "seconds": median * tasks, "sampled": len(gaps), "median_task_seconds": median,
            "state": "capped" if capped else ("failed" if cause else "success"), "cause": cause, "tasks": tasks}


# Each DAG file parsed once: a dag-processor re-parsing Cosmos's DAG every 30 s
# would charge every run with it. The triggerer's watchdog off: starting a few
# hundred trigger tasks of a 1,000-task DAG keeps its event loop busy past the
# default 30 s, and the watchdog then stops its heartbeat for good
# (docs/backends.md, "Large pipelines").
RUN_DEPLOYMENT = {"AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
                  "AIRFLOW__TRIGGERER__RUNNER_HEALTH_CHECK_THRESHOLD": "0"}


def run_size(n: int, work: Path, cap_factor: float, with_peers: bool = True,
             whole_up_to: int = WHOLE_UP_TO) -> dict:
    log(f"run[{n}]: project, dbt parse, sources ...")
    project = run_project(n, work)
    home = project["folder"].parent
    result: dict = {"models": n, "sources": project["sources"]}
    log(f"run[{n}]: one dbt build (the reference) ...")
    result["dbt_build"] = dbt_build(project, cap=3600)
    reference = result["dbt_build"]["seconds"]
    cap = max(120.0, cap_factor * reference)
    dags = compile_airflow(project["manifest"], project["folder"], home / "build", f"dbt_executable={BIN / 'dbt'}",
                           "retries=0", "critical_retries=0", args=("--group-by", "none"))
    graph = dag_graph(dags)
    orch_ids = sorted(graph)
    floor_ids = write_floor(graph, dags)
    result["airflow_tasks"] = sum(len(dag["tasks"]) for dag in graph.values())
    result["dags"] = orch_ids
    peers = write_peer_dags(project, dags) if with_peers else {}
    airflow = Deployment(home / "airflow", dags, RUN_DEPLOYMENT)
    (home / "airflow").mkdir()
    try:
        airflow.start()
        airflow.wait_for_dags([*orch_ids, *floor_ids, *peers.values()], timeout=900)
        if peers:
            airflow.api("POST", "/pools", {"name": POOL, "slots": 1})
            peer_tasks = {dag_id: airflow.api("GET", f"/dags/{dag_id}/tasks")["total_entries"]
                          for dag_id in peers.values()}
        stamp = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        log(f"run[{n}]: Airflow's floor (EmptyOperator) ...")
        result["floor"] = [timed_run(airflow, dag_id, stamp.isoformat(), cap) for dag_id in floor_ids]
        log(f"run[{n}]: orch, dbt_invocation=pipeline ...")
        fresh_warehouse(project)
        result["orch_pipeline"] = [timed_run(airflow, dag_id, stamp.isoformat(), cap) for dag_id in orch_ids]
        if peers and triggerer_stalled(airflow, time.time()):
            # A wedged triggerer would fail the peers for orch's sake: they get a fresh one.
            log(f"run[{n}]: the triggerer stalled; restarting the deployment for the peers ...")
            airflow.stop()
            airflow.start()
        if peers:
            log(f"run[{n}]: Cosmos, watcher mode ...")
            fresh_warehouse(project)
            result["cosmos_watcher"] = timed_run(airflow, peers["cosmos_watcher"], stamp.isoformat(), cap)
        for kind in ("orch_model", "cosmos_local") if peers else ():
            fresh_warehouse(project)
            tasks = peer_tasks[peers[kind]]
            if n <= whole_up_to:
                log(f"run[{n}]: {kind}, whole ({tasks} tasks, capped at {WHOLE_CAP:.0f} s) ...")
                result[kind] = timed_run(airflow, peers[kind], stamp.isoformat(), WHOLE_CAP)
                result[kind]["airflow_tasks"] = tasks
            else:
                log(f"run[{n}]: {kind}, {SAMPLE} of its {tasks} tasks ...")
                result[kind] = sampled_run(airflow, peers[kind], stamp.isoformat(), WHOLE_CAP, tasks)
    finally:
        airflow.stop()
    log(f"run[{n}]: Dagster: orch's definitions, dagster-dbt ...")
    result["dagster"] = dagster_runs(project, home, cap)
    log(json.dumps(result))
    return result


BEGIN, END = "<!-- bench --run / --triggerer: begin -->", "<!-- bench --run / --triggerer: end -->"


def write_section(path: Path, text: str) -> None:
    """Put the run benchmarks' section into RESULTS.md, keeping what the load benchmark wrote."""
    old = path.read_text() if path.exists() else ""
    section = f"{BEGIN}\n{text.rstrip()}\n{END}\n"
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + section + old[old.index(END) + len(END) + 1:]
    else:
        new = old.rstrip() + "\n\n" + section
    path.write_text(new)


def kept_section(path: Path) -> str:
    """The run benchmarks' section of RESULTS.md as it stands ("" when none)."""
    old = path.read_text() if path.exists() else ""
    return old[old.index(BEGIN):old.index(END) + len(END)] + "\n" if BEGIN in old and END in old else ""


def markdown(recorded: dict) -> str:
    out = ["## Runs on a real Airflow deployment", ""]
    t = recorded.get("triggerer")
    if t:
        c, o = t["control"], t["orch"]
        n = t["waiting"]
        out += [
            f"### What waiting model tasks cost the triggerer ({n:,} waiting, `python3 dev.py bench --triggerer`)",
            "",
            f"A project of {n:,} independent models compiled in the default mode; its `dbt build` is held at "
            "`on-run-start` (a hook reading a named pipe, the dbt process frozen while CPU is sampled) so that "
            "every model task waits in the triggerer at once. The control is the same DAG whose trigger "
            "waits and does nothing: what Airflow itself charges for a waiting trigger-started task. "
            f"CPU is the share of one core over {t['window_seconds']:.0f} s, above the idle deployment's.",
            "",
            "| | control (idle trigger) | orch (`DbtNodeTrigger`) |",
            "|---|---:|---:|",
            f"| triggerer CPU while all wait, share of a core | {t['triggerer_core_share_per_1000_waiting']['control'] * n / 1000:.3f}"
            f" | {t['triggerer_core_share_per_1000_waiting']['orch'] * n / 1000:.3f} |",
            f"| scheduler CPU while all wait, share of a core | {c['window']['scheduler']:.3f} | {o['window']['scheduler']:.3f} |",
            f"| triggerer memory (RSS, both processes), MB | {c['window']['rss_mb']['triggerer']:,.0f} | "
            f"{o['window']['rss_mb']['triggerer']:,.0f} |",
            f"| triggerer CPU s per task started | {c['triggerer_cpu_seconds_per_trigger_start']:.3f} | "
            f"{o['triggerer_cpu_seconds_per_trigger_start']:.3f} |",
            f"| seconds from trigger until every task waits in the triggerer | {c['seconds_to_run_all_triggers']:.0f} | "
            f"{o['seconds_to_run_all_triggers']:.0f} |",
            "",
            f"- orch's own polling, above the control: **{t['orch_polling_core_share_per_1000_waiting'] * 100:+.1f}% "
            "of a core per 1,000 waiting tasks** (one reader per results file: one `stat` a second per running "
            "build; the waiting tasks sleep on an event).",
            f"- The idle deployment's triggerer: {t['idle']['triggerer'] * 100:.1f}% of a core, "
            f"{t['idle']['rss_mb']['triggerer']:,.0f} MB.",
            f"- After the gate opened, dbt built the {n:,} models and the run ended "
            f"{t['seconds_gate_to_run_end']:.0f} s later; its last task ended "
            f"{t['seconds_build_end_to_run_end']:.1f} s after dbt's end ({t['run_state']}, {t['task_states']}).",
            "",
        ]
    runs = recorded.get("run")
    if runs:
        out += run_tables(runs, t)
        if recorded.get("run_seconds"):
            out += [f"The whole `--run` benchmark took {recorded['run_seconds'] / 60:.0f} minutes.", ""]
    return "\n".join(out)


def _seconds(run: dict | list[dict] | None) -> float | None:
    """A run's seconds (the sum for one run per DAG); None when it was not run."""
    if not run:
        return None
    return sum(r["seconds"] for r in run) if isinstance(run, list) else run["seconds"]


def _cell(run: dict | list[dict] | None, notes: list[str], label: str) -> str:
    """A run as a table cell: its seconds, marked when capped, failed or estimated; causes go to `notes`."""
    if not run:
        return "-"
    one = run[0] if isinstance(run, list) and len(run) == 1 else run
    seconds = _seconds(run)
    if not isinstance(one, dict):
        return f"{seconds:.1f}"
    state = one["state"]
    if one.get("estimate"):
        text = f"~{seconds:,.0f} (est.)"
        if state != "success":
            text = f"{state}" if not one.get("sampled") else f"~{seconds:,.0f} (est., {state})"
    elif state == "capped":
        done = one.get("tasks", {}).get("success", 0) if isinstance(one.get("tasks"), dict) else 0
        text = f"> {seconds:.1f} (capped, {done:,} tasks done)"
    elif state != "success":
        text = f"{seconds:.1f} ({state})"
    else:
        text = f"{seconds:.1f}"
    if one.get("cause") and state != "success":
        notes.append(f"{label}: {one['cause']}")
    if one.get("triggerer"):
        text += " (triggerer stalled)"
        notes.append(f"{label}: the triggerer stopped heartbeating during the run: {one['triggerer']}")
    return text


def _ratio(a: float | None, b: float | None, capped: bool = False) -> str:
    return "-" if not a or not b else f"{'> ' if capped else ''}{a / b:.2f}x"


RUN_SERIES = [
    ("dbt_build", "one dbt build (reference)", "#9aa5b1"),
    ("floor", "Airflow floor (EmptyOperator)", "#cbd2d9"),
    ("orch_pipeline", "orch, Airflow (default mode)", "#1b7f3b"),
    ("cosmos_watcher", "Cosmos watcher", "#c53030"),
    ("orch_model", "orch, Airflow per-model (est. > 100)", "#7bc47f"),
    ("cosmos_local", "Cosmos local (est. > 100)", "#f6ad55"),
    ("dagster_orch", "orch, Dagster", "#6b46c1"),
    ("dagster_dbt", "dagster-dbt", "#d69e2e"),
]


def run_tables(runs: list[dict], t: dict | None) -> list[str]:
    from bench import plot

    out = [
        "### One pipeline run, against one `dbt build`, Airflow's floor and the peers (`python3 dev.py bench --run`)",
        "",
        "The run flavour of the generated projects (bench/generate.py: one daily pipeline, no partitions, "
        "two dbt threads), its source tables created with 1,000 rows each; every run starts from that same "
        "DuckDB file. One deployment per size (tests/airflow_deployment.py: SQLite, LocalExecutor, "
        "8 slots, each DAG file parsed once, the triggerer's watchdog off: `[triggerer] "
        "runner_health_check_threshold = 0`, see docs/backends.md, \"Large pipelines\"). Airflow runs are "
        "timed from the run's start to its end as the scheduler recorded them; the reference is the wall time "
        "of `dbt build`. Airflow's floor is orch's "
        "DAG shape with every task an `EmptyOperator`, which the scheduler finishes without a worker. "
        f"Runs are capped at a few times the reference (at least 120 s); a capped run shows \"> \" its cap.",
        "",
        f"Per-model runs (orch's `dbt_invocation=model`, Cosmos `LOCAL`) start dbt once per task and, on "
        f"DuckDB, take turns on its one writer (an Airflow pool of one slot), so they are serial. Up to "
        f"{WHOLE_UP_TO} models they run whole (capped at {WHOLE_CAP:.0f} s); above, the run is stopped once "
        f"{SAMPLE} tasks ended, and the estimate (\"est.\") is the median time between consecutive task ends "
        f"(the task and the scheduler's gap before the next) x the DAG's tasks, at an effective parallelism "
        "of one.",
        "",
        "| models | dbt build (s) | floor (s) | **orch** (s) | orch / max(build, floor) | Cosmos watcher (s) "
        "| orch per-model (s) | Cosmos local (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    flat = []
    for r in runs:
        n = r["models"]
        build, floor, orch = (_seconds(r.get(k)) for k in ("dbt_build", "floor", "orch_pipeline"))
        capped = any(o["state"] == "capped" for o in r["orch_pipeline"])
        out.append(f"| {n:,} | {build:.1f} | {floor:.1f} | {_cell(r['orch_pipeline'], notes, f'orch at {n:,}')} "
                   f"| {_ratio(orch, max(build, floor), capped)} | "
                   + " | ".join(_cell(r.get(k), notes, f"{k} at {n:,}")
                                for k in ("cosmos_watcher", "orch_model", "cosmos_local")) + " |")
        dagster = r.get("dagster") or {}
        flat.append({"models": n, **{k: _seconds(r.get(k)) for k, _, _ in RUN_SERIES[:6]},
                     "dagster_orch": _seconds(dagster.get("orch")), "dagster_dbt": _seconds(dagster.get("dagster_dbt"))})
    out += [""] + [f"- {note}" for note in notes]
    out += [
        "",
        "Where orch's run goes (seconds from the run's start): its `dbt_build` task starts dbt (the scheduler "
        "queues it, a worker starts and parses the DAG file), dbt runs inside it (JSON log at debug level, "
        "read as it streams), and from dbt's end until the last model task ended in the triggerer.",
        "",
        "| models | Airflow tasks | until dbt starts | dbt in the producer | the same dbt build alone "
        "| after dbt ends |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        one = r["orch_pipeline"][0] if len(r["orch_pipeline"]) == 1 else {}
        p = one.get("producer", {})
        if "dbt_ended" in p:
            more = "> " if one["state"] == "capped" else ""
            out.append(f"| {r['models']:,} | {r['airflow_tasks']:,} | {p['dbt_started']:.1f} "
                       f"| {p['dbt_ended'] - p['dbt_started']:.1f} | {r['dbt_build']['seconds']:.1f} "
                       f"| {more}{one['seconds'] - p['dbt_ended']:.1f} |")
    out += [
        "",
        "What the time goes to. Before dbt starts: the scheduler queues the `dbt_build` task, and a "
        "LocalExecutor worker starts and parses the DAG file (about 3 s whatever the size). While dbt runs, "
        "the scheduler defers every model task whose upstream tasks are done and the triggerer starts them "
        "on the same two cores: Airflow 3.3.2 reads and rebuilds the whole serialized DAG twice per "
        "trigger-started task (no cache; see the triggerer measurement above), so dbt runs slower inside "
        "the run than alone, the more so the larger the DAG. After dbt ends, the model tasks still end one "
        "graph level at a time: each level costs a scheduler loop, a triggerer loop and its tasks' trigger "
        "starts, about 3 s, where the floor's EmptyOperator tasks cost one scheduler loop (about 1 s) as the "
        "scheduler ends them itself. In a DAG of 900 tasks the triggerer cannot keep up with dbt: the tasks "
        "not yet started when dbt ends are started one after another, at a few tenths of a second each, "
        "and that is most of the run (orch warns from 500 model tasks in one DAG, W065). The same 1,000 "
        "models compiled with the default `--group-by layer` (a staging DAG of 301 tasks, then a marts DAG "
        "of 600) were measured once, by hand: see docs/backends.md, \"Large pipelines\".",
    ]
    if t:
        per_start = t["orch"]["triggerer_cpu_seconds_per_trigger_start"]
        big = max(runs, key=lambda r: r["models"])
        out += ["", f"Starting the model tasks alone costs the triggerer about {per_start:.2f} CPU s each in a "
                f"DAG of {t['waiting'] + 1:,} tasks (measured above, and Airflow's cost: the control's is the "
                f"same): about {per_start * (big['airflow_tasks'] - 1):.0f} CPU s for the "
                f"{big['airflow_tasks'] - 1:,} model tasks at {big['models']:,} models, on a machine whose "
                f"other core runs dbt ({big['dbt_build']['seconds']:.0f} s for the whole build)."]
    if any(r.get("dagster") for r in runs):
        out += [
            "",
            "Dagster: every asset and check materialized in process (`dagster.materialize`, ephemeral instance), "
            "timed from the call to its return; loading the definitions is timed apart. orch's definitions also "
            "run its SQL freshness checks against the warehouse (dagster-dbt has none); both run one `dbt build`. "
            "The reference is the same `dbt build` as above. A run of a whole multi-asset names its nodes to dbt "
            "by folder where that selects the same nodes (compiler/selection.py): one selector per node cost "
            "dbt 57 s of selection at 1,000 models before it built anything.",
            "",
            "| models | dbt build (s) | **orch** (s) | dagster-dbt (s) | orch / build | orch / dagster-dbt "
            "| load: orch (s) | load: dagster-dbt (s) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        notes = []
        for r in runs:
            d = r.get("dagster")
            if not d:
                continue
            build, orch, peer = (_seconds(x) for x in (r["dbt_build"], d.get("orch"), d.get("dagster_dbt")))
            out.append(f"| {r['models']:,} | {build:.1f} | {_cell(d['orch'], notes, 'orch')} "
                       f"| {_cell(d['dagster_dbt'], notes, 'dagster-dbt')} | {_ratio(orch, build)} "
                       f"| {_ratio(orch, peer)} | {d['orch'].get('load_seconds', 0):.1f} "
                       f"| {d['dagster_dbt'].get('load_seconds', 0):.1f} |")
        out += [""] + [f"- {note}" for note in notes]
    plot.write(flat, str(HERE / "runs.svg"), series=RUN_SERIES, line=None)
    out += ["", "![run times](runs.svg)", "", *goals(runs)]
    return out


def goals(runs: list[dict]) -> list[str]:
    """The issue's goals, each size's verdict, from the figures above."""

    def verdicts(measure) -> str:
        return "; ".join(f"{r['models']:,}: {measure(r)}" for r in runs)

    def airflow(r: dict) -> str:
        orch, bound = _seconds(r["orch_pipeline"]), max(_seconds(r["dbt_build"]), _seconds(r["floor"]))
        capped = any(o["state"] == "capped" for o in r["orch_pipeline"])
        met = not capped and orch <= 1.15 * bound
        return f"{_ratio(orch, bound, capped)} ({'met' if met else 'missed'})"

    def watcher(r: dict) -> str:
        peer = r.get("cosmos_watcher")
        if not peer:
            return "not run"
        orch = _seconds(r["orch_pipeline"])
        orch_capped = any(o["state"] == "capped" for o in r["orch_pipeline"])
        if peer["state"] != "success" and not orch_capped:
            return f"orch {orch:.0f} s, watcher {peer['state']} at {peer['seconds']:.0f} s (met)"
        if orch_capped:
            return f"both capped ({'undecided' if peer['state'] == 'capped' else 'missed'})"
        return f"{_ratio(orch, peer['seconds'])} of watcher ({'met' if orch < peer['seconds'] else 'missed'})"

    def dagster(r: dict) -> str:
        d = r.get("dagster") or {}
        if not d.get("orch") or not d.get("dagster_dbt"):
            return "not run"
        orch, build, peer = d["orch"]["seconds"], _seconds(r["dbt_build"]), d["dagster_dbt"]["seconds"]
        ok = d["orch"]["state"] == "success"
        return (f"{_ratio(orch, build)} of dbt build ({'met' if ok and orch <= 1.15 * build else 'missed'}), "
                f"{_ratio(orch, peer)} of dagster-dbt ({'met' if ok and orch <= peer else 'missed'})")

    return [
        "Goals:",
        "",
        f"- orch's Airflow run <= 1.15x max(dbt build, floor): {verdicts(airflow)}.",
        f"- orch faster than Cosmos watcher: {verdicts(watcher)}.",
        f"- orch's Dagster materialization <= 1.15x one dbt build, and no slower than dagster-dbt: "
        f"{verdicts(dagster)}.",
        "",
    ]


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="dev.py bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--run", action="store_true", help="the run benchmark")
    what.add_argument("--triggerer", action="store_true", help="what waiting model tasks cost the triggerer")
    parser.add_argument("--sizes", default="100,300,1000", help="--run: project sizes")
    parser.add_argument("--cap", type=float, default=4.0, help="--run: a run is stopped at this many references")
    parser.add_argument("--no-peers", action="store_true",
                        help="--run: only dbt, the floor, orch and Dagster (no per-model or Cosmos runs)")
    parser.add_argument("--whole-up-to", type=int, default=WHOLE_UP_TO,
                        help="--run: per-model runs go whole up to this size, sampled above")
    parser.add_argument("--waiting", type=int, default=1000, help="--triggerer: waiting tasks")
    parser.add_argument("--window", type=float, default=60.0, help="--triggerer: seconds CPU is sampled")
    parser.add_argument("--work", default=str(HERE / ".work"))
    args = parser.parse_args(argv)
    # A bound (`timeout`) or Ctrl-C still stops every Airflow process started here.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(args.work).resolve()
    out = HERE / "runs.json"
    recorded = json.loads(out.read_text()) if out.exists() else {}
    if args.triggerer:
        recorded["triggerer"] = triggerer(args.waiting, work, args.window)
    else:
        started = time.monotonic()
        recorded["run"] = [run_size(int(n), work, args.cap, not args.no_peers, args.whole_up_to)
                           for n in args.sizes.split(",")]
        recorded["run_seconds"] = time.monotonic() - started
    out.write_text(json.dumps(recorded, indent=2, default=str) + "\n")
    write_section(HERE / "RESULTS.md", markdown(recorded))
    log(f"wrote {out} and the runs section of {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
