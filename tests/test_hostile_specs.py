"""Hostile text in a spec reaches generated code only as literals: every generated
file compiles, calls nothing the benign version does not, runs no payload when
Airflow and Dagster import it, and stays inside its output folder."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

from tests.conftest import orch
from tests.test_dagster import _load_graph


def _hostile(marker: Path) -> list[str]:
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
    from airflow.dag_processing.dagbag import DagBag

    marker = tmp_path / "PWNED"
    hostile = _hostile(marker)
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
    bag = DagBag(dag_folder=str(hostile_out / "airflow"))
    assert bag.import_errors == {}
    dag = next(d for d in bag.dags.values() if "t3" in d.task_dict)
    assert dag.task_dict["t3"].bash_command.startswith("echo ")
    graph = _load_graph(hostile_out / "dagster", "orch_definitions")
    assert any(k.endswith("t0") for k in graph)
    assert not marker.exists()
