"""Run-time benchmarks on a real Airflow deployment (tests/airflow_deployment.py).

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
import json
import os
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


def compile_airflow(manifest: Path, profiles: Path, out: Path, *options: str, args: tuple[str, ...] = ()) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    argv = [str(BIN / "orch"), "compile", str(manifest), "--target", "airflow", "--out", str(out),
            "--profiles-dir", str(profiles), *args]
    for option in options:
        argv += ["-O", option]
    subprocess.run(argv, check=True, timeout=600, env=dict(os.environ, ORCH_CACHE_DIR=str(out / ".cache")))
    return out / "airflow"


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
            # A thousand rows a table over the last days; ids unique, as the staging tests expect.
            db.execute(f"create table raw.{table} as select range as id, "
                       "timestamp '2026-11-25' + range * interval 5 minute as updated_at, "
                       "round(random() * 100, 2) as amount, timestamp '2026-11-28' as _loaded_at "
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
    if capped:
        airflow.end_run(dag_id, run_id)
    return timed


def results_files(airflow: Deployment, dag_id: str, run_id: str) -> list[Path]:
    """The run's results files, wherever the DAG's dbt_results_dir put them."""
    pattern = f"**/orch_runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}/*.jsonl"
    return sorted(airflow.dags.parent.parent.glob(pattern))


def run_size(n: int, work: Path, cap_factor: float) -> dict:
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
    airflow = Deployment(home / "airflow", dags)
    (home / "airflow").mkdir()
    try:
        airflow.start()
        airflow.wait_for_dags([*orch_ids, *floor_ids], timeout=600)
        stamp = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        log(f"run[{n}]: Airflow's floor (EmptyOperator) ...")
        result["floor"] = [timed_run(airflow, dag_id, stamp.isoformat(), cap) for dag_id in floor_ids]
        log(f"run[{n}]: orch, dbt_invocation=pipeline ...")
        fresh_warehouse(project)
        result["orch_pipeline"] = [timed_run(airflow, dag_id, stamp.isoformat(), cap) for dag_id in orch_ids]
    finally:
        airflow.stop()
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
        out += [
            "### One pipeline run, against one `dbt build` and Airflow's floor (`python3 dev.py bench --run`)",
            "",
            "The run flavour of the generated projects (bench/generate.py: one daily pipeline, no partitions, "
            "two dbt threads), its source tables created with 1,000 rows each; every run starts from that same "
            "DuckDB file. One deployment per size (tests/airflow_deployment.py: SQLite, LocalExecutor, "
            "8 slots). Airflow runs are timed from the run's start to its end as the scheduler recorded them; "
            "the reference is the wall time of `dbt build`. Airflow's floor is orch's DAG shape with every "
            "task an `EmptyOperator`, which the scheduler finishes without a worker.",
            "",
            "| models | Airflow tasks | dbt build (s) | floor (s) | orch, pipeline (s) | orch / max(build, floor) "
            "| orch: until dbt starts | dbt in the producer | after dbt ends |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in runs:
            build, floor = r["dbt_build"]["seconds"], sum(f["seconds"] for f in r["floor"])
            orch = sum(o["seconds"] for o in r["orch_pipeline"])
            states = {o["state"] for o in r["orch_pipeline"]}
            capped = "capped" in states
            mark = "" if states == {"success"} else f" ({', '.join(sorted(states))})"
            if capped:
                done = sum(o.get("tasks", {}).get("success", 0) for o in r["orch_pipeline"])
                mark = f" (capped: {done:,} of {r['airflow_tasks']:,} tasks done)"
            split = "| - | - | - |"
            if len(r["orch_pipeline"]) == 1 and "dbt_ended" in r["orch_pipeline"][0].get("producer", {}):
                one = r["orch_pipeline"][0]
                p = one["producer"]
                after = one["seconds"] - p["dbt_ended"]
                split = (f"| {p['dbt_started']:.1f} | {p['dbt_ended'] - p['dbt_started']:.1f} "
                         f"| {'> ' if capped else ''}{after:.1f} |")
            more = "> " if capped else ""
            out.append(f"| {r['models']:,} | {r['airflow_tasks']:,} | {build:.1f} | {floor:.1f} "
                       f"| {more}{orch:.1f}{mark} | {more}{orch / max(build, floor):.2f} {split}")
        if t:
            per_start = t["orch"]["triggerer_cpu_seconds_per_trigger_start"]
            big = max(runs, key=lambda r: r["models"])
            out += ["", f"Starting the model tasks alone costs the triggerer about {per_start:.2f} CPU s each in a "
                    f"DAG of {t['waiting'] + 1:,} tasks (measured above, and Airflow's cost: the control's is the "
                    f"same): about {per_start * (big['airflow_tasks'] - 1):.0f} CPU s for the "
                    f"{big['airflow_tasks'] - 1:,} model tasks at {big['models']:,} models, on a machine whose "
                    f"other core runs dbt ({big['dbt_build']['seconds']:.0f} s for the whole build)."]
        out += ["", "The last three columns split orch's run: from the run's start until its `dbt_build` task "
                "started dbt (the scheduler queues it, a worker starts and parses the DAG file), dbt's own "
                "run inside that task (JSON log at debug level, read as it streams), and from dbt's end "
                "until the last model task ended in the triggerer.", ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="dev.py bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--run", action="store_true", help="the run benchmark")
    what.add_argument("--triggerer", action="store_true", help="what waiting model tasks cost the triggerer")
    parser.add_argument("--sizes", default="100,300,1000", help="--run: project sizes")
    parser.add_argument("--cap", type=float, default=4.0, help="--run: a run is stopped at this many references")
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
        recorded["run"] = [run_size(int(n), work, args.cap) for n in args.sizes.split(",")]
    out.write_text(json.dumps(recorded, indent=2, default=str) + "\n")
    write_section(HERE / "RESULTS.md", markdown(recorded))
    log(f"wrote {out} and the runs section of {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
