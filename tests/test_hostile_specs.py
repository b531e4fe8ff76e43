"""Hostile text in a spec or a SQLMesh project reaches generated code only as
literals: every generated file compiles, calls nothing the benign version does
not, runs no payload when Airflow and Dagster import it, and stays inside its
output folder."""

from __future__ import annotations

import ast
import json
import os
import shlex
from pathlib import Path

from tests.conftest import load_dagbag, orch, render_airflow_dag
from tests.test_dagster import _load_graph


def hostile_values(marker: Path) -> list[str]:
    """Text that would become code, shell, a template or a path if pasted anywhere; `marker`
    is the file a payload would create."""
    touch = f"touch {marker}"
    return [
        f'"; import os; os.system("{touch}") #',
        f"'''; __import__('os').system('{touch}'); '''",
        f'"""; __import__("os").system("{touch}"); """',
        f"\\'); __import__('os').system('{touch}') #",
        "line1\nline2\r\n\x0bend",
        f"{{{{ __import__('os').system('{touch}') }}}}",
        f"$({touch}) `{touch}` ${{HOME}}",
        "ｉｍｐｏｒｔ ｏｓ; ｏｓ.ｓｙｓｔｅｍ('x')",
        "\u202etxt.exe",
        "x" * 3000,
        "</script><script>alert(1)</script>",
        "class", "None", "__init__", "lambda: 1",
        "..", "../../etc/passwd",
        "{{ conn.warehouse.password }}", "{% for x in range(3) %}x{% endfor %}", "deploy.sh", "trailing\n",
    ]


def _spec(values: list[str]) -> str:
    out = ['include "common.orch"', "", 'dbt "jaffle" {', '  manifest = "jaffle_shop/target/manifest.json"', "}"]
    for i, value in enumerate(values):
        v = json.dumps(value)
        out += ["", f'task "t{i}" {{', f"  command     = [\"echo\", {v}]", f"  description = {v}",
                f"  owner       = {v}", f"  tags        = [{v}]", '  after       = ["fct_orders"]', "",
                f'  check "sql" "c{i}" {{', f"    sql = {v}", "  }", "}"]
    out += ["", 'asset "dim_customers" {', f"  description = {json.dumps(values[0])}",
            f"  owner       = {json.dumps(values[1])}", "", "  freshness {", f"    column  = {json.dumps(values[2])}",
            "    max_age = 2d", "  }", "}"]
    return "\n".join(out) + "\n"


def _calls(folder: Path) -> set[str]:
    """Every function or method name called anywhere in the generated Python."""
    names = set()
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                names.add(ast.unparse(node.func))
    return names


def _compile(specs_dir: Path, name: str, text: str, out: Path):
    spec = specs_dir / name
    spec.write_text(text, encoding="utf-8")
    try:
        return orch("compile", str(spec), "-t", "airflow", "-t", "dagster", "-t", "health", "-t", "sla", "-t", "ir",
                    "-o", str(out), "-O", "conn_id=wh", "-O", f"duckdb_path={out / 'w.duckdb'}")
    finally:
        spec.unlink()


def test_hostile_values_stay_literals(specs, tmp_path):

    marker = tmp_path / "PWNED"
    hostile = hostile_values(marker)
    benign_out, hostile_out = tmp_path / "benign", tmp_path / "hostile"
    result = _compile(specs, "benign.orch", _spec([f"value{i}" for i in range(len(hostile))]), benign_out)
    assert result.returncode == 0, result.stderr
    result = _compile(specs, "hostile.orch", _spec(hostile), hostile_out)
    assert result.returncode == 0, result.stderr

    files = [p for p in hostile_out.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert os.path.realpath(path).startswith(os.path.realpath(hostile_out) + os.sep)
        if path.suffix == ".py":
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
    # The same calls as with benign values: hostile text added no code.
    assert _calls(hostile_out) == _calls(benign_out)
    # Each value arrived whole, as data: the IR and the DAG carry it verbatim.
    ir_text = (hostile_out / "ir" / "project.ir.json").read_text(encoding="utf-8")
    project = json.loads(ir_text.split("\n", 1)[1] if ir_text.startswith("#") else ir_text)
    tasks = {a["name"]: a for a in project["project"]["assets"] if a["kind"] == "task"}
    for i, value in enumerate(hostile):
        assert tasks[f"t{i}"]["runner"]["argv"] == ["echo", value]
        assert tasks[f"t{i}"]["description"] == value

    # Importing runs nothing: Airflow's DagBag and Dagster's loader, in real processes.
    bag = load_dagbag(str(hostile_out / "airflow"))
    assert bag.import_errors == {}
    dag = next(d for d in bag.dags.values() if "t3" in d.task_dict)
    # As Airflow renders bash_command when the task runs: the shell gets exactly
    # the spec's argv, and no template read a connection or a variable.
    render_airflow_dag(dag)
    for i, value in enumerate(hostile):
        assert shlex.split(dag.task_dict[f"t{i}"].bash_command) == ["echo", value], value
    graph = _load_graph(hostile_out / "dagster", "orch_definitions")
    assert any(k.endswith("t0") for k in graph)
    assert not marker.exists()


_SQLMESH_MODEL = """MODEL (
  name {name},
  kind FULL,
  cron '@daily',
  owner {owner},
  description {description},
  tags [{tag}, 'plain'],
  grain {column}
);
SELECT 1 AS {column}
"""


def _sqlmesh_project(folder: Path, name: str, text: str, column: str) -> Path:
    """A SQLMesh project of one model whose name, owner, description, tags and
    column carry `text` (SQL-quoted, as SQLMesh reads them back verbatim)."""
    (folder / "models").mkdir(parents=True)
    (folder / "config.yaml").write_text("gateways:\n  duckdb:\n    connection:\n      type: duckdb\n"
                                        "      database: w.duckdb\ndefault_gateway: duckdb\n"
                                        "model_defaults:\n  dialect: duckdb\n  start: '2024-01-01'\n")
    literal = "'" + text.replace("'", "''") + "'"
    (folder / "models" / "m.sql").write_text(_SQLMESH_MODEL.format(
        name=name, owner=literal, description=literal, tag=literal, column=column), encoding="utf-8")
    return folder


def test_hostile_sqlmesh_project_stays_literals(tmp_path):

    marker = tmp_path / "PWNED"
    payload = f"\"\"\"; __import__('os').system('touch {marker}'); \"\"\" {{{{ x }}}} $(touch {marker})"
    name = '"hostile"."x""; __import__(\'os\').system(\'touch ' + str(marker) + '\') #"'
    outs = {}
    for label, (model, text, column) in {
        "benign": ("plain.x", "value", "id"),
        "hostile": (name, payload, '"id""; drop table x; --"'),
    }.items():
        project = _sqlmesh_project(tmp_path / f"{label}-project", model, text, column)
        outs[label] = tmp_path / label
        result = orch("compile", str(project), "-t", "airflow", "-t", "dagster", "-t", "health", "-t", "sla",
                      "-t", "ir", "-o", str(outs[label]), "-O", "duckdb_path=w.duckdb")
        assert result.returncode == 0, result.stderr
    for path in outs["hostile"].rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    assert _calls(outs["hostile"]) == _calls(outs["benign"])
    ir_text = (outs["hostile"] / "ir" / "project.ir.json").read_text(encoding="utf-8")
    assert json.dumps(payload)[1:-1] in ir_text  # the description, whole
    bag = load_dagbag(str(outs["hostile"] / "airflow"))
    assert bag.import_errors == {} and len(bag.dags) == 1
    (task,) = next(iter(bag.dags.values())).tasks
    assert task.bash_command.startswith("sqlmesh run --select-model ")
    assert _load_graph(outs["hostile"] / "dagster", "orch_definitions")
    assert not marker.exists()
