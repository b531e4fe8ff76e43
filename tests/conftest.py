"""Shared fixtures: the manifest corpus, the example dbt project, running orch."""

from __future__ import annotations

import email
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from email import policy
from pathlib import Path

import pytest

from tests.monitor_support import http_server

# Airflow reads AIRFLOW_HOME when first imported; keep it out of the user's ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="orch-test-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "corpus" / "dbt"
EXAMPLE = ROOT / "specs" / "jaffle_shop"
BIN = Path(sys.executable).parent

CORPUS_FILES = sorted(CORPUS.glob("*.json.gz"))


def load_dagbag(folder):
    """A folder of DAG files loaded as Airflow's dag-processor loads its DAGs folder:
    on the import path, so the DAGs import the support module written beside them."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=str(folder), bundle_path=Path(folder), bundle_name="dags-folder")


def load_json(path: Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def corpus(name: str) -> Path:
    return CORPUS / f"{name}.json.gz"


def orch(*args: str, cwd: Path | None = None, env: dict | None = None, prog: str = "orch"):
    """Run an installed console script as a user would, capturing its output."""
    full_env = dict(os.environ, NO_COLOR="1")
    full_env.update(env or {})
    return subprocess.run(
        [str(BIN / prog), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


def snapshot_tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes, to prove a folder was not touched."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="session")
def example_project(tmp_path_factory) -> Path:
    """A copy of the shipped dbt-duckdb example, parsed by real dbt."""
    dest = tmp_path_factory.mktemp("example") / "jaffle_shop"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", ".user.yml"))
    env = dict(os.environ, ORCH_EXAMPLE_DUCKDB=str(dest / "jaffle_shop.duckdb"))
    subprocess.run(
        [str(BIN / "dbt"), "parse", "--quiet", "--project-dir", str(dest), "--profiles-dir", str(dest)],
        check=True, env=env, cwd=dest, timeout=300,
    )
    return dest


def copy_specs(dest: Path, env: dict) -> Path:
    """specs/ copied to `dest`, its dbt example parsed by real dbt (the specs import its manifest)."""
    shutil.copytree(ROOT / "specs", dest, ignore=shutil.ignore_patterns(
        "target", "logs", "*.duckdb", ".user.yml", ".cache", "exports"))
    project = dest / "jaffle_shop"
    subprocess.run([str(BIN / "dbt"), "parse", "--quiet", "--project-dir", str(project), "--profiles-dir",
                    str(project)], check=True, env=env, cwd=dest, timeout=300)
    return dest


@pytest.fixture(scope="session")
def specs(tmp_path_factory) -> Path:
    """One parsed copy of specs/ for the tests that only compile the examples."""
    dest = tmp_path_factory.mktemp("specs") / "specs"
    return copy_specs(dest, dict(os.environ, ORCH_EXAMPLE_DUCKDB=str(dest / "warehouse.duckdb")))


@pytest.fixture(scope="session")
def example_manifest(example_project) -> Path:
    return example_project / "target" / "manifest.json"


@pytest.fixture
def small_manifest() -> dict:
    """A real, small v12 manifest (dbt-core's own test state) to edit into bad input."""
    return load_json(corpus("dbt-core_state_v12"))


@pytest.fixture
def write_manifest(tmp_path):
    def write(manifest: dict, name: str = "manifest.json") -> Path:
        path = tmp_path / "project" / "target" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest), encoding="utf-8")
        return path

    return write


@pytest.fixture
def webhook(monkeypatch):
    """A real HTTP server on 127.0.0.1 standing in for Slack; the JSON bodies it received."""
    import http.server
    import threading

    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("ORCH_SLACK_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    yield received
    server.shutdown()


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(email.message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    with socket.socket() as probe:  # aiosmtpd connects to its own port to start, so it needs a real one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


@pytest.fixture
def endpoints():
    """Slack's and PagerDuty's endpoints on one local server; what each received."""
    def route(method, path, headers, body):
        if path == "/pagerduty/v2/enqueue":
            return 202, {"status": "success", "message": "Event processed",
                         "dedup_key": json.loads(body).get("dedup_key")}
        return 200, {"ok": True}

    with http_server(route) as (url, received):
        yield url, received


class _Trap:
    """Stands in for Airflow's `conn`, `var` and `macros` while rendering: a
    generated field that reads any of them fails the test."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        raise AssertionError(f"a templated field read {self._name}.{attr}")

    __getitem__ = __getattr__


def render_airflow_dag(dag) -> None:
    """Render every task's templated fields as Airflow does at run time, with
    only the values orch's own templates use available."""
    import pendulum

    context = {"ds": "2026-11-28", "ds_nodash": "20261128",
               "logical_date": pendulum.datetime(2026, 11, 28, tz="UTC"),
               **{name: _Trap(name) for name in ("conn", "var", "macros", "params", "ti", "dag_run")}}
    env = dag.get_template_env()
    for task in dag.tasks:
        task.render_template_fields(context, jinja_env=env)
