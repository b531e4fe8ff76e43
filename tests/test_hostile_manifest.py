"""Hostile names and text in a dbt manifest reach generated code only as
literals: every file compiles, calls nothing a benign manifest's output does
not, runs no payload when Airflow and Dagster import it, stays inside its
output folder, and names that collide once made valid get unique ids, the
same ones on every compile."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest

from orch.compiler import serde
from tests.conftest import load_dagbag, orch, render_airflow_dag, snapshot_tree
from tests.manifest_edit import add_model
from tests.test_dagster import _load_graph
from tests.test_hostile_specs import _calls, hostile_values

UPSTREAM = "model.jaffle_shop.stg_orders"


def _hostile(marker: Path) -> list[str]:
    """The spec tests' values, as model names, plus names that matter only there."""
    return [
        *hostile_values(marker),
        "{{ var.value.secret }}", "{# hidden #}", "{{ '{{' }}", "import", "/abs/olute",
        # These become the same id once made valid.
        "a-b", "a_b", "A_B", "a.b", "a b", "a\u00a0b",
    ]


def _manifest(example_manifest: Path, names: list[str], reverse: bool = False) -> dict:
    manifest = json.loads(example_manifest.read_text(encoding="utf-8"))
    for name in reversed(names) if reverse else names:
        meta = {"owner": name, "schedule": "@daily", "freshness_hours": 24, "freshness_column": name}
        uid = add_model(manifest, name, (UPSTREAM,), meta=meta,
                        config={"materialized": "table"}, folder="models/marts", columns=(name,))
        node = manifest["nodes"][uid]
        node.update(description=name, tags=[name], compiled_code=f"select 1 as x -- {name}",
                    raw_code=f"select 1 -- {name}")
    return manifest


def _write_manifest(manifest: dict, project: Path) -> Path:
    path = project / "target" / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return path


def _compile(manifest: dict, project: Path, out: Path) -> tuple[Path, object]:
    path = _write_manifest(manifest, project)
    result = orch("compile", str(path), "-t", "airflow", "-t", "dagster", "-t", "health", "-t", "sla", "-t", "ir",
                  "-o", str(out), "-O", "conn_id=wh", "-O", "duckdb_path=w.duckdb")
    return out, result


@pytest.fixture(scope="module")
def compiled(example_manifest, tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    marker = base / "PWNED"
    hostile = _hostile(marker)
    outs = {}
    for label, names, reverse in (("benign", [f"model_{i}" for i in range(len(hostile))], False),
                                  ("hostile", hostile, False), ("reversed", hostile, True)):
        # One project folder for both orders: its path is in the generated commands.
        project = base / ("benign" if label == "benign" else "hostile") / "project"
        out, result = _compile(_manifest(example_manifest, names, reverse), project, base / label / "out")
        assert result.returncode == 0, result.stderr[-3000:]
        outs[label] = out
    return outs, hostile, marker


def test_files_compile_stay_inside_and_call_only_what_benign_output_calls(compiled):
    outs, _, _ = compiled
    out = outs["hostile"]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == len(list(outs["benign"].rglob("*.*")))
    for path in files:
        assert os.path.realpath(path).startswith(os.path.realpath(out) + os.sep)
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            compile(text, str(path), "exec")
        elif path.suffix == ".json":
            json.loads(text)
    assert _calls(out) == _calls(outs["benign"])


def test_values_arrive_verbatim_in_the_ir(compiled):
    outs, hostile, _ = compiled
    project = serde.loads((outs["hostile"] / "ir" / "project.ir.json").read_text(encoding="utf-8"))
    assets = {a.key: a for a in project.assets}
    for name in hostile:
        asset = assets[f"model.jaffle_shop.{name}"]
        assert (asset.name, asset.description, asset.owner, asset.tags, asset.columns) == (
            name, name, name, (name,), (name,))


def test_colliding_ids_are_unique_and_do_not_depend_on_manifest_order(compiled):
    outs, hostile, _ = compiled
    assert snapshot_tree(outs["hostile"]) == snapshot_tree(outs["reversed"])
    module = ast.parse((outs["hostile"] / "airflow" / "dbt_marts_daily.py").read_text(encoding="utf-8"))
    (table,) = [ast.literal_eval(node.value) for node in module.body
                if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "ORCH_LINEAGE"]
    tasks = table["assets"]
    ours = {task: key for task, key in tasks.items() if key.startswith("model.jaffle_shop.") and
            key.removeprefix("model.jaffle_shop.") in hostile}
    assert len(ours) == len(hostile), "every hostile model has its own task"
    assert len({t.lower() for t in ours}) == len(ours)
    for task in ours:
        assert re.fullmatch(r"[A-Za-z0-9_.-]{1,250}", task), task
    # Spellings that become one id once made valid are numbered in unique_id order.
    ids = {key.removeprefix("model.jaffle_shop."): task for task, key in ours.items()}
    assert {name: ids[name] for name in ("A_B", "a b", "a-b", "a.b", "a_b", "a\u00a0b")} == {
        "A_B": "A_B", "a b": "a_b_2", "a-b": "a-b", "a.b": "a.b", "a_b": "a_b_3", "a\u00a0b": "a_b_4"}


def test_generated_sql_quotes_every_name(compiled):
    """Each hostile model's freshness check runs in real DuckDB against a table
    and column named exactly by the hostile text, so the names stayed identifiers."""
    import duckdb


    outs, hostile, _ = compiled
    dag = load_dagbag(str(outs["hostile"] / "airflow")).dags["dbt_marts_daily"]
    render_airflow_dag(dag)  # the SQL as Airflow hands it to the warehouse
    queries = [t.sql for t in dag.tasks if type(t).__name__ == "SQLCheckOperator"]
    ours = [q for q in queries if '"jaffle_shop"."main".' in q]
    assert len(ours) == len(hostile)

    def quoted(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS jaffle_shop")
    for name in hostile:  # DuckDB folds case even in quotes: "A_B" is the table "a_b"
        con.execute(f"CREATE TABLE IF NOT EXISTS jaffle_shop.main.{quoted(name)} ({quoted(name)} TIMESTAMP)")
        con.execute(f"INSERT INTO jaffle_shop.main.{quoted(name)} VALUES (now())")
    for sql in ours:
        assert con.execute(sql).fetchall() == [(True,)], sql
    # And nothing but those tables exists afterwards: no statement of a name's own ran.
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'jaffle_shop'").fetchall()
    assert sorted(t.lower() for (t,) in tables) == sorted({h.lower() for h in hostile})


def test_rendered_commands_are_exactly_the_models_argv(compiled, example_manifest):
    """After Airflow renders the templated fields, dbt gets exactly
    `dbt build --select <model>` for every hostile name, passed as data, and no
    template read a connection, a variable or a macro."""

    outs, hostile, _ = compiled
    bag = load_dagbag(str(outs["hostile"] / "airflow"))
    project = str((outs["hostile"].parent.parent / "hostile" / "project").resolve())
    for dag in bag.dags.values():
        render_airflow_dag(dag)
    # A model's task runs dbt itself when it is rebuilt alone; its pipeline's build
    # selects it among the others. Neither argv is a template.
    commands = {tuple(t.rebuild): t.cwd for dag in bag.dags.values() for t in dag.tasks
                if type(t).__name__ == "DbtNodeSensor"}
    builds = [t.argv for dag in bag.dags.values() for t in dag.tasks if type(t).__name__ == "DbtBuildOperator"]
    selected = [s for argv in builds for s in argv[argv.index("--select") + 1:argv.index("--project-dir")]]
    for name in hostile:
        # dbt runs in the project folder (its cwd), wherever that is when it runs.
        argv = ("dbt", "build", "--select", f"jaffle_shop.marts.{name}", "--project-dir", ".",
                "--indirect-selection", "cautious")
        assert commands.get(argv) == project, name
        # Named once: by itself, or by its folder when the build takes the whole folder.
        assert sum(s in (f"jaffle_shop.marts.{name}", "jaffle_shop.marts", "jaffle_shop") for s in selected) == 1, name


def test_rendered_commands_are_exactly_the_models_argv_per_model(example_manifest, tmp_path):
    """With dbt_invocation=model the command is a templated bash_command: after
    Jinja renders it, the shell gets exactly `dbt build --select <model>`."""
    import shlex

    hostile = _hostile(tmp_path / "PWNED")
    project = tmp_path / "project"
    path = _write_manifest(_manifest(example_manifest, hostile), project)
    result = orch("compile", str(path), "--target", "airflow", "--out", str(tmp_path / "out"),
                  "-O", "dbt_invocation=model")
    assert result.returncode == 0, result.stderr[-3000:]
    bag = load_dagbag(str(tmp_path / "out" / "airflow"))
    for dag in bag.dags.values():
        render_airflow_dag(dag)
    commands = {tuple(shlex.split(t.bash_command)): t.cwd for dag in bag.dags.values() for t in dag.tasks
                if type(t).__name__ == "BashOperator"}
    for name in hostile:
        argv = ("dbt", "build", "--select", f"jaffle_shop.marts.{name}", "--project-dir", ".",
                "--indirect-selection", "cautious")
        assert commands.get(argv) == str(project), name
    assert not (tmp_path / "PWNED").exists()


def test_importing_runs_no_payload(compiled):

    outs, hostile, marker = compiled
    out = outs["hostile"]
    bag = load_dagbag(str(out / "airflow"))
    assert bag.import_errors == {}
    marts = bag.dags["dbt_marts_daily"]
    assert len(marts.task_dict) >= len(hostile)
    # Dagster refuses two assets with one key, so loading proves the keys unique;
    # the count proves no hostile model was merged into another.
    graph = _load_graph(out / "dagster", "orch_definitions")
    assert len(graph) == len(_load_graph(outs["benign"] / "dagster", "orch_definitions"))
    assert not marker.exists()


def test_hostile_folders_as_pipelines_stay_inside_the_output(example_manifest, tmp_path):
    """Grouped by folder, hostile folder names become pipeline (DAG file) names."""

    manifest = json.loads(example_manifest.read_text(encoding="utf-8"))
    folders = ["../../etc", "..", "a b", "A B", "x" * 300, "'; import os #", "class", "ｍａｒｔｓ"]
    for i, folder in enumerate(folders):
        add_model(manifest, f"model_{i}", (UPSTREAM,), config={"materialized": "table"},
                  folder=f"models/{folder}")
    project = tmp_path / "project"
    result = orch("compile", str(_write_manifest(manifest, project)), "--group-by", "folder", "-t", "airflow",
                  "-t", "dagster", "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    out = (tmp_path / "out").resolve()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert all(str(p.resolve()).startswith(str(out) + os.sep) for p in files)
    assert not (tmp_path / "etc").exists()
    bag = load_dagbag(str(out / "airflow"))
    assert bag.import_errors == {}
    placed = [t for dag in bag.dags.values() for t in dag.task_dict if t.startswith("model_")]
    assert sorted(placed) == [f"model_{i}" for i in range(len(folders))]
    assert all(len(dag_id) <= 250 for dag_id in bag.dags)
