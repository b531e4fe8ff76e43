"""A real Airflow 3 deployment on 127.0.0.1 for the tests that need one.

`airflow dags test` runs every task in one process and never starts the
triggerer, so it cannot show what a scheduler, a triggerer and workers do.
This starts them as a deployment does (SQLite metadata, LocalExecutor,
api-server, scheduler, dag-processor, triggerer), drives DAG runs through the
REST API, and stops every process it started, by process group.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from cryptography.fernet import Fernet

from tests.conftest import BIN

COMPONENTS = (
    ("api-server", ["api-server", "--host", "127.0.0.1", "--port", "{port}"]),
    ("scheduler", ["scheduler", "--skip-serve-logs"]),
    ("dag-processor", ["dag-processor"]),
    ("triggerer", ["triggerer", "--skip-serve-logs"]),
)
FINISHED = {"success", "failed"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Deployment:
    def __init__(self, home: Path, dags: Path, extra_env: dict[str, str] | None = None):
        self.home = home
        self.dags = dags
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__DAGS_FOLDER=str(dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="8",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(16),
            AIRFLOW__CORE__FERNET_KEY=Fernet.generate_key().decode(),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            # Runs start only when a test triggers them, for the logical date it names.
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
            **(extra_env or {}),
        )
        self.processes: dict[str, subprocess.Popen] = {}
        self.migrated = False

    def migrate(self) -> None:
        if not self.migrated:
            subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=self.env, check=True, capture_output=True,
                           timeout=300)
            self.migrated = True

    def start(self, timeout: float = 120) -> None:
        self.migrate()
        for name, args in COMPONENTS:
            env = self.env
            if name == "triggerer":
                # The triggerer imports trigger classes by path: the DAGs folder,
                # where orch writes its support module, must be on its import path.
                env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(self.dags), env.get("PYTHONPATH")])))
            # Appended to: a restarted deployment keeps what the stopped one said.
            with open(self.home / f"{name}.log", "ab") as log:
                self.processes[name] = subprocess.Popen(
                    [str(BIN / "airflow"), *(a.format(port=self.port) for a in args)], env=env,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            self._check_alive()
            time.sleep(1)
        raise TimeoutError(f"the api-server did not answer within {timeout}s; see {self.home}/*.log")

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {process.returncode}; see {self.home}/{name}.log")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(self.home.glob("*.log")))

    def api(self, method: str, path: str, body: dict | None = None, attempts: int = 5) -> dict:
        """One REST call. The metadata database is SQLite: while many task processes
        write to it, a request's write can fail on its lock and the API answers
        500 (its transaction rolled back), so a server error is tried again."""
        for attempt in range(attempts):
            request = urllib.request.Request(f"{self.url}/api/v2{path}", method=method,
                                             data=json.dumps(body).encode() if body is not None else None,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                if error.code < 500 or attempt == attempts - 1:
                    raise
            time.sleep(1 + attempt)
        raise AssertionError("unreachable")

    def db(self, sql: str, *params) -> list[tuple]:
        with sqlite3.connect(self.home / "airflow.db") as db:
            return db.execute(sql, params).fetchall()

    def wait_for_dags(self, dag_ids, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = {row[0] for row in self.db("SELECT dag_id FROM serialized_dag")}
            if set(dag_ids) <= found:
                return
            self._check_alive()
            time.sleep(1)
        raise TimeoutError(f"DAGs {sorted(set(dag_ids) - found)} not parsed within {timeout}s")

    def run(self, dag_id: str, logical_date: str, timeout: float = 300) -> tuple[str, dict[str, str]]:
        """Trigger one run and wait for it: (run state, task id -> final state)."""
        return self.wait(dag_id, self.trigger(dag_id, logical_date), timeout)

    def trigger(self, dag_id: str, logical_date: str) -> str:
        """Start a run for `logical_date`; its run id."""
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        try:
            return self.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": logical_date})["dag_run_id"]
        except urllib.error.HTTPError as error:
            # A retried request whose first attempt did create the run (its answer was lost).
            if error.code != 409:
                raise
            runs = self.api("GET", f"/dags/{dag_id}/dagRuns?logical_date_gte={quote(logical_date)}"
                                   f"&logical_date_lte={quote(logical_date)}")["dag_runs"]
            if len(runs) != 1:
                raise
            return runs[0]["dag_run_id"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 300) -> tuple[str, dict[str, str]]:
        """Wait, with a bound, for a run to finish: (run state, task id -> final state)."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.db("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)[0][0]
            if state in FINISHED:
                return state, self.task_states(dag_id, run_id)
            self._check_alive()
            time.sleep(1)
        raise TimeoutError(f"{dag_id} run {run_id} still {state} after {timeout}s")

    def clear(self, dag_id: str, run_id: str, task_ids: list[str]) -> None:
        """Clear tasks of a run and everything downstream of them, as the UI's Clear does."""
        self.api("POST", f"/dags/{dag_id}/clearTaskInstances", {
            "dry_run": False, "dag_run_id": run_id, "task_ids": task_ids, "include_downstream": True,
            "only_failed": False, "reset_dag_runs": True})
        # The run is running again before this returns; wait() then sees its new end.
        deadline = time.monotonic() + 30
        while self.db("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)[0][0] in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} run {run_id} did not restart after the clear")
            time.sleep(0.5)

    def end_run(self, dag_id: str, run_id: str, state: str = "failed") -> None:
        """Set a run's state, as the UI's Mark as does: its unfinished tasks stop."""
        self.api("PATCH", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}", {"state": state})

    def until(self, what: str, condition, timeout: float) -> None:
        """Wait, with a bound, until `condition()` holds, while every component stays up."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout}s; see {self.home}/*.log")
            self._check_alive()
            time.sleep(1)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return dict(self.db("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                            dag_id, run_id))

